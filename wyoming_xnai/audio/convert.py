"""Incoming audio: checked, then converted to the internal 16 kHz / 16-bit / mono format."""

from __future__ import annotations

from wyoming.audio import AudioChunk, AudioChunkConverter
from wyoming.event import Event

from wyoming_xnai.audio.format import BYTES_PER_SECOND, CHANNELS, RATE, WIDTH


class BadAudio(ValueError):
    """An audio format or payload that cannot be PCM."""


def check_format(rate: object, width: object, channels: object) -> tuple[int, int, int]:
    """Reject formats audioop cannot convert before they reach it (it would raise or mangle)."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (rate, width, channels)):
        raise BadAudio("audio rate, width and channels must be integers")
    assert isinstance(rate, int) and isinstance(width, int) and isinstance(channels, int)
    if not 1000 <= rate <= 192_000:
        raise BadAudio(f"unsupported sample rate {rate} Hz (1000-192000)")
    if width not in (1, 2, 3, 4):
        raise BadAudio(f"unsupported sample width {width} bytes (1-4)")
    if channels not in (1, 2):
        raise BadAudio(f"unsupported channel count {channels} (mono or stereo)")
    return rate, width, channels


class ToInternalFormat:
    """Converts a stream of chunks; a format change mid-stream restarts the resampler state."""

    def __init__(self) -> None:
        self._converter = AudioChunkConverter(rate=RATE, width=WIDTH, channels=CHANNELS)
        self._format: tuple[int, int, int] | None = None

    def convert(
        self, rate: object, width: object, channels: object, payload: bytes | None, max_bytes: int | None = None
    ) -> bytes:
        """The payload in the internal format; with `max_bytes`, only as much input as makes that much output
        is converted (a 4 MiB chunk at 1 kHz would be over an hour of audio)."""
        fmt = check_format(rate, width, channels)
        audio = payload or b""
        if len(audio) % (fmt[1] * fmt[2]):
            raise BadAudio(f"audio payload of {len(audio)} bytes is not a whole number of {fmt[1]}x{fmt[2]} frames")
        if max_bytes is not None:
            frames = -(-max(max_bytes, 0) * fmt[0] // BYTES_PER_SECOND)  # input frames that make max_bytes
            audio = audio[: frames * fmt[1] * fmt[2]]
        if fmt != self._format:
            self._converter = AudioChunkConverter(rate=RATE, width=WIDTH, channels=CHANNELS)
            self._format = fmt
        if not audio:
            return b""
        return self._converter.convert(AudioChunk(rate=fmt[0], width=fmt[1], channels=fmt[2], audio=audio)).audio

    def convert_event(self, event: Event, max_bytes: int | None = None) -> bytes:
        """An audio-chunk event's payload in the internal format; BadAudio for what cannot be PCM."""
        data = event.data
        return self.convert(data.get("rate"), data.get("width"), data.get("channels"), event.payload, max_bytes)
