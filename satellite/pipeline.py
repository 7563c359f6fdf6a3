"""The satellite's own pipeline: VAD -> ASR (streamed while the user speaks) -> handle -> TTS -> speaker.

Handle's streamed chunks go straight into a streaming TTS request, and TTS audio goes straight to the
speaker, so the first words play before the whole answer exists. Every service call has a timeout and
fails over to another instance of the same service (ASR replays the utterance it buffered).
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import AsyncIterator, Callable

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from satellite.asr_stream import AsrStream, confidence
from satellite.audio import MicFailed, Speaker, mic_frames
from satellite.conversation import Conversation
from satellite.discovery import Directory, NoService
from satellite.feedback import feedback
from satellite.hearing import speech_segmenter
from satellite.respond import Responder
from satellite.turn import Turn
from satellite.wake_phrase import strip_wake_phrase
from wyoming_xnai.server.logs import setup_logging
from wyoming_xnai.server.tracing import setup_tracing
from wyoming_xnai.settings import Settings

_LOGGER = logging.getLogger(__name__)
Frame = tuple[float, bytes]  # (monotonic capture time, 512 samples of 16 kHz mono s16)
MIC_BUFFER_FRAMES = 512  # ~16 s; frames beyond it are dropped while a turn is busy


class Satellite:
    """The local pipeline loop: one turn at a time, the mic ignored while answering and just after."""

    def __init__(
        self,
        settings: Settings,
        directory: Directory,
        speaker: Speaker,
        on_turn: Callable[[Turn], None] | None = None,
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.speaker = speaker
        self.responder = Responder(directory, settings, speaker)
        self.segmenter = speech_segmenter(settings)
        self.conversation = Conversation(settings.satellite_conversation_idle)
        self.on_turn = on_turn
        self.deaf_until = 0.0
        self.awake_until = 0.0
        self.turns: list[Turn] = []

    async def run(self, frames: MemoryObjectReceiveStream[Frame]) -> None:
        async with frames:
            async for captured, frame in frames:
                if captured < self.deaf_until:
                    continue
                if self.segmenter.feed(frame, captured) != "start":
                    continue
                try:
                    turn = await self._turn(captured, frames)
                except Exception:  # a bug in one turn must not end the satellite
                    _LOGGER.exception("the turn failed; listening again")
                    turn = None
                self.deaf_until = time.monotonic() + self.settings.satellite_refractory
                self.segmenter.reset()
                if turn is None:
                    continue
                self.turns.append(turn)
                if self.on_turn is not None:
                    self.on_turn(turn)
                if self.settings.satellite_once and turn.answer:
                    return

    async def _turn(self, started: float, frames: MemoryObjectReceiveStream[Frame]) -> Turn | None:
        """Listen until the endpoint. With `--speculate`, the answer is prepared from the first short
        pause on and played only at the endpoint; if the user speaks again it is dropped unheard."""
        settings = self.settings
        segmenter = self.segmenter
        turn = Turn(speech_start=started)
        _LOGGER.info("speech started")
        asr = AsrStream(self.directory, settings)
        result: list[Turn | None] = []
        commit = anyio.Event()
        speculate = settings.satellite_speculate
        if not speculate or speculate >= settings.satellite_end_silence:
            speculate = None
        speculation: anyio.CancelScope | None = None
        finished = anyio.Event()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    feedback, self.speaker, settings.satellite_awake_command, settings.satellite_awake_wav, "awake"
                )
                await asr.send(b"".join(segmenter.preroll))
                async for captured, frame in frames:
                    ended = segmenter.feed(frame, captured) == "end"
                    await asr.send(frame)
                    if ended:
                        break
                    if speculation is None and speculate is not None and segmenter.silence >= speculate - 1e-9:
                        speculation, finished = anyio.CancelScope(), anyio.Event()
                        asr.pause()
                        tg.start_soon(self._answer, turn, asr, commit, result, speculation, finished)
                    elif speculation is not None and segmenter.silence == 0.0:
                        _LOGGER.info("speech resumed: the speculative answer is dropped")
                        speculation.cancel()
                        await finished.wait()
                        speculation = None
                        await asr.resume()
                        turn = Turn(speech_start=started)
                        result.clear()
                turn.endpoint = time.monotonic()
                turn.speech_end = segmenter.last_voiced_at
                commit.set()
                tg.start_soon(
                    feedback, self.speaker, settings.satellite_done_command, settings.satellite_done_wav, "done"
                )
                if speculation is None:
                    await self._answer(turn, asr, commit, result, anyio.CancelScope(), finished)
        finally:
            await asr.aclose()
        return result[0] if result else None

    async def _answer(
        self,
        turn: Turn,
        asr: AsrStream,
        commit: anyio.Event,
        result: list[Turn | None],
        scope: anyio.CancelScope,
        finished: anyio.Event,
    ) -> None:
        """Transcript -> (wake phrase) -> handle -> TTS -> speaker (which waits for `commit`)."""
        settings = self.settings
        try:
            with scope:
                turn.asr_stop_at = time.monotonic()
                try:
                    transcript = await asr.finish()
                except NoService as err:
                    _LOGGER.error("asr: %s", err)
                    turn.errors.append(str(err))
                    result.append(turn)
                    return
                turn.transcript = transcript.text.strip()
                turn.asr_context = confidence(transcript)
                turn.transcript_at = time.monotonic()
                turn.asr_uri = asr.endpoint.uri if asr.endpoint else ""
                _LOGGER.info("transcript: %r", turn.transcript)
                if not turn.transcript:
                    result.append(turn)
                    return
                if settings.satellite_wake_phrase and time.monotonic() > self.awake_until:
                    request = strip_wake_phrase(turn.transcript, settings.satellite_wake_phrase)
                    if request is None:
                        _LOGGER.info("not for me (no wake phrase)")
                        result.append(None)
                        return
                    if not request:
                        await commit.wait()
                        self.awake_until = time.monotonic() + 8.0  # "hey jarvis" ... pause ... the question
                        result.append(None)
                        return
                    turn.transcript = request
                await self.responder.respond(turn, self.conversation.current(), commit)
                await commit.wait()
                self.awake_until = 0.0
                turn.done_at = time.monotonic()
                _LOGGER.info("answer: %r", turn.answer)
                stages = ", ".join(f"{k} {v:.3f} s" for k, v in turn.stages().items())
                _LOGGER.info("timings: %s", stages)
                turn.record()
                result.append(turn)
                await feedback(self.speaker, settings.satellite_played_command, None, "played")
        finally:
            finished.set()


async def pump_mic(settings: Settings, send: MemoryObjectSendStream[Frame]) -> None:
    """Mic frames into a bounded buffer; the mic is never blocked by a slow turn (frames are dropped)."""
    dropped = 0
    async with send:
        try:
            async for frame in mic_frames(settings):
                try:
                    send.send_nowait((time.monotonic(), frame))
                except anyio.WouldBlock:
                    dropped += 1
                    if dropped % 100 == 1:
                        _LOGGER.debug("mic: dropped %d frames while busy", dropped)
        except MicFailed as err:
            _LOGGER.error("%s", err)


async def run_satellite(
    settings: Settings,
    on_turn: Callable[[Turn], None] | None = None,
    frames: AsyncIterator[bytes] | None = None,
) -> Satellite:
    """Discovery, mic and pipeline together until the mic ends, `--once` is satisfied, or a signal."""
    directory = Directory(settings)
    speaker = Speaker(settings)
    satellite = Satellite(settings, directory, speaker, on_turn)
    send, recv = anyio.create_memory_object_stream[Frame](MIC_BUFFER_FRAMES)
    async with anyio.create_task_group() as tg:
        await tg.start(directory.run)
        tg.start_soon(_stop_on_signal, tg.cancel_scope)
        if frames is None:
            tg.start_soon(pump_mic, settings, send)
        else:
            tg.start_soon(_pump_frames, frames, send)
        await satellite.run(recv)
        tg.cancel_scope.cancel()
    return satellite


async def _pump_frames(frames: AsyncIterator[bytes], send: MemoryObjectSendStream[Frame]) -> None:
    async with send:
        async for frame in frames:
            await send.send((time.monotonic(), frame))


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            _LOGGER.info("received %s, stopping", signal.Signals(signum).name)
            scope.cancel()
            return


def main(settings: Settings) -> int:
    setup_logging(settings.debug, settings.log_format)
    provider = setup_tracing(settings.otlp_endpoint)
    try:
        satellite = anyio.run(run_satellite, settings, backend="asyncio")
    finally:
        if provider is not None:
            provider.shutdown()
    if settings.satellite_once or settings.satellite_mic_wav is not None:
        return 0 if any(t.answer for t in satellite.turns) else 1
    return 0
