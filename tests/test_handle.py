"""The handle server and `xnai ask`, with the real models (Gemma 3 270M, MiniLM) and the test documents.

Faults are real: a GGUF path that does not exist, a truncated GGUF, an LLM timeout shorter than any
generation, a missing or damaged index, a queue that is full, a client that hangs up mid-generation.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import anyio
import pytest
from wyoming.asr import Transcript
from wyoming.client import AsyncClient
from wyoming.event import Event
from wyoming.info import Describe, Info

from bench.support import Collector
from tests.docs_facts import DOCS, FACTS
from tests.support import LOOPBACK, ServerProcess, free_port, read_until, server_env
from wyoming_xnai.client.prepare import PREPARE, prepare_event

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(600)]

SLOW = "120"  # LLM timeout for tests: the shared CI box can be very slow; faults use their own values
FALLBACK = "language model"  # the honest template says this when the LLM stage failed
FACT_SAMPLE = [FACTS[1], FACTS[4], FACTS[9], FACTS[13]]  # one per document format: txt, md, html, pdf
# A question that makes the model generate for a long time: a long prompt it continues number by number.
LONG = "Please continue this list for as long as you can: " + ", ".join(str(i) for i in range(1, 250)) + ","


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from wyoming_xnai.models import gguf_model

    folder = tmp_path_factory.mktemp("models")
    gguf_model("gemma3-270m", folder)  # assembled once per module from the bundled parts
    return folder


@pytest.fixture(scope="module")
def gguf(models_dir: Path) -> Path:
    return next(models_dir.glob("*.gguf"))


def ingested(data_dir: Path) -> Path:
    from wyoming_xnai.rag.ingest import ingest
    from wyoming_xnai.settings import IngestSettings

    ingest([DOCS], IngestSettings(data_dir=data_dir), progress=False)
    return data_dir


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ingested(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def collector():
    with Collector() as c:
        yield c


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def handle(module_servers, data_dir, models_dir, metrics_port, collector) -> ServerProcess:
    return module_servers(
        "handle",
        *("--data-dir", str(data_dir), "--models-dir", str(models_dir), "--llm-timeout", SLOW),
        *("--metrics-port", str(metrics_port), "--metrics-host", LOOPBACK, "--otlp-endpoint", collector.endpoint),
    )


def launch(start_server, data_dir: Path, models_dir: Path, *args: str) -> tuple[ServerProcess, int]:
    port = free_port()
    server = start_server(
        "handle",
        *("--data-dir", str(data_dir), "--models-dir", str(models_dir)),
        *("--metrics-port", str(port), "--metrics-host", LOOPBACK),
        *args,
    )
    return server, port


async def ask(uri: str, text: str, conversation_id: str | None = None, timeout: float = 300) -> list:
    """One conversation turn as Home Assistant sends it; all events up to handled-stop."""
    async with AsyncClient.from_uri(uri) as client:
        context = {"conversation_id": conversation_id} if conversation_id else None
        await client.write_event(Transcript(text=text, language="en", context=context).event())
        return await read_until(client, "handled-stop", timeout=timeout)


def outcome(events: list) -> str:
    return next(e.data.get("context", {}).get("xnai_outcome") for e in events if e.type == "handled")


def handled_text(events: list) -> str:
    texts = [e.data.get("text", "") for e in events if e.type == "handled"]
    assert len(texts) == 1, f"expected one handled, got {[e.type for e in events]}"
    return texts[0]


def metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def metric(port: int, name: str, **labels: str) -> float:
    """Value of one series (labels matched as given), 0 when absent."""
    for line in metrics(port).splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def wait_for(check, timeout: float = 120.0, what: str = "condition") -> None:
    """Poll a condition (behaviour, not speed: the timeout is only a safety net)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await anyio.sleep(0.02)


# --- the happy path ----------------------------------------------------------------------------------


async def test_describe_advertises_streaming(handle: ServerProcess) -> None:
    async with AsyncClient.from_uri(handle.uri) as client:
        await client.write_event(Describe().event())
        info = Info.from_event((await read_until(client, "info"))[-1])
    program = info.handle[0]
    assert program.installed and program.name == "xnai-handle"
    assert program.supports_handled_streaming is True
    assert program.supports_home_control is False
    assert program.models[0].name == "gemma3-270m"


@pytest.mark.parametrize("fact", FACT_SAMPLE, ids=lambda f: f.source)
async def test_answers_from_the_documents_and_streams(handle: ServerProcess, fact) -> None:
    events = await ask(handle.uri, fact.question, conversation_id=f"facts-{fact.source}")
    text = handled_text(events)
    assert fact.keyword.lower() in text.lower(), text
    assert "http" not in text and "*" not in text and "`" not in text  # speakable
    # streaming order (WYOMING_PROTOCOL.md 4.5): start, chunk per sentence, the full handled, stop
    types = [e.type for e in events]
    assert types[0] == "handled-start" and types[-2:] == ["handled", "handled-stop"]
    chunks = [e.data["text"] for e in events if e.type == "handled-chunk"]
    assert chunks and types.index("handled-chunk") < types.index("handled")
    assert "".join(chunks).strip() == text and all(c.endswith(" ") for c in chunks)
    assert events[0].data.get("context", {}).get("conversation_id") == f"facts-{fact.source}"


async def test_follow_up_uses_the_earlier_turn(handle: ServerProcess) -> None:
    first = handled_text(await ask(handle.uri, "Which company services the boiler?", "follow-up-1"))
    assert "hartwell" in first.lower()
    second = handled_text(await ask(handle.uri, "What is their phone number?", "follow-up-1"))
    assert "0142" in second  # only the boiler company's number; the vet and broadband have others


async def test_llm_span_has_genai_attributes(handle: ServerProcess, collector: Collector) -> None:
    handled_text(await ask(handle.uri, "Which batteries do the smoke alarms take?"))
    await wait_for(lambda: collector.named("text_completion gemma3-270m"), 30, "the LLM span")
    await wait_for(lambda: collector.named("handle.retrieve"), 30, "the retrieval span")
    attrs = collector.named("text_completion gemma3-270m")[-1]["attributes"]
    assert attrs["gen_ai.operation.name"] == "text_completion"
    assert attrs["gen_ai.system"] == "llama.cpp"
    assert attrs["gen_ai.request.model"] == "gemma3-270m"
    assert attrs["gen_ai.request.max_tokens"] == 64
    assert attrs["gen_ai.usage.input_tokens"] > 20
    assert attrs["gen_ai.usage.output_tokens"] >= 1


async def test_metrics_count_the_answering_stage(handle: ServerProcess, metrics_port: int) -> None:
    handled_text(await ask(handle.uri, "Where is the water stopcock?"))
    assert metric(metrics_port, "xnai_answer_stage_total", stage="rag") >= 1
    assert metric(metrics_port, "xnai_breaker_open", breaker="llm") == 0
    assert metric(metrics_port, "xnai_breaker_open", breaker="retrieval") == 0


async def test_home_assistant_closing_after_handled_is_fine(handle: ServerProcess, metrics_port: int) -> None:
    async with AsyncClient.from_uri(handle.uri) as client:  # as Home Assistant does: stop reading at handled
        await client.write_event(Transcript(text="Where is the spare house key?", language="en").event())
        events = await read_until(client, "handled", timeout=300)
    assert "flower pot" in handled_text(events).lower()
    await anyio.sleep(0.5)
    assert metric(metrics_port, "xnai_requests_total", service="handle", kind="cancelled") == 0
    assert "flower pot" in handled_text(await ask(handle.uri, "Where is the spare house key?")).lower()


async def test_bad_input_gets_an_error_and_the_server_keeps_serving(handle: ServerProcess) -> None:
    async with AsyncClient.from_uri(handle.uri) as client:
        await client.write_event(Transcript(text="x" * 5000).event())
        events = await read_until(client, "handled-stop", timeout=30)
    assert events[-1].type == "error" and events[-1].data["code"] == "text-too-long"
    empty = handled_text(await ask(handle.uri, "   "))
    assert "did not hear" in empty


def test_ask_prints_answer_and_sources(data_dir: Path, models_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wyoming_xnai", "ask", "What is the router admin password?",
         "--data-dir", str(data_dir), "--models-dir", str(models_dir), "--llm-timeout", SLOW],
        capture_output=True, text=True, env=server_env(data_dir), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "marigold" in result.stdout.lower()
    assert "sources: appliances.md" in result.stdout


# --- honest answers ---------------------------------------------------------------------------------


async def test_a_number_from_another_note_is_never_spoken(handle: ServerProcess) -> None:
    """The notes hold other phone numbers (the boiler company's, the vet's): none is the dentist's."""
    events = await ask(handle.uri, "What is the dentist's phone number?")
    text = handled_text(events)
    assert not re.search(r"\d", text), text
    assert outcome(events) == "not_in_notes"
    rear = handled_text(await ask(handle.uri, "What pressure do the rear tyres need?"))
    assert "2.4" not in rear or "2.6" in rear, rear  # 2.4 bar is the front's: never said alone for the rear


async def test_an_unanswerable_question_gets_the_honest_answer(handle: ServerProcess) -> None:
    events = await ask(handle.uri, "What is the garage alarm code?")  # the notes have a lock code, no alarm
    assert handled_text(events) == "I don't have that in your notes." and outcome(events) == "not_in_notes"


async def test_a_garbled_question_is_asked_again(handle: ServerProcess) -> None:
    for garbled in ("Whose bomb at the bottle bunk lane", "?yek esuoh eraps eht si erehW"):
        events = await ask(handle.uri, garbled)
        assert outcome(events) == "ask_again" and "say it again" in handled_text(events), garbled
    events = await ask(handle.uri, "Wo ist der Ersatzschlüssel?")
    assert outcome(events) == "unsupported_language" and "English" in handled_text(events)


# --- answers prepared during the pause (xnai-prepare, as our ASR sends it) ------------------------------


async def prepare(handle: ServerProcess, metrics_port: int, question: str) -> None:
    """Offer the question as the ASR does (write, close at once); returns once handle has taken it."""
    taken = metric(metrics_port, "xnai_requests_total", service="handle", kind="prepare")
    async with AsyncClient.from_uri(handle.uri) as client:
        await client.write_event(prepare_event(question, "en"))
    await wait_for(lambda: metric(metrics_port, "xnai_requests_total", service="handle", kind="prepare") > taken,
                   what="the preparation to be taken")  # fmt: skip


def prepared(events: list) -> bool:
    return next(e.data.get("context", {}).get("xnai_prepared", False) for e in events if e.type == "handled")


async def test_a_prepared_answer_is_the_one_computed_without_preparing(handle: ServerProcess, metrics_port) -> None:
    """The prepared answer is replayed through the same events. (llama.cpp's reuse of the previous prompt can
    reword some answers between two computations of one question, prepared or not: this one's wording holds.)"""
    fact = FACTS[8]
    question = fact.question
    used = metric(metrics_port, "xnai_requests_total", service="handle", kind="prepared")
    await prepare(handle, metrics_port, question)
    with_preparing = await ask(handle.uri, question, "prepared-1")  # a new connection, as Home Assistant's
    assert prepared(with_preparing)
    assert metric(metrics_port, "xnai_requests_total", service="handle", kind="prepared") == used + 1
    computed = await ask(handle.uri, question, "prepared-2")  # a preparation is used once: this one computes
    assert not prepared(computed)
    assert handled_text(with_preparing) == handled_text(computed) and fact.keyword in handled_text(computed)
    assert outcome(with_preparing) == outcome(computed) == "answered"
    # the same streaming events, the chunks of the same sentences
    assert [(e.type, e.data.get("text")) for e in with_preparing] == [(e.type, e.data.get("text")) for e in computed]


async def test_a_follow_up_never_gets_an_answer_prepared_without_its_conversation(
    handle: ServerProcess, metrics_port: int
) -> None:
    assert "hartwell" in handled_text(await ask(handle.uri, "Which company services the boiler?", "prepared-3")).lower()
    await prepare(handle, metrics_port, "What is their phone number?")
    events = await ask(handle.uri, "What is their phone number?", "prepared-3")
    assert not prepared(events) and "0142" in handled_text(events)


@pytest.mark.parametrize(
    ("data", "code"),
    [({"text": 5}, "bad-request"), ({"text": " "}, "bad-request"), ({"text": "Why?", "language": 1}, "bad-request"),
     ({"text": "x" * 5000}, "text-too-long")],
)  # fmt: skip
async def test_a_bad_prepare_event_gets_a_clear_error(handle: ServerProcess, data: dict, code: str) -> None:
    async with AsyncClient.from_uri(handle.uri) as client:
        await client.write_event(Event(PREPARE, data))
        events = await read_until(client, "never", timeout=30)
    assert events[-1].type == "error" and events[-1].data["code"] == code


# --- faults -----------------------------------------------------------------------------------------


async def test_missing_model_falls_back_honestly(start_server, data_dir, models_dir, tmp_path) -> None:
    server, _ = launch(start_server, data_dir, models_dir, "--model", str(tmp_path / "nowhere.gguf"))
    text = handled_text(await ask(server.uri, "Which day is the bin collection?"))
    assert FALLBACK in text
    assert "thursday" in text.lower()  # retrieval still works: the template reads out the best note
    assert "cannot load LLM" in server.output()


async def test_corrupt_model_opens_the_breaker_and_it_closes_once_fixed(
    start_server, data_dir, models_dir, gguf, tmp_path
) -> None:
    broken = tmp_path / "model.gguf"
    broken.write_bytes(gguf.read_bytes()[: 2 * 1024 * 1024])  # a truncated download
    server, port = launch(
        start_server, data_dir, models_dir, "--model", str(broken), "--breaker-failures", "2", "--breaker-reset", "1"
    )
    for _ in range(2):
        assert FALLBACK in handled_text(await ask(server.uri, "Who is the dog's vet?"))
    assert metric(port, "xnai_breaker_open", breaker="llm") == 1
    assert "circuit breaker llm is now opened" in server.output()
    # while open, answers come at once from the fallbacks, without touching the model
    assert FALLBACK in handled_text(await ask(server.uri, "Who is the dog's vet?"))
    shutil.copyfile(gguf, broken)  # the user fixes the file; after the reset time the breaker retries
    deadline = time.monotonic() + 60  # on a busy box the first load after the fix may outlast an answer
    while True:
        await anyio.sleep(1.2)  # past the reset time: the breaker lets one call through
        text = handled_text(await ask(server.uri, "Who is the dog's vet?"))
        if FALLBACK not in text or time.monotonic() > deadline:
            break
    assert FALLBACK not in text and "rowe" in text.lower()
    assert metric(port, "xnai_breaker_open", breaker="llm") == 0
    assert metric(port, "xnai_answer_stage_total", stage="template") >= 3


async def test_llm_timeout_falls_back_and_opens_the_breaker(start_server, data_dir, models_dir) -> None:
    server, port = launch(
        start_server,
        data_dir,
        models_dir,
        "--llm-timeout",
        "0.001",
        "--breaker-failures",
        "2",
        "--breaker-reset",
        "600",
    )
    for _ in range(3):
        text = handled_text(await ask(server.uri, "What does Biscuit eat?"))
        assert FALLBACK in text and "salmon" in text.lower()
    assert "took longer than 0.001 s" in server.output()
    assert metric(port, "xnai_breaker_open", breaker="llm") == 1
    assert metric(port, "xnai_answer_stage_total", stage="template") == 3


async def test_missing_then_corrupt_index_degrades_and_recovers_after_ingest(
    start_server, models_dir, tmp_path
) -> None:
    data = tmp_path / "data"
    server, port = launch(start_server, data, models_dir, "--llm-timeout", SLOW, "--breaker-reset", "1")
    events = await ask(server.uri, "Where is the spare house key?")
    # no documents at all: say what xnai does and how to add them, not a made-up or truncated answer
    assert outcome(events) == "no_documents" and "xnai ingest" in handled_text(events)
    assert "no index at" in server.output()
    assert metric(port, "xnai_answer_stage_total", stage="judged") == 1  # decided without the LLM
    # now index the documents while the server runs: the next question uses them
    await anyio.to_thread.run_sync(ingested, data)
    await anyio.sleep(1.2)
    assert "okafor" in handled_text(await ask(server.uri, "Who waters the plants when we are away?")).lower()


async def test_corrupt_index_is_reported_and_answering_goes_on(start_server, models_dir, tmp_path) -> None:
    data = ingested(tmp_path / "data")
    damaged = next((data / "index").glob("v-*/vectors.faiss"))
    damaged.write_bytes(damaged.read_bytes()[:100])
    server, port = launch(start_server, data, models_dir, "--llm-timeout", SLOW)
    assert handled_text(await ask(server.uri, "What is the capital of France?"))
    assert "corrupt" in server.output()
    assert metric(port, "xnai_answer_stage_total", stage="llm") == 1


async def test_overload_is_answered_politely_and_disconnect_cancels_generation(
    start_server, data_dir, models_dir
) -> None:
    server, port = launch(
        start_server, data_dir, models_dir, "--llm-timeout", SLOW, "--max-queue", "0", "--max-tokens", "400"
    )
    async with AsyncClient.from_uri(server.uri) as first:
        await first.write_event(Transcript(text=LONG).event())
        await wait_for(lambda: metric(port, "xnai_in_flight", service="handle") == 1, what="generation to start")
        # the LLM is busy and nobody may wait: an immediate, polite answer instead of a timeout
        busy = handled_text(await ask(server.uri, "Which day is the bin collection?"))
        assert "busy" in busy.lower()
        assert metric(port, "xnai_answer_stage_total", stage="busy") == 1
    # the first client hung up mid-generation: the generation stops and the model is free again
    await wait_for(lambda: metric(port, "xnai_in_flight", service="handle") == 0, what="generation to stop")
    assert metric(port, "xnai_requests_total", service="handle", kind="cancelled") == 1
    await wait_for(lambda: "LLM generation cancelled" in server.output(), 10, "the cancel log line")
    assert "thursday" in handled_text(await ask(server.uri, "Which day is the bin collection?")).lower()


async def test_answer_cache_covers_a_failing_llm(data_dir: Path, models_dir: Path) -> None:
    """In-process chain: the real LLM answers once; then a real timeout makes the cache answer."""
    from wyoming_xnai.handle.chain import Answerer
    from wyoming_xnai.settings import HandleSettings

    settings = HandleSettings(data_dir=data_dir, models_dir=models_dir, handle_llm_timeout=float(SLOW))
    answerer = Answerer(settings)
    await anyio.to_thread.run_sync(answerer.load)
    fresh = await answerer.answer("Which day is the bin collection?")
    assert fresh.stage == "rag" and "thursday" in fresh.text.lower()
    settings.handle_llm_timeout = 0.001  # from now on every generation takes longer than allowed
    exact = await answerer.answer("which day is the bin collection")
    assert exact.stage == "cache" and exact.text == fresh.text and "llm" in exact.problems
    similar = await answerer.answer("On which day is the bin collection?")
    assert similar.stage == "cache" and similar.text == fresh.text
    unknown = await answerer.answer("What is the cat allergic to?")
    assert unknown.stage == "template" and FALLBACK in unknown.text and "chicken" in unknown.text


class RecordingEmbedder:
    """The real embedder, remembering what it was asked to embed (to see what answering costs)."""

    def __init__(self, real) -> None:
        self.real, self.name, self.dim = real, real.name, real.dim
        self.calls: list[list[str]] = []

    def embed(self, texts):
        self.calls.append(list(texts))
        return self.real.embed(texts)


async def recording_answerer(data_dir: Path, models_dir: Path):
    from wyoming_xnai.handle.chain import Answerer
    from wyoming_xnai.index.embed import load_embedder
    from wyoming_xnai.settings import HandleSettings

    settings = HandleSettings(data_dir=data_dir, models_dir=models_dir, handle_llm_timeout=float(SLOW))
    answerer = Answerer(settings)
    answerer._embedder = recorder = RecordingEmbedder(load_embedder(settings))
    await anyio.to_thread.run_sync(answerer.load)
    assert recorder.calls == [["warm up"]]  # onnxruntime's slow first run happens at load
    recorder.calls.clear()
    return answerer, recorder


async def test_answering_embeds_only_the_question_once(data_dir: Path, models_dir: Path) -> None:
    """Ingest stored the notes' vectors: a question costs one embedding of itself; besides, only single
    words the question lacks in a note are embedded (evidence.synonym), once: the next time they are known."""
    answerer, recorder = await recording_answerer(data_dir, models_dir)
    for fact in (FACTS[0], FACTS[9]):
        for _ in range(2):
            recorder.calls.clear()
            answer = await answerer.answer(fact.question)
            assert answer.stage == "rag" and fact.keyword.lower() in answer.text.lower(), answer
            assert recorder.calls[0] == [fact.question]
            assert all(" " not in text for call in recorder.calls[1:] for text in call), recorder.calls
        assert recorder.calls == [[fact.question]]  # asked again: the words are known


async def test_first_clause_is_said_before_its_sentence_ends(handle: ServerProcess) -> None:
    """A grounded first clause goes out as its own chunk; the rest of the sentence follows, also grounded."""
    events = await ask(handle.uri, "Which company services the boiler?")  # "Hartwell Heating, phone 555 0142."
    chunks = [e.data["text"] for e in events if e.type == "handled-chunk"]
    assert len(chunks) >= 2 and chunks[0].endswith(", ") and "hartwell" in chunks[0].lower(), chunks
    assert "".join(chunks).strip() == handled_text(events)


def test_memory_is_bounded_and_expires() -> None:
    from wyoming_xnai.handle.memory import ConversationMemory

    now = [0.0]
    memory = ConversationMemory(max_conversations=2, max_turns=2, ttl=10, clock=lambda: now[0])
    for i in range(3):
        memory.add("a", f"q{i}", f"a{i}")
    assert [t.question for t in memory.history("a")] == ["q1", "q2"]
    memory.add("b", "q", "a")
    memory.add("c", "q", "a")
    assert memory.history("a") == [] and len(memory) == 2  # least recently used conversation dropped
    now[0] = 11
    assert memory.history("b") == []  # expired
    assert memory.history(None) == []


def test_speakable_sentences_and_grounding() -> None:
    from wyoming_xnai.handle.grounding import supported
    from wyoming_xnai.handle.notes import Note
    from wyoming_xnai.handle.prompt import SentenceSplitter
    from wyoming_xnai.text.cleaning import one_line_for_speech

    assert one_line_for_speech("The password is `marigold-42`, see **[docs](https://x.example)** or https://www.x.example/a") == (
        "The password is marigold-42, see docs or x.example"
    )
    splitter = SentenceSplitter()
    pieces = ["The vet is Dr.", " Rowe. She", " is at Fernbrook. And"]
    assert [s for p in pieces for s in splitter.feed(p)] == ["The vet is Dr. Rowe.", "She is at Fernbrook."]
    assert splitter.flush() == "And"
    note = Note("Bin collection is every Thursday morning at 7.", "house.txt", 1.0, 0.8)
    question = "Which day is the bin collection?"
    assert supported("The bins are collected every Thursday morning.", question, note)
    assert not supported("The bins are collected on Monday.", question, note)  # not in the note
    assert not supported("Bin collection is at 8.", question, note)  # a number the note does not have
    assert not supported("The bin collection.", question, note)  # says nothing new


def test_a_made_up_number_is_caught_before_its_sentence_ends() -> None:
    from wyoming_xnai.handle.grounding import cannot_be_supported
    from wyoming_xnai.handle.notes import Note

    note = Note("The front tyres need 2.4 bar and the back ones 2.6 bar.", "car.pdf", 1.0, 0.8)
    question = "What tyre pressure does the car need at the front?"
    assert not cannot_be_supported("The car needs 2", question, note)  # "2" may still become "2.4"
    assert not cannot_be_supported("The car needs 2.4 bar at", question, note)
    assert cannot_be_supported("The car needs 3.1 bar", question, note)
    assert cannot_be_supported("It needs 7 ", question, note)
    assert not cannot_be_supported("It needs lots of air ", question, note)  # words: decided at the end


def test_first_clause_and_the_rest_of_its_sentence() -> None:
    from wyoming_xnai.handle.prompt import SentenceSplitter, remainder

    splitter = SentenceSplitter()
    assert splitter.feed("The cat is allergic to **chicken**,") == [] and splitter.clause() == ""  # "1,000"?
    assert splitter.feed(" so she") == [] and splitter.clause() == "The cat is allergic to chicken,"
    assert splitter.feed(" eats duck. Then") == ["The cat is allergic to chicken, so she eats duck."]
    assert splitter.clause() == ""
    assert remainder("The cat is allergic to chicken, so she eats duck.", "The cat is allergic to chicken,") == (
        "so she eats duck."
    )
    joined = SentenceSplitter()  # no comma: cut before a joining word, once the start is long enough
    assert joined.feed("The cat is allergic to") == [] and joined.feed(" chicken") == [] and joined.clause() == ""
    joined = SentenceSplitter()
    assert joined.feed("The car needs 2.4 bar at the front and") == [] and joined.clause() == ""  # "android"?
    assert joined.feed(" 2") == [] and joined.clause() == "The car needs 2.4 bar at the front,"


async def test_slow_answer_outlives_the_idle_timeout_then_idle_clients_are_closed(
    start_server, data_dir, models_dir
) -> None:
    server, _ = launch(
        start_server, data_dir, models_dir, "--llm-timeout", SLOW, "--idle-timeout", "1", "--max-tokens", "100"
    )
    async with AsyncClient.from_uri(server.uri) as client:
        await client.write_event(Transcript(text=LONG).event())  # seconds of prompt and generation
        events = await read_until(client, "handled-stop", timeout=300)
        assert events[-1].type == "handled-stop" and handled_text(events)
        # the answer is complete; a client that then stays silent is closed after the idle timeout
        closing = await read_until(client, "handled-stop", timeout=30)
        assert closing[-1].type == "error" and closing[-1].data["code"] == "timeout"
