"""The satellite's bundled sounds: short tones made by `python -m satellite.sounds.make` (no samples
from anywhere else). Replace any of them with --awake-wav, --done-wav or --alarm-wav."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Sound = Literal["awake", "done", "alarm"]
SOUNDS_DIR = Path(__file__).parent


def bundled(sound: Sound) -> Path:
    return SOUNDS_DIR / f"{sound}.wav"
