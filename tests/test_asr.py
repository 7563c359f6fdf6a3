"""The ASR server, through real sockets, with the bundled Whisper tiny.en and espeak-ng speech."""

from __future__ import annotations

import json
import socket
import urllib.request

import anyio
import numpy as np
import pytest
import tokenizers
from faster_whisper.tokenizer import Tokenizer
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart
from wyoming.client import AsyncClient
from wyoming.info import Describe, Info

from tests.support import (
    LOOPBACK,
    NOISES,
    ServerProcess,
    free_port,
    noise,
    read_until,
    silence,
    speak_live,
    speech,
    transcribe,
    transcript_text,
    words,
)
from wyoming_xnai.asr.transcriber import repeats_itself, suppressed_tokens
from wyoming_xnai.models import whisper_model
from wyoming_xnai.settings import PathSettings

pytestmark = pytest.mark.anyio
PHRASE = "turn on the kitchen lights"
PHRASE_WORDS = {"turn", "on", "the", "kitchen", "lights"}


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def asr(module_servers, metrics_port) -> ServerProcess:
    return module_servers("asr", "--metrics-port", str(metrics_port), "--metrics-host", LOOPBACK)


@pytest.fixture(scope="module")
def asr_without_endpointing(module_servers) -> ServerProcess:
    return module_servers("asr", "--no-vad-endpointing")


@pytest.fixture(scope="module")
def asr_patient(module_servers) -> ServerProcess:
    """Endpointing whose longest pause (4 s) no loaded machine's early decode takes: a turn that ends
    before it ended on complete words. Its complete questions are offered for preparing to a handle that
    is not there (nothing listens on the port): that must change nothing."""
    nobody = f"tcp://{LOOPBACK}:{free_port()}"
    return module_servers("asr", "--vad-endpointing", "4", "--vad-no-speech-seconds", "3", "--prepare-uri", nobody)


async def describe(uri: str) -> Info:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Describe().event())
        return Info.from_event((await read_until(client, "info"))[-1])


async def test_describe_lists_the_model(asr: ServerProcess) -> None:
    info = await describe(asr.uri)
    program = info.asr[0]
    assert program.installed and program.name == "xnai-asr"
    assert program.models[0].name == "tiny.en"
    assert program.models[0].languages == ["en"]
    assert program.supports_transcript_streaming is True
    assert program.requires_external_vad is False  # endpointing is on by default


async def test_without_endpointing_the_client_ends_the_utterance(asr_without_endpointing: ServerProcess) -> None:
    info = await describe(asr_without_endpointing.uri)
    assert info.asr[0].requires_external_vad is True


@pytest.mark.parametrize("rate", [16000, 22050])
async def test_transcribes_speech(asr: ServerProcess, rate: int) -> None:
    events = await transcribe(asr.uri, speech(PHRASE, rate), rate=rate, language="en")
    assert words(transcript_text(events)) == PHRASE_WORDS
    types = [e.type for e in events]
    # streaming events wrap the mandatory transcript in the protocol's order
    assert types[0] == "transcript-start" and types[-1] == "transcript-stop"
    assert types.index("transcript-chunk") < types.index("transcript")


async def test_whisper_full_window_gives_the_same_words(start_server) -> None:
    server = start_server("asr", "--window", "30")  # faster-whisper's own transcription, no cut window
    events = await transcribe(server.uri, speech(PHRASE), language="en")
    assert words(transcript_text(events)) == PHRASE_WORDS


def test_a_decode_may_take_the_timeout_once_per_whisper_window() -> None:
    """A 2-minute dictation is four windows of Whisper's work: it gets four timeouts, not one."""
    from wyoming_xnai.asr.server import decode_deadline

    second = 32000  # bytes of 16 kHz 16-bit mono
    assert decode_deadline(30.0, 3 * second) == 30.0  # a short command: the timeout as set
    assert decode_deadline(30.0, 120 * second) == 120.0
    assert decode_deadline(30.0, 45 * second) == 45.0


async def test_utterance_longer_than_one_window_is_transcribed_whole(asr_without_endpointing: ServerProcess) -> None:
    pcm = speech(PHRASE) + silence(31) + speech("what is the weather like tomorrow")
    heard = words(transcript_text(await transcribe(asr_without_endpointing.uri, pcm, language="en")))
    assert PHRASE_WORDS <= heard and {"weather", "tomorrow"} <= heard


@pytest.mark.parametrize(
    ("text", "degenerate"),
    [
        ("Turn on the kitchen lights. Turn on the kitchen lights.", True),
        ("Lock the front door and close the garage. Lock the front door and close the", True),
        ("turn on the kitchen lights", False),
        ("no no no", False),
        ("Add milk, eggs and bread to the shopping list.", False),
    ],
)
def test_a_sentence_said_twice_is_not_trusted(text: str, degenerate: bool) -> None:
    assert repeats_itself(text) is degenerate


def test_a_cut_window_allows_no_timestamp_after_the_audio() -> None:
    """Whisper may end the speech's segment just after the audio, but start none in the silence after it."""
    path = whisper_model("tiny.en", PathSettings().models_dir).path / "tokenizer.json"
    tokenizer = Tokenizer(tokenizers.Tokenizer.from_file(str(path)), False, task="transcribe", language="en")
    suppressed = set(suppressed_tokens(tokenizer, 2.5))
    first = tokenizer.timestamp_begin
    assert first + 125 not in suppressed and first not in suppressed  # <|2.50|>, <|0.00|>
    assert {first + 126, first + 1500} <= suppressed  # <|2.52|>, <|30.00|>
    assert tokenizer.eot not in suppressed


async def test_converts_any_format_and_needs_no_audio_start(asr: ServerProcess) -> None:
    pcm = speech(PHRASE, 48000, channels=2, width=4)
    events = await transcribe(asr.uri, pcm, rate=48000, channels=2, width=4, audio_start=False)
    assert words(transcript_text(events)) == PHRASE_WORDS


async def test_empty_audio_gives_empty_transcript(asr: ServerProcess) -> None:
    events = await transcribe(asr.uri, b"")
    assert transcript_text(events) == ""


async def test_transcript_carries_whisper_confidence(asr: ServerProcess) -> None:
    events = await transcribe(asr.uri, speech(PHRASE), language="en-US")
    transcript = next(e for e in events if e.type == "transcript")
    confidence = transcript.data["context"]["asr"]
    assert confidence["language"] == "en" == transcript.data["language"]
    assert -1.0 < confidence["avg_logprob"] <= 0.0  # clear speech: confident
    assert 0.0 <= confidence["no_speech_prob"] < 0.5
    assert 0.0 < confidence["compression_ratio"] < 2.4


@pytest.mark.parametrize("kind", ["digital-silence", *NOISES])
@pytest.mark.parametrize("endpointing", [False, True])
async def test_silence_and_noise_give_an_empty_transcript(
    asr, asr_without_endpointing, kind: str, endpointing: bool
) -> None:
    """Whisper alone says "you" to silence; nobody spoke, so nothing may be transcribed."""
    server = asr if endpointing else asr_without_endpointing
    events = await transcribe(server.uri, noise(kind))
    assert transcript_text(events) == ""


async def test_unsupported_language_is_a_clear_error(asr: ServerProcess) -> None:
    async with AsyncClient.from_uri(asr.uri) as client:
        await client.write_event(Transcribe(language="de").event())
        error = (await read_until(client, "never"))[-1]
    assert error.type == "error" and error.data["code"] == "unsupported-language"
    assert "'de'" in error.data["text"]


async def test_endpointing_answers_without_audio_stop(asr: ServerProcess) -> None:
    pcm = speech(PHRASE) + silence(2.0)
    events = await transcribe(asr.uri, pcm, audio_stop=False)
    assert words(transcript_text(events)) == PHRASE_WORDS


async def test_endpointing_gives_up_on_silence(asr_patient: ServerProcess) -> None:
    events = await transcribe(asr_patient.uri, silence(4.0), audio_stop=False)
    assert transcript_text(events) == ""


def trimmed(pcm: bytes) -> bytes:
    """espeak-ng's speech without its silent edges, so a pause between two parts is the pause asked for."""
    loud = np.flatnonzero(np.abs(np.frombuffer(pcm, np.int16)) > 300)
    return pcm[loud[0] * 2 : (loud[-1] + 1) * 2]


# Requests spoken with a pause inside them; the first part alone reads as a complete sentence or not
PAUSED = [
    (("Remind me to call", "the plumber on Friday"), 0.5, {"remind", "friday"}),
    (("What is the weather", "like in Paris"), 0.6, {"weather", "paris"}),
    (("Turn off the lights in", "the living room"), 0.6, {"turn", "living", "room"}),
    (("How long should I boil", "an egg"), 0.3, {"boil", "egg"}),
]


async def test_endpointing_never_cuts_a_pause_inside_a_sentence_and_ends_complete_ones_early(
    asr_patient: ServerProcess,
) -> None:
    for parts, pause, expected in PAUSED:
        said = trimmed(speech(parts[0])) + silence(pause) + trimmed(speech(parts[1]))
        text, after_speech = await speak_live(asr_patient.uri, said + silence(6.0), len(said) / 32000)
        assert expected <= words(text), f"{parts}: heard {text!r}"
        assert after_speech > 0, f"{parts}: transcript came before the speaker finished"
        # A complete request ends on its short pause, with its early decode, long before the longest one
        assert after_speech < 3.0, f"{parts}: the turn waited for the longest pause"


async def test_many_clients_at_once(asr: ServerProcess) -> None:
    phrases = [PHRASE, "what is the weather like tomorrow", "set a timer for ten minutes", PHRASE]
    results: dict[int, str] = {}

    async def one(i: int, text: str) -> None:
        results[i] = transcript_text(await transcribe(asr.uri, speech(text)))

    async with anyio.create_task_group() as tg:
        for i, text in enumerate(phrases):
            tg.start_soon(one, i, text)
    assert words(results[0]) == PHRASE_WORDS == words(results[3])
    assert {"weather", "tomorrow"} <= words(results[1])
    assert {"timer", "minutes"} <= words(results[2])


def raw_exchange(port: int, data: bytes) -> list[dict]:
    """Send raw bytes, half-close, and collect the event headers the server answers with."""
    with socket.create_connection((LOOPBACK, port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    events = []
    for line in received.split(b"\n"):
        if line.startswith(b"{") and b'"type"' in line:
            header = json.loads(line)
            events.append(header)
        elif events and line.startswith(b"{"):
            events[-1]["data"] = json.loads(line[: events[-1].get("data_length")])
    return events


BAD_FRAMES = {
    "not-json": (b"this is not json\n", "malformed-header"),
    "not-an-object": (b"[1, 2, 3]\n", "malformed-header"),
    "huge-payload": (b'{"type": "audio-chunk", "payload_length": 9999999999}\n', "payload-too-large"),
    "huge-data": (b'{"type": "transcribe", "data_length": 99999999}\n', "payload-too-large"),
    "negative-length": (b'{"type": "audio-chunk", "payload_length": -5}\n', "malformed-header"),
    "data-not-object": (b'{"type": "transcribe", "data_length": 3}\n[1]', "malformed-data"),
    "truncated": (b'{"type": "audio-chunk", "data_length": 40, "payload_length": 100}\n{"rate"', "truncated-frame"),
    "header-too-long": (b'{"type": "' + b"x" * 70000 + b'"}\n', "header-too-large"),
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
async def test_bad_frames_get_a_clear_error_and_the_server_keeps_serving(asr: ServerProcess, name: str) -> None:
    data, code = BAD_FRAMES[name]
    events = raw_exchange(asr.port, data)
    assert [e["type"] for e in events] == ["error"]
    assert events[0]["data"]["code"] == code
    # the same server still transcribes correctly
    assert words(transcript_text(await transcribe(asr.uri, speech(PHRASE)))) == PHRASE_WORDS


@pytest.mark.parametrize(
    ("rate", "width", "channels", "payload"),
    [(0, 2, 1, b"\0\0"), (16000, 7, 1, b"\0" * 7), (16000, 2, 9, b"\0" * 18), (16000, 2, 1, b"\0\0\0")],
)
async def test_nonsense_audio_format_is_refused(asr: ServerProcess, rate, width, channels, payload) -> None:
    async with AsyncClient.from_uri(asr.uri) as client:
        await client.write_event(AudioChunk(rate=rate, width=width, channels=channels, audio=payload).event())
        events = await read_until(client, "never")
    assert events[-1].type == "error" and events[-1].data["code"] == "bad-audio"
    assert words(transcript_text(await transcribe(asr.uri, speech(PHRASE)))) == PHRASE_WORDS


async def test_client_vanishing_mid_utterance(asr: ServerProcess) -> None:
    pcm = speech(PHRASE)
    for _ in range(3):
        async with AsyncClient.from_uri(asr.uri) as client:
            await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
            await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=pcm[:8000]).event())
        # gone without audio-stop
    assert words(transcript_text(await transcribe(asr.uri, pcm))) == PHRASE_WORDS


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


async def test_metrics_count_requests_and_latency(asr: ServerProcess, metrics_port: int) -> None:
    await transcribe(asr.uri, speech(PHRASE))
    status, body = fetch(f"http://{LOOPBACK}:{metrics_port}/metrics")
    assert status == 200
    requests = [line for line in body.splitlines() if line.startswith('xnai_requests_total{kind="audio-stop"')]
    assert requests and float(requests[0].split()[-1]) >= 1
    assert 'xnai_latency_seconds_bucket{le="0.5",service="asr",stage="transcribe"}' in body
    assert 'xnai_latency_seconds_count{service="asr",stage="transcribe"}' in body
    assert 'xnai_model_ready{service="asr"} 1.0' in body
    status, body = fetch(f"http://{LOOPBACK}:{metrics_port}/healthz")
    assert status == 200 and "asr: ok" in body


async def test_overload_is_refused_politely(start_server) -> None:
    server = start_server("asr", "--max-concurrent", "1", "--max-queue", "0")
    pcm = speech("what is the weather like tomorrow")
    outcomes: list[str] = []

    async def one() -> None:
        events = await transcribe(server.uri, pcm)
        outcomes.append(events[-1].data.get("code", "ok") if events[-1].type == "error" else "ok")

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(one)
    assert "ok" in outcomes and "busy" in outcomes
    assert set(outcomes) <= {"ok", "busy"}


async def test_model_that_fails_to_load(start_server, tmp_path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "model.bin").write_bytes(b"not a model")
    (broken / "vocabulary.txt").write_text("a\n")
    server = start_server("asr", "--model", str(broken))
    info = await describe(server.uri)  # describe still answers
    assert info.asr[0].models[0].name == "broken-model"
    events = await transcribe(server.uri, speech(PHRASE))
    assert events[-1].type == "error" and events[-1].data["code"] == "model-unavailable"


def test_missing_model_is_a_one_line_error(start_server, tmp_path) -> None:
    server = start_server("asr", "--model", str(tmp_path / "nowhere"), wait=False)
    assert server.proc.wait(timeout=30) == 2
    output = server.output().strip()
    assert output.startswith("xnai: Whisper model") and "Traceback" not in output


def test_a_language_the_model_cannot_transcribe_is_a_one_line_error(start_server) -> None:
    server = start_server("asr", "--model", "tiny.en", "--language", "de", wait=False)
    assert server.proc.wait(timeout=30) == 2
    output = server.output().strip()
    assert output == "xnai: --language 'de' is not one model tiny.en can transcribe (en)"


def test_sigterm_stops_cleanly(start_server) -> None:
    server = start_server("asr")
    assert server.stop() == 0
    assert "received SIGTERM, stopping" in server.output()
