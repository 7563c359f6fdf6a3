"""Property-based tests of every server's input handling, through real sockets to real server processes.

Hypothesis builds streams of Wyoming frames (well-formed, mutated, truncated, out of order, with odd
data and audio formats) and sends them raw. Whatever arrives, a server must answer only with
well-formed events it is allowed to send (an `error` with a known code at worst, never
`internal-error`), close the connection when the client is done, stay alive, keep its memory bounded,
and still serve a well-formed request on another connection.

Example counts are modest so the suite stays fast; raise them with XNAI_TEST_FUZZ_EXAMPLES=500.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import anyio
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from wyoming.asr import Transcript
from wyoming.client import AsyncClient
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from tests.support import (
    ServerProcess,
    describe_sync,
    exchange_bytes,
    parse_frames,
    read_until,
    rss_mb,
    speech,
    transcribe,
    transcript_text,
    words,
)

EXAMPLES = int(os.environ.get("XNAI_TEST_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CAP = 65536  # --max-payload-bytes for the fuzzed servers: makes "near the cap" cheap to reach
ERROR_CODES = {
    "malformed-header", "malformed-data", "payload-too-large", "header-too-large", "truncated-frame",
    "bad-audio", "unsupported-language", "busy", "model-unavailable", "text-too-long", "empty-text",
    "unknown-voice", "unknown-speaker", "synthesis-failed", "timeout",
}  # fmt: skip
PHRASE = "turn on the kitchen lights"


@dataclass(frozen=True)
class Target:
    """What a service may answer, and how to check it still does its job."""

    command: str
    answers: frozenset[str]


TARGETS = {
    "asr": Target("asr", frozenset({"info", "error", "transcript-start", "transcript-chunk", "transcript", "transcript-stop"})),
    "tts": Target("tts", frozenset({"info", "error", "audio-start", "audio-chunk", "audio-stop", "synthesize-stopped"})),
    "handle": Target("handle", frozenset({"info", "error", "handled-start", "handled-chunk", "handled", "handled-stop", "not-handled"})),
}  # fmt: skip


@pytest.fixture(scope="module", params=sorted(TARGETS))
def target(request, module_servers) -> tuple[Target, ServerProcess]:
    spec = TARGETS[request.param]
    args = ["--max-payload-bytes", str(CAP)]
    if spec.command == "handle":  # no index: answers come from the LLM alone, which is enough here
        args += ["--models-dir", str(request.getfixturevalue("llm_models_dir")), "--llm-timeout", "120"]
    server = module_servers(spec.command, *args)
    return spec, server


# --- strategies ---------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=6,
)
EVENT_TYPES = [
    "describe", "transcribe", "audio-start", "audio-chunk", "audio-stop", "synthesize", "synthesize-start",
    "synthesize-chunk", "synthesize-stop", "transcript", "info", "error", "ping", "run-pipeline", "handled",
]  # fmt: skip
AUDIO_TYPES = {"audio-start", "audio-chunk", "audio-stop"}
RATES = st.sampled_from([8000, 16000, 22050, 44100, 48000]) | st.integers(-10, 400_000) | JSON
WIDTHS = st.sampled_from([1, 2, 3, 4]) | st.integers(-2, 9) | JSON
CHANNELS = st.sampled_from([1, 2]) | st.integers(-2, 9) | JSON
TEXTS = (
    st.text(max_size=200)
    | st.text(st.characters(codec="utf-8"), max_size=50)
    | st.sampled_from(["", "\x00\x01\x1b[31m", "\ud7ff\ue000\U0010ffff", "a" * 5000, "what is the capital of france"])
)
PAYLOADS = st.just(b"") | st.binary(max_size=256) | st.integers(0, 16000).map(bytes)  # random, or silence


@st.composite
def event_frame(draw) -> bytes:
    """One well-formed frame whose content is anything from sensible to nonsense."""
    kind = draw(st.sampled_from(EVENT_TYPES) | st.text(max_size=12))
    if kind in AUDIO_TYPES:
        data = draw(
            st.fixed_dictionaries(
                {}, optional={"rate": RATES, "width": WIDTHS, "channels": CHANNELS, "timestamp": JSON}
            )
        )
    elif kind in ("transcribe", "synthesize", "synthesize-chunk", "transcript", "handled"):
        data = draw(st.fixed_dictionaries({}, optional={"text": TEXTS | JSON, "language": TEXTS | JSON,
                                                         "name": TEXTS, "voice": JSON, "context": JSON}))  # fmt: skip
    else:
        data = draw(st.dictionaries(st.text(max_size=8), JSON, max_size=3))
    payload = draw(PAYLOADS) if kind == "audio-chunk" else draw(st.just(b"") | st.binary(max_size=32))
    return encode(kind, data, payload, inline=draw(st.booleans()))


def encode(kind: str, data: dict, payload: bytes, inline: bool = False) -> bytes:
    header: dict = {"type": kind, "version": "1.10.2"}
    block = b""
    if data and inline:
        header["data"] = data
    elif data:
        block = json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass")
        header["data_length"] = len(block)
    if payload:
        header["payload_length"] = len(payload)
    line = json.dumps(header, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return line + b"\n" + block + payload


BAD_LENGTHS = st.sampled_from([-1, CAP + 1, 2**63, 1.5, "10", None, True, [], {}]) | st.integers(0, CAP)


@st.composite
def broken_frame(draw) -> bytes:
    """A frame that breaks the framing rules in one of the ways clients (or attackers) do."""
    how = draw(st.sampled_from(["garbage", "bad-length", "bad-type", "bad-data", "no-newline", "bad-block"]))
    if how == "garbage":
        return draw(st.binary(min_size=1, max_size=200)) + b"\n"
    if how == "bad-length":
        key = draw(st.sampled_from(["data_length", "payload_length"]))
        header = {"type": draw(st.sampled_from(EVENT_TYPES)), key: draw(BAD_LENGTHS)}
        return json.dumps(header).encode() + b"\n" + draw(st.binary(max_size=64))
    if how == "bad-type":
        return json.dumps({"type": draw(JSON)}).encode() + b"\n"
    if how == "bad-data":
        return json.dumps({"type": draw(st.sampled_from(EVENT_TYPES)), "data": draw(JSON)}).encode() + b"\n"
    if how == "no-newline":
        return json.dumps({"type": "audio-chunk", "payload_length": 4}).encode()
    block = draw(st.binary(max_size=40))  # data block that may be neither JSON nor an object
    return json.dumps({"type": "transcribe", "data_length": len(block)}).encode() + b"\n" + block


@st.composite
def stream(draw) -> tuple[bytes, bool]:
    """A client's whole session: frames in any order, maybe broken, maybe cut short. (bytes, intact?)"""
    frames = draw(st.lists(event_frame(), min_size=1, max_size=6))
    intact = True
    if draw(st.integers(0, 2)) == 0:
        frames.insert(draw(st.integers(0, len(frames))), draw(broken_frame()))
        intact = False
    blob = b"".join(frames)
    mutation = draw(st.sampled_from(["none", "none", "truncate", "flip", "insert"]))
    if mutation == "truncate":
        blob = blob[: draw(st.integers(0, len(blob) - 1))]
    elif mutation == "flip":
        at = draw(st.integers(0, len(blob) - 1))
        blob = blob[:at] + bytes([blob[at] ^ draw(st.integers(1, 255))]) + blob[at + 1 :]
    elif mutation == "insert":
        at = draw(st.integers(0, len(blob)))
        blob = blob[:at] + draw(st.binary(min_size=1, max_size=20)) + blob[at:]
    return blob, intact and mutation == "none"


# --- invariants ---------------------------------------------------------------------------------


def check_answer(spec: Target, server: ServerProcess, sent: bytes, intact: bool) -> list:
    """The invariants every exchange must keep; returns the events the server sent."""
    received, _closed = exchange_bytes(server.port, sent, timeout=60)
    events = parse_frames(received)
    for event in events:
        assert event.type in spec.answers, f"{spec.command} answered with {event.type}"
        if event.type == "error":
            assert isinstance(event.data.get("text"), str) and event.data["text"]
            assert event.data.get("code") in ERROR_CODES, f"unexpected error {event.data}"
    assert server.proc.poll() is None, f"server died:\n{server.output()[-3000:]}"
    describe_sync(server.port, timeout=10)  # another connection is still served
    return events


@FUZZ
@given(session=stream())
def test_random_frame_streams(target, session) -> None:
    spec, server = target
    sent, intact = session
    events = check_answer(spec, server, sent, intact)
    if intact and not any(e.type == "error" for e in events):
        requests = parse_frames(sent)  # we sent well-formed frames: every request got its answer
        assert sum(e.type == "info" for e in events) == sum(r.type == "describe" for r in requests)
        if spec.command == "asr":
            assert sum(e.type == "transcript" for e in events) == sum(r.type == "audio-stop" for r in requests)


@st.composite
def audio_format(draw) -> tuple[object, object, object]:
    """Half the time a format the server must accept, half the time anything at all."""
    if draw(st.booleans()):
        return draw(st.integers(1000, 192_000)), draw(st.integers(1, 4)), draw(st.integers(1, 2))
    return draw(RATES), draw(st.integers(-1, 6) | JSON), draw(st.integers(-1, 4) | JSON)


def convertible(rate: object, width: object, channels: object, size: int) -> bool:
    return (
        all(isinstance(v, int) and not isinstance(v, bool) for v in (rate, width, channels))
        and 1000 <= rate <= 192_000  # type: ignore[operator]
        and 1 <= width <= 4  # type: ignore[operator]
        and 1 <= channels <= 2  # type: ignore[operator]
        and size % (width * channels) == 0  # type: ignore[operator]
    )


@FUZZ
@given(fmt=audio_format(), frames=st.integers(0, 4000), odd=st.integers(0, 3), start=st.booleans())
def test_random_audio_formats(target, fmt, frames, odd, start) -> None:
    """Any format and length: a transcript when the format is PCM we can convert, else `bad-audio`."""
    spec, server = target
    if spec.command != "asr":
        pytest.skip("audio input is ASR's")
    rate, width, channels = fmt
    frame_bytes = (width if isinstance(width, int) and 0 < width <= 8 else 1) * (
        channels if isinstance(channels, int) and 0 < channels <= 8 else 1  # not a frame of 10^18 bytes
    )
    size = frames * frame_bytes + odd
    data = {"rate": rate, "width": width, "channels": channels}
    sent = (encode("audio-start", data, b"") if start else b"") + encode("audio-chunk", data, bytes(size))
    sent += encode("audio-stop", {}, b"")
    events = check_answer(spec, server, sent, True)
    if convertible(rate, width, channels, size):
        hypothesis_event("transcribed")
        assert [e.type for e in events if e.type in ("transcript", "error")] == ["transcript"]
    else:
        hypothesis_event("refused")
        assert events[-1].type == "error" and events[-1].data["code"] == "bad-audio", events


LONG_TEXTS = st.sampled_from(["word " * 401, "Hello there. " * 1540, "x" * 20_001])  # over handle's, TTS's caps
ANY_TEXT = TEXTS | LONG_TEXTS | st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn"]), max_size=30)


async def speak(uri: str, text: str, pieces: list[str] | None) -> list:
    """One TTS request, whole (`synthesize`) or streamed (`pieces`); events up to the end or an error."""
    async with AsyncClient.from_uri(uri) as client:
        if pieces is None:
            await client.write_event(Synthesize(text=text).event())
            return await read_until(client, "audio-stop", timeout=300)
        await client.write_event(SynthesizeStart().event())
        for piece in pieces:
            await client.write_event(SynthesizeChunk(text=piece).event())
        await client.write_event(Synthesize(text=text).event())  # the back-compat copy HA sends
        await client.write_event(SynthesizeStop().event())
        return await read_until(client, "synthesize-stopped", timeout=300)


async def ask(uri: str, text: str) -> list:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Transcript(text=text, context={"conversation_id": "fuzz"}).event())
        return await read_until(client, "handled-stop", "not-handled", timeout=300)


def audio_blocks_are_whole(events: list) -> None:
    """audio-start, then only chunks, then audio-stop: possibly several blocks, never one left open."""
    open_block = False
    for event in events:
        if event.type == "audio-start":
            assert not open_block
            open_block = True
        elif event.type in ("audio-chunk", "audio-stop"):
            assert open_block, [e.type for e in events]
            open_block = event.type == "audio-chunk"
    assert not open_block, [e.type for e in events]


@settings(FUZZ, max_examples=max(8, EXAMPLES // 4))  # handle runs the LLM for each
@given(text=ANY_TEXT, cuts=st.none() | st.lists(st.integers(0, 10_000), max_size=6))
def test_random_texts(target, text: str, cuts: list[int] | None) -> None:
    """Any text, whole or streamed in arbitrary pieces: spoken (TTS) or answered (handle), else a clear error."""
    spec, server = target
    if spec.command == "asr":
        pytest.skip("text input is TTS's and handle's")
    if spec.command == "tts":
        assume(not 2000 < len(text) <= 20_000)  # would be spoken in full: minutes of audio, not a fuzz case
        pieces = (
            None
            if cuts is None
            else [text[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), None], strict=True)]
        )
        events = anyio.run(speak, server.uri, text, pieces)
        audio_blocks_are_whole(events if events[-1].type != "error" else events[:-1])
        if events[-1].type == "error":
            hypothesis_event(f"tts error {events[-1].data.get('code')}")
            assert events[-1].data.get("code") in {"empty-text", "text-too-long", "unsupported-language"}, events[-1]
            if events[-1].data["code"] == "text-too-long":
                assert len(text) > 20_000
        else:
            hypothesis_event("tts spoke" if any(e.type == "audio-chunk" for e in events) else "tts silent")
    else:
        events = anyio.run(ask, server.uri, text)
        final = [e for e in events if e.type in ("handled", "not-handled", "error")]
        assert len(final) == 1, [e.type for e in events]
        if final[0].type == "error":
            assert final[0].data.get("code") == "text-too-long" and len(text) > 2000, final[0]
        else:
            assert isinstance(final[0].data.get("text"), str)
        hypothesis_event(f"handle {final[0].type}")
    assert server.proc.poll() is None


def test_still_serves_real_requests_and_memory_is_bounded(target) -> None:
    """After all the fuzzing: the server does its job, and more abuse does not grow memory."""
    spec, server = target
    if spec.command == "asr":
        assert words(transcript_text(anyio.run(transcribe, server.uri, speech(PHRASE)))) >= {"kitchen", "lights"}
    elif spec.command == "tts":
        assert any(e.type == "audio-chunk" for e in anyio.run(speak, server.uri, "The kitchen lights are on.", None))
    else:
        assert [e for e in anyio.run(ask, server.uri, "What is the capital of France?") if e.type == "handled"]
    before = rss_mb(server.proc.pid)
    junk = [b"not json\n", encode("audio-chunk", {"rate": 16000, "width": 2, "channels": 1}, bytes(CAP))]
    for i in range(200):
        exchange_bytes(server.port, junk[i % 2] + b'{"type": "audio-chunk", "payload_length": 65536}\n' + bytes(1000))
    grown = rss_mb(server.proc.pid) - before
    assert grown < 32, f"RSS grew by {grown:.1f} MiB over 200 abusive connections"
