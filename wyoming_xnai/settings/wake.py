"""Settings of the wake-word server."""

from __future__ import annotations

from pydantic import Field

from wyoming_xnai.settings.fields import SecondsOrZero
from wyoming_xnai.settings.server import ServerSettings


class WakeSettings(ServerSettings):
    """What `xnai wake` reads: the wake words it offers, besides what every server reads."""

    prefix = "wake"

    wake_uri: str = Field("tcp://0.0.0.0:10400", description="Where the wake-word server listens")
    wake_models: list[str] = Field(
        default_factory=list,
        description="Wake-word models offered: built-in ids or microWakeWord .json paths (default: all built in)",
    )
    wake_refractory: SecondsOrZero = Field(
        2.0, description="Seconds of audio after a detection before the same word counts again"
    )
