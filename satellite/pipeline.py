"""The satellite's own pipeline: wake word -> ASR (streamed while the user speaks) -> handle -> TTS -> speaker.

The microphone is read all the time. While waiting, only the wake-word model runs; after the wake
word (or, with `--wake-word none`, on any speech) one utterance is listened to, and its answer plays
in a task of its own while the mic goes on: the wake word (or a stop word) stops it at once. After an
answer, speech within `--follow-up` seconds is taken without the wake word, in the same conversation.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import suppress

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from satellite.answer import Answer
from satellite.audio import MicFailed, Speaker, mic_frames
from satellite.conversation import Conversation
from satellite.discovery import Directory
from satellite.feedback import awake, played
from satellite.hearing import speech_segmenter
from satellite.listen import Frame, Listener, Start
from satellite.turn import Turn
from satellite.wake import Heard, WakeListener
from wyoming_xnai.server.logs import setup_logging
from wyoming_xnai.server.tracing import setup_tracing
from wyoming_xnai.settings import SatelliteSettings

_LOGGER = logging.getLogger(__name__)
MIC_BUFFER_FRAMES = 512  # ~16 s; frames beyond it are dropped if the loop falls behind
WAKE_PHRASE_SECONDS = 8.0  # after a bare `--wake-phrase`: the question may follow a pause


class Satellite:
    """The main loop: what each mic frame means depends on whether an answer is running."""

    def __init__(
        self, settings: SatelliteSettings, directory: Directory, speaker: Speaker, on_turn: Callable[[Turn], None] | None = None
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.speaker = speaker
        self.ears = WakeListener(settings)
        self.segmenter = speech_segmenter(settings)
        conversation = Conversation(settings.satellite_conversation_idle)
        self.listener = Listener(settings, directory, speaker, self.ears, self.segmenter, conversation)
        self.on_turn = on_turn
        self.answer: Answer | None = None
        self.awake_until = 0.0  # speech is taken without the wake word until then
        self.deaf_until = 0.0  # the speaker may still ring in the room until then
        self.turns: list[Turn] = []
        self._tasks: TaskGroup | None = None

    async def run(self, frames: MemoryObjectReceiveStream[Frame]) -> None:
        async with frames, anyio.create_task_group() as tg:
            self._tasks = tg
            async for captured, frame in frames:
                if self.answer is not None and self.answer.finished.is_set() and self._settle():
                    break  # --once: answered
                start = await self._start(self.ears.feed(frame, captured), captured, frame)
                if start is not None:
                    self.answer = await self._listen(start, frames, tg)
                    self.segmenter.reset()
            if self.answer is not None:
                await self.answer.finished.wait()  # the mic ended: let the last answer play out
                self._settle()

    async def _listen(self, start: Start, frames: MemoryObjectReceiveStream[Frame], tg: TaskGroup) -> Answer | None:
        try:
            return await self.listener.listen(start, frames, tg)
        except Exception:  # a bug in one turn must not end the satellite
            _LOGGER.exception("the turn failed; listening again")
            return None

    async def _start(self, heard: Heard | None, captured: float, frame: bytes) -> Start | None:
        """Whether this frame opens an utterance: a wake word (also over a running answer), or speech
        while awake (after an answer, or always with `--wake-word none`)."""
        if self.answer is not None and not self.answer.finished.is_set():
            if heard is None:
                return None  # the room hears our own answer: only the wake or stop word counts
            await self._interrupt(heard)
            if heard.kind == "stop":
                self.awake_until = time.monotonic() + self.settings.satellite_follow_up
                return None
        if heard is not None and heard.kind == "wake":
            self.segmenter.reset()
            return Start(at=captured, preroll=self.ears.preroll(), wake_word=heard.name)
        awake = captured <= self.awake_until
        if captured < self.deaf_until or (self.ears.enabled and not awake):
            return None
        if self.segmenter.feed(frame, captured) != "start":
            return None
        _LOGGER.info("speech started%s", " (follow-up)" if awake else "")
        return Start(at=captured, preroll=list(self.segmenter.preroll), awake=awake)

    async def _interrupt(self, heard: Heard) -> None:
        assert self.answer is not None
        await self.answer.stop()
        turn = self.answer.turn
        turn.interrupted_at = time.monotonic()
        turn.interrupt_heard_at = heard.at
        _LOGGER.info("interrupted by the %s word %s: playback stopped", heard.kind, heard.name)
        self._settle()

    def _settle(self) -> bool:
        """Bookkeeping once an answer is over; True when `--once` is satisfied."""
        answer, self.answer = self.answer, None
        assert answer is not None and self._tasks is not None
        now = time.monotonic()
        self.deaf_until = now + self.settings.satellite_refractory
        self.segmenter.reset()
        if answer.outcome == "not-for-me":
            return False
        if answer.outcome == "awake":
            self.awake_until = now + WAKE_PHRASE_SECONDS
            return False
        turn = answer.turn
        if answer.outcome == "answered":
            self._tasks.start_soon(played, self.settings, self.speaker)
            if self.settings.satellite_follow_up and turn.answer:
                self.awake_until = self.deaf_until + self.settings.satellite_follow_up
                if turn.answer.rstrip().endswith("?"):  # it asked something back: we are listening
                    self._tasks.start_soon(awake, self.settings, self.speaker)
        self.turns.append(turn)
        if self.on_turn is not None:
            self.on_turn(turn)
        return self.settings.satellite_once and bool(turn.answer)


async def pump_mic(settings: SatelliteSettings, send: MemoryObjectSendStream[Frame]) -> None:
    """Mic frames into a bounded buffer; the mic is never blocked by a slow loop (frames are dropped).
    It ends when the mic does, or when the pipeline has stopped reading (`--once` is done)."""
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
        except anyio.BrokenResourceError:
            return


def build_satellite(settings: SatelliteSettings, on_turn: Callable[[Turn], None] | None = None) -> Satellite:
    return Satellite(settings, Directory(settings), Speaker(settings), on_turn)


async def run_satellite(
    settings: SatelliteSettings,
    on_turn: Callable[[Turn], None] | None = None,
    frames: AsyncIterator[bytes] | None = None,
    satellite: Satellite | None = None,
) -> Satellite:
    """Discovery, mic and pipeline together until the mic ends, `--once` is satisfied, or a signal.
    `frames` replaces the mic, `satellite` one built beforehand (benchmarks watch it while it runs)."""
    satellite = satellite or build_satellite(settings, on_turn)
    send, recv = anyio.create_memory_object_stream[Frame](MIC_BUFFER_FRAMES)
    async with anyio.create_task_group() as tg:
        await tg.start(satellite.directory.run)
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
        with suppress(anyio.BrokenResourceError):  # the pipeline stopped reading (`--once` is done)
            async for frame in frames:
                await send.send((time.monotonic(), frame))


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            _LOGGER.info("received %s, stopping", signal.Signals(signum).name)
            scope.cancel()
            return


def main(settings: SatelliteSettings) -> int:
    setup_logging(settings.debug, settings.log_format, settings.log_text)
    provider = setup_tracing(settings.otlp_endpoint)
    try:
        satellite = anyio.run(run_satellite, settings, backend="asyncio")
    finally:
        if provider is not None:
            provider.shutdown()
    if settings.satellite_once or settings.satellite_mic_wav is not None:
        return 0 if any(t.answer for t in satellite.turns) else 1
    return 0
