"""Settings of `xnai serve` itself (each service it runs gets its own section)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wyoming_xnai.settings.server import ServerSettings


class ServeSettings(ServerSettings):
    """Which services `xnai serve` runs in one process, besides what every server reads."""

    prefix = "serve"

    serve_services: list[Literal["asr", "tts", "handle", "wake"]] = Field(
        default_factory=lambda: ["asr", "tts", "handle", "wake"], description="Services `xnai serve` runs"
    )
    serve_prepare: bool = Field(
        True,
        description="With asr and handle both running: the ASR offers its own handle complete questions during the "
        "pause, so answers are prepared before the transcript arrives (an explicit --asr-prepare-uri wins)",
    )
