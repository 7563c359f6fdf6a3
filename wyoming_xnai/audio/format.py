"""The one audio format inside xnai: 16 kHz, 16-bit, mono PCM (what Whisper, Silero VAD and
microWakeWord take). Everything that arrives in another format is converted to it at the edge."""

from __future__ import annotations

from wyoming.audio import AudioChunk

RATE = 16000
WIDTH = 2  # bytes per sample (signed 16-bit little-endian)
CHANNELS = 1
BYTES_PER_SECOND = RATE * WIDTH * CHANNELS
FRAME_SAMPLES = 512  # one Silero VAD frame: 32 ms
FRAME_BYTES = FRAME_SAMPLES * WIDTH
FRAME_SECONDS = FRAME_SAMPLES / RATE


def audio_chunk(pcm: bytes) -> AudioChunk:
    """PCM in the internal format as a Wyoming audio chunk."""
    return AudioChunk(rate=RATE, width=WIDTH, channels=CHANNELS, audio=pcm)
