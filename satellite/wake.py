"""Always-on wake-word (and stop-word) detection on the satellite's microphone.

Every mic frame goes through microWakeWord (about 0.5 % of one core per model), whatever the satellite
is doing, so the wake word can also interrupt an answer. The last `--wake-preroll` seconds of audio
are kept: the detector fires a little after the wake word ends, and a user who goes straight on
("okay nabu what time is it") has already said the first word by then.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Literal

from wyoming_xnai.audio.format import FRAME_SECONDS
from wyoming_xnai.audio.wakeword import WakeWordDetector, WakeWordModel, find_model
from wyoming_xnai.settings import SatelliteSettings

_LOGGER = logging.getLogger(__name__)
REFRACTORY_SECONDS = 2.0  # a model fires on several frames in a row for one utterance


def wake_models(settings: SatelliteSettings) -> list[WakeWordModel]:
    """The wake words of `--wake-word`; none for `--wake-word none`. Raises UnknownWakeWord."""
    return [find_model(name) for name in settings.satellite_wake_word if name.lower() != "none"]


def stop_models(settings: SatelliteSettings) -> list[WakeWordModel]:
    return [find_model(name) for name in settings.satellite_stop_word]


@dataclass(frozen=True)
class Heard:
    """A wake or stop word, and the capture time of the frame in which it fired."""

    kind: Literal["wake", "stop"]
    name: str
    at: float


class WakeListener:
    def __init__(self, settings: SatelliteSettings) -> None:
        models = wake_models(settings)
        stops = stop_models(settings)
        self.enabled = bool(models)
        self._wake = WakeWordDetector(models, REFRACTORY_SECONDS) if models else None
        self._stop = WakeWordDetector(stops, REFRACTORY_SECONDS) if stops else None
        self.recent: deque[bytes] = deque(maxlen=max(1, round(settings.satellite_wake_preroll / FRAME_SECONDS)))
        self.phrases = {model.id: model.phrase for model in models}

    def feed(self, frame: bytes, captured: float) -> Heard | None:
        """One mic frame; what was heard in it, if anything."""
        self.recent.append(frame)
        heard = None
        if self._wake is not None and (name := self._wake.feed(frame)):
            heard = Heard("wake", name, captured)
        if self._stop is not None and (name := self._stop.feed(frame)):
            heard = heard or Heard("stop", name, captured)
        if heard is not None:
            _LOGGER.info("%s word: %s", heard.kind, heard.name)
        return heard

    def preroll(self) -> list[bytes]:
        """The audio just before and at the detection: the first words after the wake word."""
        frames = list(self.recent)
        self.recent.clear()
        return frames
