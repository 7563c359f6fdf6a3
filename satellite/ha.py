"""Home Assistant mode (`--ha`): a Wyoming satellite server that Home Assistant drives (WYOMING_PROTOCOL.md 4.7).

Home Assistant connects, sends `run-satellite`, pings every few seconds and runs the ASR/handle/TTS
pipeline itself. The satellite listens for its wake word on the device; when it hears it, it sends
`detection` and `run-pipeline` (asr -> tts), the audio from just before the detection and then live
audio until the VAD hears the end (`audio-stop`). It plays what HA sends back (answers, announcements)
and answers `played`; the wake or stop word stops playback, and a ringing timer, at once. With
`--wake-word none` the VAD alone starts a pipeline. One HA connection owns the mic at a time; a newer
one takes over (HA reconnects).
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
from wyoming.info import Info, Satellite
from wyoming.ping import Ping, Pong
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.snd import Played
from wyoming.tts import Synthesize

from satellite.audio import Speaker
from satellite.feedback import done, played
from satellite.ha_mic import HaMic
from satellite.timers import Timers
from satellite.wake import wake_models
from wyoming_xnai.server.bootstrap import run
from wyoming_xnai.server.handler import ServiceHandler
from wyoming_xnai.server.logs import private
from wyoming_xnai.server.service import Service, program_fields
from wyoming_xnai.settings import SatelliteSettings

_LOGGER = logging.getLogger(__name__)
PING_SECONDS = 2.0
PONG_TIMEOUT = 5.0


class SatelliteService(Service):
    """The satellite as a bootstrap service: bind, zeroconf advertising and signals come for free."""

    name = "satellite"

    def __init__(self, settings: SatelliteSettings, uri: str) -> None:
        super().__init__(settings, uri)
        self.speaker = Speaker(settings)
        self.owner: HaHandler | None = None
        self._info = Info(
            satellite=Satellite(
                **program_fields(settings.satellite_name or f"xnai-satellite-{socket.gethostname()}", "xnai satellite"),
                area=settings.satellite_area,
                has_vad=True,
                active_wake_words=[model.id for model in wake_models(settings)] or None,
                max_active_wake_words=len(settings.satellite_wake_word),
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
        self.mic = HaMic(self)
        self.timers = Timers(svc.settings, svc.speaker)
        self._audio: MemoryObjectSendStream[AudioChunk] | None = None
        self._playing: anyio.CancelScope | None = None
        self._skip_audio = False  # the rest of an interrupted sound is dropped
        self.last_pong: float | None = None  # set once HA pinged us: then we ping it too

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            if self.svc.owner is self:
                self.svc.owner = None

    async def handle(self, event: Event) -> bool:
        if RunSatellite.is_type(event.type):
            self.mic.start()
        elif PauseSatellite.is_type(event.type):
            self.mic.stop()
        elif Ping.is_type(event.type):
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
            self._start_pinging()
        elif Pong.is_type(event.type):
            self.last_pong = time.monotonic()
        elif Transcript.is_type(event.type):
            _LOGGER.info("HA transcript: %r", private(Transcript.from_event(event).text))
            if await self.mic.end_pipeline():
                self.tasks.start_soon(done, self.settings, self.svc.speaker)
        elif Error.is_type(event.type):
            _LOGGER.warning("HA pipeline error: %s", Error.from_event(event).text)
            await self.mic.end_pipeline()
            self.mic.busy_until = 0.0
        elif Synthesize.is_type(event.type):
            _LOGGER.info("HA answer: %r", private(Synthesize.from_event(event).text))
        elif not self.timers.on_event(event, self.tasks):
            await self._on_audio(event)
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
                self.mic.stop()
                self.tasks.cancel_scope.cancel()
                return
            try:
                await self.write_event(Ping().event())
            except (ConnectionError, RuntimeError):
                return

    # --- HA -> speaker -----------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self._playing is not None

    async def _on_audio(self, event: Event) -> None:
        if AudioStart.is_type(event.type):
            self._skip_audio = False
            await self._start_playback()
        elif AudioChunk.is_type(event.type) and not self._skip_audio:
            if self._audio is None:
                await self._start_playback()
            assert self._audio is not None
            await self._audio.send(AudioChunk.from_event(event))
        elif AudioStop.is_type(event.type):
            self._skip_audio = False
            if self._audio is not None:
                await self._audio.aclose()
                self._audio = None

    async def _start_playback(self) -> None:
        if self._audio is not None:
            await self._audio.aclose()
        send, recv = anyio.create_memory_object_stream[AudioChunk](1024)
        self._audio = send
        self._playing = anyio.CancelScope()
        self.tasks.start_soon(self._play, recv, self._playing)

    def stop_playback(self) -> bool:
        """The wake or stop word: silence now, drop the rest of the sound; True if something played."""
        if self._playing is None:
            return False
        self._playing.cancel()
        self._playing = None
        if self._audio is not None:
            self._audio.close()
            self._audio = None
            self._skip_audio = True
        return True

    async def _play(self, recv: MemoryObjectReceiveStream[AudioChunk], scope: anyio.CancelScope) -> None:
        """Plays one answer or announcement in its own task, so pings (and the wake word) are handled
        while it plays; then `played`, also when it was cut short."""
        with scope:
            async with recv, self.svc.speaker.play() as playback:
                async for chunk in recv:
                    await playback.write(chunk)
                await playback.drain()
        if self._playing is scope:
            self._playing = None
        self.mic.deaf_until = time.monotonic() + self.settings.satellite_refractory
        self.mic.busy_until = 0.0
        try:
            await self.write_event(Played().event())
        except (ConnectionError, RuntimeError):
            return
        await played(self.settings, self.svc.speaker)


def main(settings: SatelliteSettings) -> int:
    return run([SatelliteService(settings, settings.satellite_uri)], settings)
