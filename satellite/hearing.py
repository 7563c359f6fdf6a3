"""What the satellite hears: the speech segmenter built from the satellite's settings."""

from __future__ import annotations

from wyoming_xnai.audio.segmenter import Segmenter
from wyoming_xnai.audio.vad import SileroVad
from wyoming_xnai.settings import SatelliteSettings


def speech_segmenter(settings: SatelliteSettings) -> Segmenter:
    """Where an utterance starts and ends, with `--preroll` kept from before the start."""
    return Segmenter(
        SileroVad(),
        threshold=settings.satellite_vad_threshold,
        min_speech=settings.satellite_min_speech,
        end_silence=settings.satellite_end_silence,
        max_seconds=settings.satellite_max_utterance,
        preroll=settings.satellite_preroll,
    )
