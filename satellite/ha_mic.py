"""The microphone in Home Assistant mode: wake word on the device, then the pipeline's audio to HA."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import anyio
from wyoming.audio import AudioStop
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.wake import Detection

from satellite.audio import MicFailed, mic_frames
from satellite.feedback import awake, done
from satellite.hearing import speech_segmenter
from satellite.wake import Heard, WakeListener
from wyoming_xnai.audio.format import audio_chunk

if TYPE_CHECKING:
    from satellite.ha import HaHandler

_LOGGER = logging.getLogger(__name__)


class HaMic:
    """Streams to HA only from our own wake word (or, with `--wake-word none`, from speech) to the end
    of the utterance; the wake and stop words also silence what is playing and a ringing timer."""

    def __init__(self, handler: HaHandler) -> None:
        self.handler = handler
        self.settings = handler.settings
        self.ears = WakeListener(self.settings)
        self.segmenter = speech_segmenter(self.settings)
        self._scope: anyio.CancelScope | None = None
        self.streaming = False  # audio is going to HA for a pipeline run
        self.heard_speech = False  # the VAD heard the user in this run (after the wake word)
        self.give_up_at = 0.0  # no speech after the wake word by then: end the run
        self.busy_until = 0.0  # a pipeline run is in progress: do not start another
        self.deaf_until = 0.0  # refractory period after playback

    def start(self) -> None:
        if self._scope is not None:
            return
        previous = self.handler.svc.owner
        if previous is not None and previous is not self.handler:
            _LOGGER.info("a new Home Assistant connection takes over the satellite")
            previous.mic.stop()
        self.handler.svc.owner = self.handler
        self._scope = anyio.CancelScope()
        self.handler.tasks.start_soon(self._run, self._scope)

    def stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            self._scope = None
        self.streaming = False

    async def _run(self, scope: anyio.CancelScope) -> None:
        with scope:
            try:
                async for frame in mic_frames(self.settings):
                    await self._on_frame(frame, time.monotonic())
            except MicFailed as err:
                _LOGGER.error("%s", err)
            except (ConnectionError, RuntimeError):
                _LOGGER.info("Home Assistant went away")

    async def _on_frame(self, frame: bytes, now: float) -> None:
        heard = self.ears.feed(frame, now)
        if heard is not None and await self._on_word(heard):
            return
        if self.streaming:
            await self._stream(frame, now)
        elif not self.ears.enabled and not self.handler.playing:
            if now < self.deaf_until or now < self.busy_until:
                self.segmenter.reset()
            elif self.segmenter.feed(frame, now) == "start":
                _LOGGER.info("speech started")
                self.heard_speech = True
                await self._run_pipeline(list(self.segmenter.preroll), now)

    async def _on_word(self, heard: Heard) -> bool:
        """A wake or stop word: it stops an alarm or playback first; a wake word then starts a run."""
        stopped = self.handler.timers.stop()  # a ringing alarm only needs stopping
        if not stopped and self.handler.stop_playback():
            _LOGGER.info("interrupted by the %s word %s: playback stopped", heard.kind, heard.name)
        if stopped or heard.kind != "wake" or self.streaming:
            return stopped
        self.segmenter.reset()
        preroll = self.ears.preroll()
        self.heard_speech = any([self.segmenter.feed(frame, heard.at) == "start" for frame in preroll])
        await self.handler.write_event(Detection(name=heard.name, timestamp=int(heard.at * 1000)).event())
        await self._run_pipeline(preroll, heard.at)
        return True

    async def _run_pipeline(self, preroll: list[bytes], now: float) -> None:
        self.streaming = True
        self.busy_until = now + self.settings.satellite_timeout * 2
        self.give_up_at = now + self.settings.satellite_wake_listen
        end = PipelineStage.TTS if self.handler.svc.speaker.enabled else PipelineStage.HANDLE
        _LOGGER.info("run-pipeline asr -> %s", end.value)
        await self.handler.write_event(RunPipeline(start_stage=PipelineStage.ASR, end_stage=end).event())
        if preroll:
            await self.handler.write_event(audio_chunk(b"".join(preroll)).event())
        self.handler.tasks.start_soon(awake, self.settings, self.handler.svc.speaker)

    async def _stream(self, frame: bytes, now: float) -> None:
        boundary = self.segmenter.feed(frame, now)
        self.heard_speech = self.heard_speech or boundary == "start"
        await self.handler.write_event(audio_chunk(frame).event())
        if boundary == "end":
            _LOGGER.info("speech ended")
            await self.end_pipeline()
            self.handler.tasks.start_soon(done, self.settings, self.handler.svc.speaker)
        elif not self.heard_speech and now > self.give_up_at:
            _LOGGER.info("nobody spoke after the wake word")
            await self.end_pipeline()

    async def end_pipeline(self) -> bool:
        """Stop streaming (the VAD heard the end, or HA has its transcript); True if we were streaming."""
        if not self.streaming:
            return False
        self.streaming = False
        self.segmenter.reset()
        await self.handler.write_event(AudioStop().event())
        return True
