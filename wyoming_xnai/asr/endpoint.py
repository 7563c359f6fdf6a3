"""Server-side endpointing: decide from the audio itself that the speaker has finished.

Home Assistant otherwise waits for its own VAD (or a 15 s timeout) before sending audio-stop; a
server that knows when speech ended can answer early and advertise `requires_external_vad: false`.
"""

from __future__ import annotations

from wyoming_xnai.vad import FRAME_BYTES, FRAME_SECONDS, SileroVad

# `transcribe.vad_sensitivity`: how long a pause must be before we call it the end.
SENSITIVITY_FACTOR = {"relaxed": 1.5, "default": 1.0, "aggressive": 0.6}


class Endpointer:
    """Feeds 16 kHz mono PCM through Silero VAD; `feed` returns True once speech has ended."""

    def __init__(
        self,
        end_silence: float,
        no_speech_timeout: float,
        sensitivity: str = "default",
        threshold: float = 0.5,
        min_speech: float = 0.15,
    ) -> None:
        self._vad = SileroVad()
        self._pending = bytearray()
        self._end_silence = end_silence * SENSITIVITY_FACTOR.get(sensitivity, 1.0)
        self._no_speech_timeout = no_speech_timeout
        self._threshold = threshold
        self._min_speech = min_speech
        self.speech_seconds = 0.0
        self.seconds = 0.0
        self._silence = 0.0

    @property
    def speech_started(self) -> bool:
        return self.speech_seconds >= self._min_speech

    def feed(self, pcm: bytes) -> bool:
        self._pending += pcm
        ended = False
        while len(self._pending) >= FRAME_BYTES and not ended:
            frame = bytes(self._pending[:FRAME_BYTES])
            del self._pending[:FRAME_BYTES]
            self.seconds += FRAME_SECONDS
            if self._vad(frame) >= self._threshold:
                self.speech_seconds += FRAME_SECONDS
                self._silence = 0.0
            else:
                self._silence += FRAME_SECONDS
            if self.speech_started:
                ended = self._silence >= self._end_silence
            else:
                ended = self.seconds >= self._no_speech_timeout
        return ended
