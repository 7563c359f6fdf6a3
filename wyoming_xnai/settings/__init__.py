"""Settings, one section per component; each component is built with its own section only.

Every field is an environment variable (`XNAI_<FIELD>`, also read from `.env`) and a CLI flag. A service's
fields carry its name as prefix (`asr_model` -> `XNAI_ASR_MODEL`): the single-service commands show them
without it (`xnai asr --model`), `xnai serve` with it (`--asr-model`). A service's section includes the
shared sections it stands on (`AsrSettings` is a `ServerSettings`, which has the paths and the logs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from wyoming_xnai.settings.asr import AsrSettings
from wyoming_xnai.settings.handle import HandleSettings
from wyoming_xnai.settings.ingest import EmbedSettings, IngestSettings
from wyoming_xnai.settings.satellite import SatelliteSettings
from wyoming_xnai.settings.section import MiB, Section
from wyoming_xnai.settings.serve import ServeSettings
from wyoming_xnai.settings.server import LogSettings, MetricsSettings, PathSettings, ServerSettings
from wyoming_xnai.settings.tts import TtsSettings
from wyoming_xnai.settings.wake import WakeSettings

__all__ = [
    "AsrSettings", "EmbedSettings", "HandleSettings", "IngestSettings", "LogSettings", "MetricsSettings", "MiB",
    "PathSettings", "SatelliteSettings", "Section", "ServeSettings", "ServerSettings", "Settings", "TtsSettings",
    "WakeSettings",
]  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """The section of every service, for the commands that run or list several (`xnai serve`, `xnai models`)."""

    serve: ServeSettings
    asr: AsrSettings
    tts: TtsSettings
    handle: HandleSettings
    wake: WakeSettings

    sections: ClassVar[tuple[type[Section], ...]] = (
        ServeSettings, AsrSettings, TtsSettings, HandleSettings, WakeSettings
    )

    @classmethod
    def load(cls, given: Mapping[str, Any]) -> Settings:
        """Every section from the same given values (a shared one such as `data_dir` goes to each)."""
        return cls(*(section.load(given) for section in cls.sections))
