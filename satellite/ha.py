"""Home Assistant mode (`--ha`): a Wyoming satellite server that Home Assistant drives (WYOMING_PROTOCOL.md 4.7).

Home Assistant connects, sends `run-satellite`, pings every few seconds and runs the ASR/handle/TTS
pipeline itself. We only listen: local Silero VAD starts a `run-pipeline` (asr -> tts) and streams the
pre-roll and live audio until the speaker stops (then `audio-stop`), play the audio HA sends back, and
answer `played`. One HA connection owns the mic at a time; a newer one takes over (HA reconnects).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Info, Satellite
from wyoming.ping import Ping, Pong
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.snd import Played
from wyoming.tts import Synthesize

from satellite.audio import MicFailed, Speaker, mic_frames
from satellite.feedback import feedback
from satellite.hearing import speech_segmenter
from wyoming_xnai import __version__
from wyoming_xnai.audio.format import audio_chunk
from wyoming_xnai.audio.segmenter import Segmenter
from wyoming_xnai.server.bootstrap import Service, run
from wyoming_xnai.server.handler import ServiceHandler
from wyoming_xnai.settings import Settings

_LOGGER = logging.getLogger(__name__)
XNAI = Attribution(name="xnai", url="")
PING_SECONDS = 2.0
PONG_TIMEOUT = 5.0


class SatelliteService(Service):
    """The satellite as a bootstrap service: bind, zeroconf advertising and signals come for free."""

    name = "satellite"

    def __init__(self, settings: Settings, uri: str) -> None:
        super().__init__(settings, uri)
        self.speaker = Speaker(settings)
        self.owner: HaHandler | None = None
        self._info = Info(
            satellite=Satellite(
                name=settings.satellite_name or f"xnai-satellite-{socket.gethostname()}",
                description="xnai satellite",
                attribution=XNAI,
                installed=True,
                version=__version__,
                area=settings.satellite_area,
                has_vad=True,
            )
        )

    def info(self) -> Info:
        return self._info

    def load(self) -> None:
        """Nothing to load: the models live in the services Home Assistant uses."""

    def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> HaHandler:
        return HaHandler(reader, writer, self)


class HaHandler(ServiceHandler[SatelliteService]):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, svc: SatelliteService) -> None:
        super().__init__(reader, writer, svc)
        self._mic_scope: anyio.CancelScope | None = None
        self._audio: MemoryObjectSendStream[AudioChunk] | None = None
        self.streaming = False  # audio is going to HA for a pipeline run
        self.busy_until = 0.0  # a pipeline run is in progress: do not start another
        self.deaf_until = 0.0  # refractory period after playback
        self.last_pong: float | None = None  # set once HA pinged us: then we ping it too

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            if self.svc.owner is self:
                self.svc.owner = None

    async def handle(self, event: Event) -> bool:
        if RunSatellite.is_type(event.type):
            self._start_mic()
        elif PauseSatellite.is_type(event.type):
            self._stop_mic()
        elif Ping.is_type(event.type):
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
            self._start_pinging()
        elif Pong.is_type(event.type):
            self.last_pong = time.monotonic()
        elif Transcript.is_type(event.type):
            _LOGGER.info("HA transcript: %r", Transcript.from_event(event).text)
            await self._stop_streaming()
        elif Error.is_type(event.type):
            _LOGGER.warning("HA pipeline error: %s", Error.from_event(event).text)
            await self._stop_streaming()
            self.busy_until = 0.0
        elif Synthesize.is_type(event.type):
            _LOGGER.info("HA answer: %r", Synthesize.from_event(event).text)
        elif AudioStart.is_type(event.type):
            await self._start_playback()
        elif AudioChunk.is_type(event.type):
            if self._audio is None:
                await self._start_playback()
            assert self._audio is not None
            await self._audio.send(AudioChunk.from_event(event))
        elif AudioStop.is_type(event.type):
            if self._audio is not None:
                await self._audio.aclose()
                self._audio = None
        return True

    # --- keep-alive --------------------------------------------------------------------------
    def _start_pinging(self) -> None:
        """Like wyoming-satellite: once HA pings us, we ping it too, and drop it after 5 s of silence,
        so a vanished HA does not keep the mic streaming into a dead socket."""
        if self.last_pong is None:
            self.last_pong = time.monotonic()
            self.tasks.start_soon(self._ping_loop)

    async def _ping_loop(self) -> None:
        while True:
            await anyio.sleep(PING_SECONDS)
            assert self.last_pong is not None
            if time.monotonic() - self.last_pong > PONG_TIMEOUT:
                _LOGGER.warning("Home Assistant stopped answering pings; dropping the connection")
                self._stop_mic()
                self.tasks.cancel_scope.cancel()
                return
            try:
                await self.write_event(Ping().event())
            except (ConnectionError, RuntimeError):
                return

    # --- microphone -> HA --------------------------------------------------------------------
    def _start_mic(self) -> None:
        if self._mic_scope is not None:
            return
        previous = self.svc.owner
        if previous is not None and previous is not self:
            _LOGGER.info("a new Home Assistant connection takes over the satellite")
            previous._stop_mic()
        self.svc.owner = self
        self._mic_scope = anyio.CancelScope()
        self.tasks.start_soon(self._stream_mic, self._mic_scope)

    def _stop_mic(self) -> None:
        if self._mic_scope is not None:
            self._mic_scope.cancel()
            self._mic_scope = None
        self.streaming = False

    async def _stream_mic(self, scope: anyio.CancelScope) -> None:
        with scope:
            segmenter = speech_segmenter(self.settings)
            try:
                async for frame in mic_frames(self.settings):
                    await self._on_frame(segmenter, frame)
            except MicFailed as err:
                _LOGGER.error("%s", err)
            except (ConnectionError, RuntimeError):
                _LOGGER.info("Home Assistant went away")

    async def _on_frame(self, segmenter: Segmenter, frame: bytes) -> None:
        now = time.monotonic()
        if not self.streaming:
            if now < self.deaf_until or now < self.busy_until or self._audio is not None:
                segmenter.reset()
                return
            if segmenter.feed(frame, now) != "start":
                return
            self.streaming = True
            self.busy_until = now + self.settings.satellite_timeout * 2
            end = PipelineStage.TTS if self.svc.speaker.enabled else PipelineStage.HANDLE
            _LOGGER.info("speech started: run-pipeline asr -> %s", end.value)
            await self.write_event(RunPipeline(start_stage=PipelineStage.ASR, end_stage=end).event())
            await self._send_audio(b"".join(segmenter.preroll))
            self.tasks.start_soon(feedback, self.svc.speaker, self.settings.satellite_awake_command, None, "awake")
            return
        ended = segmenter.feed(frame, now) == "end"
        await self._send_audio(frame)
        if ended:
            _LOGGER.info("speech ended")
            await self._stop_streaming()
            self.tasks.start_soon(feedback, self.svc.speaker, self.settings.satellite_done_command, None, "done")

    async def _send_audio(self, pcm: bytes) -> None:
        if pcm:
            await self.write_event(audio_chunk(pcm).event())

    async def _stop_streaming(self) -> None:
        if self.streaming:
            self.streaming = False
            await self.write_event(AudioStop().event())

    # --- HA -> speaker -----------------------------------------------------------------------
    async def _start_playback(self) -> None:
        if self._audio is not None:
            await self._audio.aclose()
        send, recv = anyio.create_memory_object_stream[AudioChunk](1024)
        self._audio = send
        self.tasks.start_soon(self._play, recv)

    async def _play(self, recv: MemoryObjectReceiveStream[AudioChunk]) -> None:
        """Plays one answer in its own task, so pings are answered while it plays; then `played`."""
        async with recv:
            async with self.svc.speaker.play() as playback:
                async for chunk in recv:
                    await playback.write(chunk)
                await playback.drain()
        self.deaf_until = time.monotonic() + self.settings.satellite_refractory
        self.busy_until = 0.0
        try:
            await self.write_event(Played().event())
        except (ConnectionError, RuntimeError):
            return
        await feedback(self.svc.speaker, self.settings.satellite_played_command, None, "played")


def main(settings: Settings) -> int:
    return run([SatelliteService(settings, settings.satellite_uri)], settings)
