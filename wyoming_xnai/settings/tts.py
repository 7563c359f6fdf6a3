"""Settings of the text-to-speech server."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from wyoming_xnai.settings.fields import AtLeastOne, Count, Seconds, SecondsOrZero, queue, slots, timeout
from wyoming_xnai.settings.server import ServerSettings


class TtsSettings(ServerSettings):
    """What `xnai tts` reads: its voices, synthesis knobs and limits, besides what every server reads."""

    prefix = "tts"

    tts_uri: str = Field("tcp://0.0.0.0:10200", description="Where the TTS server listens")
    tts_voice: str = Field("en_US-joe-medium", description="Default Piper voice name or .onnx path")
    tts_voice_dir: list[Path] = Field(
        default_factory=list, description="Folders with extra Piper voices (.onnx + .onnx.json)"
    )
    tts_speaker: str | None = Field(None, description="Default speaker name or id for multi-speaker voices")
    tts_length_scale: float | None = Field(None, gt=0, description="Speaking rate (bigger is slower)")
    tts_noise_scale: float | None = Field(None, ge=0, description="Generator noise")
    tts_noise_w_scale: float | None = Field(None, ge=0, description="Phoneme width noise")
    tts_sentence_silence: SecondsOrZero = Field(0.2, description="Seconds of silence between sentences")
    tts_clause_silence: SecondsOrZero = Field(
        0.05, description="Seconds of silence where a sentence was cut at a clause"
    )
    tts_max_text_chars: AtLeastOne = Field(20_000, description="Longest text accepted for one request")
    tts_max_concurrent: AtLeastOne = slots(1, "Syntheses")
    tts_max_queue: Count = queue(16, "Requests", "a synthesis slot")
    tts_stream_timeout: Seconds = timeout(120.0, "a streamed text (synthesize-start to synthesize-stop)", "to arrive")
    tts_cpu_threads: Count = Field(
        0, description="onnxruntime threads per synthesis (0 = library default: one per core, as Piper)"
    )
