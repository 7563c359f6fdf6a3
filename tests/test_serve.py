"""`xnai serve`: all three services in one process, one request each, one metrics endpoint, traces, RSS."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families
from wyoming.asr import Transcript
from wyoming.client import AsyncClient
from wyoming.tts import Synthesize

from bench.support import Collector
from tests.docs_facts import SPOKEN
from tests.support import (
    LOOPBACK,
    ServerProcess,
    describe_sync,
    free_port,
    read_until,
    server_env,
    silence,
    speak_live,
    speech,
    transcribe,
    transcript_text,
    words,
)

pytestmark = pytest.mark.anyio
DOCS = Path(__file__).parent / "data" / "docs"
RSS_LIMIT_BYTES = 1200 * 1024 * 1024
LONG_ANSWER = (
    "When the pressure of the boiler drops below one bar in the winter after the heating has been on all day, open "
    "the filling loop under the boiler slowly until the gauge reads one and a half bar again, then close it tight. "
    "If the pressure falls again within a week, there may be a small leak somewhere in the radiators or the pipes "
    "under the kitchen floor, and it is best to ring the heating engineer before it gets any worse than that. "
    "The engineer who services the boiler every year is happy to come out on a weekday morning for a small fee."
)
MARKUP = '<div class="note"><p><b>Bins</b> go out on <i>Thursday</i>; <a href="https://example.com/x?y=1">see</a></p></div>\n'


class AllInOne:
    def __init__(self, server: ServerProcess, ports: dict[str, int], metrics_port: int, collector: Collector) -> None:
        self.server = server
        self.ports = ports
        self.metrics_port = metrics_port
        self.collector = collector

    def uri(self, service: str) -> str:
        return f"tcp://{LOOPBACK}:{self.ports[service]}"

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{self.metrics_port}/metrics", timeout=10) as response:
            return response.read().decode()

    def rss_bytes(self) -> int:
        status = Path(f"/proc/{self.server.proc.pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) * 1024

    def peak_rss_bytes(self) -> int:
        status = Path(f"/proc/{self.server.proc.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("serve")
    env = server_env(work / "data")
    ingest = subprocess.run(
        [sys.executable, "-m", "wyoming_xnai", "ingest", str(DOCS)], env=env, capture_output=True, text=True
    )
    assert ingest.returncode == 0, ingest.stderr
    ports = {"tts": free_port(), "handle": free_port(), "wake": free_port()}
    metrics_port = free_port()
    with Collector() as collector:
        server = ServerProcess(
            "serve",
            [
                "--tts-uri", f"tcp://{LOOPBACK}:{ports['tts']}",
                "--handle-uri", f"tcp://{LOOPBACK}:{ports['handle']}",
                "--wake-uri", f"tcp://{LOOPBACK}:{ports['wake']}",
                "--metrics-host", LOOPBACK,
                "--metrics-port", str(metrics_port),
                "--otlp-endpoint", collector.endpoint,
                "--asr-timeout", "300", "--handle-llm-timeout", "120",  # a loaded CI box is slow
            ],
            env,
            work / "serve.log",
            uri_flag="--asr-uri",
        )  # fmt: skip
        ports["asr"] = server.port
        try:
            server.wait_describe(timeout=120)
            yield AllInOne(server, ports, metrics_port, collector)
        finally:
            server.stop()


def test_describe_on_each_port_names_one_service_kind(serve: AllInOne) -> None:
    kinds = {}
    for service, port in serve.ports.items():
        info = describe_sync(port, timeout=10)
        kinds[service] = {
            kind for kind in ("asr", "tts", "handle", "intent", "wake", "mic", "snd") if getattr(info, kind, None)
        }
    assert kinds == {"asr": {"asr"}, "tts": {"tts"}, "handle": {"handle"}, "wake": {"wake"}}


async def test_one_request_on_each_service_then_metrics_traces_and_rss(serve: AllInOne) -> None:
    # ASR
    text = transcript_text(await transcribe(serve.uri("asr"), speech("turn on the kitchen lights")))
    assert {"kitchen", "lights"} <= words(text)

    # TTS: one audio block with real audio.
    async with AsyncClient.from_uri(serve.uri("tts")) as client:
        await client.write_event(Synthesize(text="The bins go out on Thursday.").event())
        events = await read_until(client, "audio-stop", timeout=120)
    assert events[0].type == "audio-start"
    audio = sum(len(e.payload or b"") for e in events if e.type == "audio-chunk")
    assert audio > 22050 * 2 * 0.5  # more than half a second at 22.05 kHz 16-bit

    # handle: always answers.
    async with AsyncClient.from_uri(serve.uri("handle")) as client:
        await client.write_event(Transcript(text="When is bin collection?", context={"conversation_id": "t1"}).event())
        events = await read_until(client, "handled", "not-handled", timeout=180)
    assert events[-1].type == "handled" and events[-1].data["text"].strip()

    samples = [s for family in text_string_to_metric_families(serve.metrics()) for s in family.samples]

    def labelled(name: str, service: str | None = None) -> list:
        return [s for s in samples if s.name == name and (service is None or s.labels.get("service") == service)]

    for service in ("asr", "tts", "handle"):
        assert sum(s.value for s in labelled("xnai_requests_total", service)) >= 1, service
        assert [s.value for s in labelled("xnai_model_ready", service)] == [1.0], service
        assert any(s.value >= 1 for s in labelled("xnai_latency_seconds_count", service)), service
        assert labelled("xnai_model_load_seconds", service), service
        assert labelled("xnai_queue_depth", service), service
    assert sum(s.value for s in labelled("xnai_answer_stage_total")) >= 1
    assert labelled("xnai_breaker_open")

    peak = serve.peak_rss_bytes()
    print(f"xnai serve peak RSS after one request per service: {peak / 2**20:.0f} MiB")
    assert peak < RSS_LIMIT_BYTES


async def test_large_requests_give_their_memory_back(serve: AllInOne) -> None:
    """Issue 14, finding 7: a markup-heavy text (pieces of 300 characters that Piper spoke in one run)
    left ~500 MiB resident for good, over the 1.2 GB bound (bench/memory.py adds a 20,000-character text
    and a 10-minute utterance; too slow for CI). An ordinary long answer comes first: Piper keeps the arena
    that runs of its usual size need (runs are capped at PIPER_USUAL_IDS), and a markup-heavy text may not
    grow what a service in use holds."""
    async with AsyncClient.from_uri(serve.uri("tts")) as client:
        await client.write_event(Synthesize(text=LONG_ANSWER).event())
        await read_until(client, "audio-stop", timeout=120)
    before = serve.rss_bytes()
    async with AsyncClient.from_uri(serve.uri("tts")) as client:
        await client.write_event(Synthesize(text=(MARKUP * 40)[:4000]).event())
        events = await read_until(client, "audio-stop", timeout=600)
    assert sum(len(e.payload or b"") for e in events if e.type == "audio-chunk") > 0
    await rss_settles(serve, before)
    assert serve.rss_bytes() < RSS_LIMIT_BYTES


async def rss_settles(serve: AllInOne, before: int, timeout: float = 30) -> None:
    """RSS comes back within 64 MiB of `before` (the heap is trimmed once the connection has closed)."""
    deadline = anyio.current_time() + timeout
    while serve.rss_bytes() > before + 64 * 2**20:
        assert anyio.current_time() < deadline, f"RSS {before / 2**20:.0f} -> {serve.rss_bytes() / 2**20:.0f} MiB"
        await anyio.sleep(0.1)


def handle_requests(serve: AllInOne, kind: str) -> float:
    families = text_string_to_metric_families(serve.metrics())
    return sum(
        s.value
        for family in families
        for s in family.samples
        if s.name == "xnai_requests_total" and s.labels == {"service": "handle", "kind": kind}
    )


async def test_a_spoken_question_is_answered_from_the_answer_prepared_during_the_pause(serve: AllInOne) -> None:
    """Issue 15: as through Home Assistant, the ASR ends the turn itself and the transcript goes to handle on
    a new connection; meanwhile the ASR has offered handle the question it heard complete in the pause
    (`xnai serve` wires that up by itself), and the answer is the prepared one."""
    fact = SPOKEN[0]
    offered, used = handle_requests(serve, "prepare"), handle_requests(serve, "prepared")
    pcm = speech(fact.question)
    text, _ = await speak_live(serve.uri("asr"), pcm + silence(3.0), len(pcm) / 32000)
    assert {"company", "boiler"} <= words(text), text
    deadline = anyio.current_time() + 60
    while handle_requests(serve, "prepare") <= offered:  # Home Assistant's pipeline takes a moment too
        assert anyio.current_time() < deadline, "handle got no preparation"
        await anyio.sleep(0.02)
    async with AsyncClient.from_uri(serve.uri("handle")) as client:
        context = {"conversation_id": "prepared-spoken"}
        await client.write_event(Transcript(text=text, language="en", context=context).event())
        handled = (await read_until(client, "handled", timeout=300))[-1]
    assert handled.type == "handled" and fact.keyword.lower() in handled.data["text"].lower(), handled
    assert handled.data["context"]["xnai_prepared"] is True and handled.data["context"]["xnai_outcome"] == "answered"
    assert handle_requests(serve, "prepared") == used + 1


async def test_spans_reach_the_collector_at_shutdown(serve: AllInOne) -> None:
    """Spans of the requests above reach the collector once the server shuts down and flushes them."""
    assert serve.server.stop() == 0
    spans = serve.collector.spans
    names = {span["name"] for span in spans}
    assert "asr.transcribe" in names
    assert any(name.startswith("tts") for name in names), names
    llm = [span for span in spans if "gen_ai.request.model" in span["attributes"]]
    assert llm, f"no LLM span with GenAI attributes among {names}"
    attrs = llm[0]["attributes"]
    assert attrs["gen_ai.usage.output_tokens"] > 0
    assert attrs["gen_ai.usage.input_tokens"] > 0
