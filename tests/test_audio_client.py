"""The shared audio and client layer, in process: the VAD segmenter's state machine (on a scripted
VAD), the ASR endpointer on real speech, the failover rule, and the satellite's ASR stream failing
over between two Wyoming servers on loopback (one of them breaks mid-utterance, as a crash would)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import anyio
import pytest
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStop
from wyoming.event import Event, async_read_event, async_write_event

from tests.support import LOOPBACK, silence, speech
from wyoming_xnai.asr.endpoint import Endpointer
from wyoming_xnai.audio.format import FRAME_BYTES
from wyoming_xnai.audio.segmenter import Segmenter, frames_for
from wyoming_xnai.client.failover import AllFailed, failover
from wyoming_xnai.settings import SatelliteSettings

pytestmark = pytest.mark.anyio
VOICED, QUIET = b"\x01" * FRAME_BYTES, bytes(FRAME_BYTES)


class ScriptedVad:
    """Speech probability 1 for a voiced test frame, 0 for silence."""

    def __call__(self, frame: bytes) -> float:
        return 1.0 if frame == VOICED else 0.0

    def reset(self) -> None:
        pass


def run(segmenter: Segmenter, frames: list[bytes]) -> list[tuple[int, str]]:
    return [(i, b) for i, f in enumerate(frames) if (b := segmenter.feed(f, i * 0.032))]


# --- segmenter --------------------------------------------------------------------------------
def test_frames_for_counts_whole_frames() -> None:
    assert frames_for(0.15) == 5 and frames_for(0.45) == 15 and frames_for(0.64) == 20 and frames_for(0) == 0


def test_segmenter_starts_after_min_speech_in_a_row_and_ends_after_the_silence() -> None:
    seg = Segmenter(ScriptedVad(), min_speech=0.15, end_silence=0.45, preroll=0.32)
    frames = [QUIET] * 20 + [VOICED] * 4 + [QUIET] + [VOICED] * 30 + [QUIET] * 15 + [QUIET] * 5
    events = run(seg, frames)
    assert events == [(29, "start"), (69, "end")]  # the 4 voiced frames broken by one quiet do not start it
    assert not seg.in_speech and len(seg.preroll) == 5  # the quiet frames after the end


def test_segmenter_keeps_the_preroll_and_tracks_silence() -> None:
    seg = Segmenter(ScriptedVad(), min_speech=0.1, end_silence=1.0, preroll=0.32)
    for frame in [QUIET] * 20 + [VOICED] * 4:
        boundary = seg.feed(frame)
    assert boundary == "start" and len(seg.preroll) == 10 and list(seg.preroll)[-4:] == [VOICED] * 4
    seg.feed(QUIET)
    seg.feed(QUIET)
    assert seg.silence == pytest.approx(0.064)
    seg.feed(VOICED)
    assert seg.silence == 0.0


def test_segmenter_cuts_an_utterance_at_max_seconds() -> None:
    seg = Segmenter(ScriptedVad(), min_speech=0.032, end_silence=1.0, max_seconds=0.64)
    assert run(seg, [VOICED] * 40) == [(0, "start"), (19, "end"), (20, "start"), (39, "end")]


def test_segmenter_total_start_counts_voiced_frames_not_in_a_row() -> None:
    seg = Segmenter(ScriptedVad(), min_speech=0.15, end_silence=0.2, continuous_start=False)
    assert run(seg, [VOICED, QUIET] * 5 + [QUIET] * 10)[0] == (8, "start")


def test_endpointer_ends_after_real_speech_and_gives_up_on_silence() -> None:
    pcm = silence(0.5) + speech("what is the capital of france") + silence(1.0)
    endpointer = Endpointer(end_silence=0.6, no_speech_timeout=3.0)
    ended_at = next(i for i in range(0, len(pcm), 2048) if endpointer.feed(pcm[i : i + 2048]))
    assert endpointer.speech_started
    assert len(pcm) - 32000 - 2048 <= ended_at < len(pcm)  # within the trailing second of silence
    quiet = Endpointer(end_silence=0.6, no_speech_timeout=1.0)
    assert not quiet.feed(silence(0.9)) and quiet.feed(silence(0.2)) and not quiet.speech_started


# --- failover ---------------------------------------------------------------------------------
async def test_failover_tries_candidates_in_order_until_one_works() -> None:
    tried: list[str] = []
    failures: list[str] = []

    async def attempt(name: str) -> str:
        tried.append(name)
        if name != "c":
            raise ConnectionRefusedError(name)
        return f"answer from {name}"

    def failed(name: str, err: BaseException) -> bool:
        failures.append(name)
        return True

    assert await failover(["a", "b", "c", "d"], attempt, failed) == "answer from c"
    assert tried == ["a", "b", "c"] and failures == ["a", "b"]


async def test_failover_stops_when_a_failure_rules_out_the_rest() -> None:
    async def attempt(name: str) -> str:
        raise TimeoutError(name)

    with pytest.raises(AllFailed) as caught:
        await failover(["a", "b"], attempt, lambda name, err: False)  # e.g. half the answer was spoken
    assert caught.value.tried == 1 and isinstance(caught.value.last, TimeoutError)
    with pytest.raises(AllFailed) as caught:
        await failover([], attempt)
    assert caught.value.tried == 0


async def test_failover_lets_a_bug_through() -> None:
    async def attempt(name: str) -> str:
        raise RuntimeError("a bug, not a service failure")

    with pytest.raises(RuntimeError):
        await failover(["a", "b"], attempt)


# --- the satellite's ASR stream across two servers ---------------------------------------------
Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def fake_service(serve: Serve) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(serve, LOOPBACK, 0)
    return server, f"tcp://{LOOPBACK}:{server.sockets[0].getsockname()[1]}"


async def test_asr_stream_replays_the_utterance_to_the_next_instance() -> None:
    from satellite.asr_stream import AsrStream
    from satellite.discovery import Directory

    received: list[int] = []

    async def dies_after_two_chunks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        chunks = 0
        while (event := await async_read_event(reader)) is not None:
            chunks += AudioChunk.is_type(event.type)
            if chunks == 2:
                writer.transport.abort()  # a crash: no goodbye
                return

    async def answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        audio = 0
        while (event := await async_read_event(reader)) is not None:
            if AudioChunk.is_type(event.type):
                audio += len(event.payload or b"")
            elif AudioStop.is_type(event.type):
                received.append(audio)
                context = {"asr": {"avg_logprob": -0.2, "no_speech_prob": 0.01}}
                await async_write_event(Transcript(text="heard it all", context=context).event(), writer)
                await async_write_event(Event(type="transcript-stop"), writer)
        writer.close()

    broken, broken_uri = await fake_service(dies_after_two_chunks)
    good, good_uri = await fake_service(answers)
    async with broken, good:
        settings = SatelliteSettings(satellite_asr_uri=[broken_uri, good_uri], satellite_timeout=5)
        directory = Directory(settings)
        stream = AsrStream(directory, settings)
        frames = [bytes([i]) * FRAME_BYTES for i in range(1, 11)]
        with anyio.fail_after(10):
            for frame in frames:
                await stream.send(frame)
                await anyio.sleep(0.01)  # let the broken server's abort reach us
            transcript = await stream.finish()
        await stream.aclose()
    assert transcript.text == "heard it all"
    assert received == [len(frames) * FRAME_BYTES]  # every frame, replayed once to the good one
    assert directory.endpoints[broken_uri].failures >= 1 and directory.endpoints[good_uri].healthy
    from satellite.asr_stream import confidence

    assert confidence(transcript) == {"avg_logprob": -0.2, "no_speech_prob": 0.01}


async def test_handle_gets_the_transcript_with_conversation_id_and_asr_confidence() -> None:
    """What our satellite sends to handle (the contract between branches): the transcript, the
    conversation id and the ASR's `context["asr"]`; the streamed answer comes back to the turn."""
    from wyoming.handle import Handled, HandledChunk

    from satellite.discovery import Directory
    from satellite.handle import HandleClient
    from satellite.turn import Turn

    requests: list[Event] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        event = await async_read_event(reader)
        assert event is not None
        requests.append(event)
        await async_write_event(HandledChunk(text="It is kept ").event(), writer)
        await async_write_event(HandledChunk(text="in the shed.").event(), writer)
        await async_write_event(Handled(text="It is kept in the shed.").event(), writer)
        writer.close()

    server, uri = await fake_service(handle)
    async with server:
        settings = SatelliteSettings(satellite_handle_uri=[uri], satellite_timeout=5)
        directory = Directory(settings)
        client = HandleClient(directory, 5, "en")
        turn = Turn(speech_start=0.0, transcript="where is the garden tap key", asr_context={"avg_logprob": -0.3})
        send, recv = anyio.create_memory_object_stream[str](10)
        with anyio.fail_after(10):
            await client.answer(turn, "secret-conversation", directory.candidates("handle"), send)
            pieces = [text async for text in recv]
    assert pieces == ["It is kept ", "in the shed."] and turn.answer == "It is kept in the shed."
    sent = Transcript.from_event(requests[0])
    assert sent.text == "where is the garden tap key" and sent.language == "en"
    assert sent.context == {"conversation_id": "secret-conversation", "asr": {"avg_logprob": -0.3}}
