"""Settings of the text-to-speech server."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

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
    tts_sentence_silence: float = Field(0.2, ge=0, description="Seconds of silence between sentences")
    tts_clause_silence: float = Field(0.05, ge=0, description="Seconds of silence where a sentence was cut at a clause")
    tts_max_text_chars: int = Field(20_000, ge=1, description="Longest text accepted for one request")
    tts_max_concurrent: int = Field(1, ge=1, description="Syntheses that may run at the same time")
    tts_max_queue: int = Field(16, ge=0, description="Requests that may wait for a synthesis slot")
    tts_stream_timeout: float = Field(
        120.0, gt=0, description="Seconds a streamed text (synthesize-start to synthesize-stop) may take to arrive"
    )
    tts_cpu_threads: int = Field(
        0, ge=0, description="onnxruntime threads per synthesis (0 = library default: one per core, as Piper)"
    )
