"""Incoming audio for Whisper: the shared checks and conversion to 16 kHz / 16-bit / mono."""

from __future__ import annotations

from wyoming_xnai.audio.convert import BadAudio, ToInternalFormat, check_format
from wyoming_xnai.audio.format import BYTES_PER_SECOND

ToWhisperFormat = ToInternalFormat

__all__ = ["BYTES_PER_SECOND", "BadAudio", "ToWhisperFormat", "check_format"]
