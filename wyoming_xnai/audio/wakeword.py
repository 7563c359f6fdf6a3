"""Wake-word detection with microWakeWord (PyPI `pymicro-wakeword`: its TFLite runtime and four models
ship in the wheel; nothing is downloaded).

A model is named by its built-in id (`okay_nabu`, `hey_jarvis`, `alexa`, `hey_mycroft`) or by the path
of a microWakeWord JSON config (with its .tflite beside it), so any trained model can be used. The
audio features are computed once and scored by every model; one model costs about 0.5 % of a core.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from wyoming_xnai.audio.format import BYTES_PER_SECOND


class UnknownWakeWord(ValueError):
    """A wake word that is neither a built-in model nor a readable microWakeWord config."""


@dataclass(frozen=True)
class WakeWordModel:
    """One wake-word model: its id (what `detection.name` carries), phrase, languages and config file."""

    id: str
    phrase: str
    languages: tuple[str, ...]
    config: Path


def builtin_dir() -> Path:
    import pymicro_wakeword

    return Path(pymicro_wakeword.__file__).parent / "models"


def builtin_models() -> list[WakeWordModel]:
    return [find_model(path.stem) for path in sorted(builtin_dir().glob("*.json"))]


def find_model(name: str) -> WakeWordModel:
    """A built-in model by id, or a microWakeWord JSON config by path."""
    is_path = name.endswith(".json")
    config = Path(name) if is_path else builtin_dir() / f"{name}.json"
    if not is_path and not config.is_file():
        known = ", ".join(sorted(p.stem for p in builtin_dir().glob("*.json")))
        raise UnknownWakeWord(f"unknown wake word '{name}' (built in: {known}; or a microWakeWord .json path)")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
        if data.get("type", "micro") != "micro" or not (config.parent / data["model"]).is_file():
            raise ValueError("not a microWakeWord config with its .tflite beside it")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise UnknownWakeWord(f"cannot use wake word model {name}: {err}") from None
    return WakeWordModel(
        id=config.stem,
        phrase=str(data.get("wake_word") or config.stem.replace("_", " ")),
        languages=tuple(data.get("trained_languages") or ["en"]),
        config=config,
    )


class WakeWordDetector:
    """Continuous detection of several wake words over 16 kHz mono 16-bit PCM.

    `feed` returns the id of a model that fired in that audio. A model that fired is quiet for
    `refractory` seconds of audio (it fires on several frames in a row for one utterance).
    """

    def __init__(self, models: list[WakeWordModel], refractory: float = 2.0) -> None:
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

        self.models = models
        self.refractory = refractory
        self._features = MicroWakeWordFeatures()
        self._detectors = [MicroWakeWord.from_config(model.config) for model in models]
        self._quiet_until = [0.0] * len(models)
        self.seconds = 0.0  # audio fed so far: the detector's clock

    def feed(self, pcm: bytes) -> str | None:
        fired: str | None = None
        for features in self._features.process_streaming(pcm):
            for i, detector in enumerate(self._detectors):
                if detector.process_streaming(features) and self.seconds >= self._quiet_until[i]:
                    self._quiet_until[i] = self.seconds + self.refractory
                    fired = fired or self.models[i].id
        self.seconds += len(pcm) / BYTES_PER_SECOND
        return fired

    def close(self) -> None:
        for detector in self._detectors:
            detector.close()
