"""`xnai wake`: a Wyoming wake-word service, as Home Assistant uses one (WYOMING_PROTOCOL.md 4.6).

detect {names} -> audio-start -> audio-chunk* ... -> detection {name, timestamp} for each time a wake
word is heard (then it keeps listening), and not-detected at audio-stop if none was. Home Assistant
never sends audio-stop: it closes the connection once it has its detection.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import Attribution, Info, WakeModel, WakeProgram
from wyoming.wake import Detect, Detection, NotDetected

from wyoming_xnai.audio.convert import BadAudio, ToInternalFormat
from wyoming_xnai.audio.wakeword import UnknownWakeWord, WakeWordDetector, WakeWordModel, builtin_models, find_model
from wyoming_xnai.errors import UserError
from wyoming_xnai.server.bootstrap import run
from wyoming_xnai.server.handler import ServiceHandler
from wyoming_xnai.server.metrics import REQUESTS
from wyoming_xnai.server.service import Service, model_fields, program_fields
from wyoming_xnai.settings import WakeSettings

_LOGGER = logging.getLogger(__name__)
MICRO_WAKE_WORD = Attribution(name="microWakeWord (Kevin Ahrendt)", url="https://github.com/kahrendt/microWakeWord")


def configured_models(names: list[str]) -> list[WakeWordModel]:
    """The models the service offers: the given ones, or every built-in model."""
    try:
        return [find_model(name) for name in names] if names else builtin_models()
    except UnknownWakeWord as err:
        raise UserError(str(err)) from None


class WakeService(Service):
    name = "wake"

    def __init__(self, settings: WakeSettings, uri: str) -> None:
        super().__init__(settings, uri)
        self.models = configured_models(settings.wake_models)
        self.by_id = {model.id: model for model in self.models}
        self._info = Info(
            wake=[
                WakeProgram(
                    **program_fields("xnai-wake", "xnai wake word (microWakeWord)"),
                    models=[
                        WakeModel(
                            **model_fields(model.id, model.phrase, MICRO_WAKE_WORD, list(model.languages)),
                            phrase=model.phrase,
                        )
                        for model in self.models
                    ],
                )
            ]
        )

    @property
    def model_name(self) -> str:
        return ",".join(self.by_id)

    def info(self) -> Info:
        return self._info

    def load(self) -> None:
        """Load every model once, so a broken one is reported at start, not at the first detect."""
        WakeWordDetector(self.models).close()

    def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> WakeHandler:
        return WakeHandler(reader, writer, self)


class WakeHandler(ServiceHandler[WakeService]):
    """One audio stream. Detection is cheap (well under a millisecond per chunk and model), so it runs
    right here on the event loop instead of paying a thread hop per chunk."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, svc: WakeService) -> None:
        super().__init__(reader, writer, svc)
        self.wanted: list[WakeWordModel] = svc.models
        self.detector: WakeWordDetector | None = None
        self.converter = ToInternalFormat()
        self.detected = False

    async def handle(self, event: Event) -> bool:
        if Detect.is_type(event.type):
            return await self._on_detect(Detect.from_event(event).names)
        if AudioStart.is_type(event.type):
            self._start()
        elif AudioChunk.is_type(event.type):
            return await self._on_chunk(event)
        elif AudioStop.is_type(event.type):
            if not self.detected:
                await self.write_event(NotDetected().event())
            self._stop()
        return True

    async def _on_detect(self, names: list[str] | None) -> bool:
        unknown = [name for name in names or [] if name not in self.svc.by_id]
        if unknown:
            await self.send_error("unknown-wake-word", f"unknown wake word {', '.join(unknown)} (see describe)")
            return True
        self.wanted = [self.svc.by_id[name] for name in names] if names else self.svc.models
        self._stop()
        return True

    def _start(self) -> None:
        self._stop()
        self.detector = WakeWordDetector(self.wanted, self.settings.wake_refractory)
        self.converter = ToInternalFormat()
        self.detected = False

    def _stop(self) -> None:
        if self.detector is not None:
            self.detector.close()
            self.detector = None

    async def _on_chunk(self, event: Event) -> bool:
        if self.svc.load_error:
            await self.send_error("model-unavailable", self.svc.load_error)
            return False
        if self.detector is None:
            self._start()  # audio-start is optional: a stream may begin with its first chunk
        assert self.detector is not None
        try:
            pcm = self.converter.convert_event(event)
        except BadAudio as err:
            await self.send_error("bad-audio", str(err))
            return False
        name = self.detector.feed(pcm)
        if name is not None:
            self.detected = True
            REQUESTS.labels("wake", "detection").inc()
            _LOGGER.info("wake: detected %s", name)
            await self.write_event(Detection(name=name, timestamp=event.data.get("timestamp")).event())
        return True

    async def disconnect(self) -> None:
        self._stop()


def main(settings: WakeSettings, args: argparse.Namespace) -> int:
    return run([WakeService(settings, settings.wake_uri)], settings)
