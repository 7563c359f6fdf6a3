"""Server-side endpointing: decide from the audio itself that the speaker has finished.

Home Assistant otherwise waits for its own VAD (or a 15 s timeout) before sending audio-stop; a
server that knows when speech ended can answer early and advertise `requires_external_vad: false`.
"""

from __future__ import annotations

from wyoming_xnai.audio.format import FRAME_BYTES
from wyoming_xnai.audio.segmenter import Segmenter, frames_for
from wyoming_xnai.audio.vad import SileroVad

# `transcribe.vad_sensitivity`: how long a pause must be before we call it the end.
SENSITIVITY_FACTOR = {"relaxed": 1.5, "default": 1.0, "aggressive": 0.6}


class Endpointer:
    """Feeds 16 kHz mono PCM of any chunk size to the shared segmenter; `feed` returns True once
    speech has ended (`end_silence` without a voiced frame), or when nobody spoke for `no_speech_timeout`.

    Between chunks it tells how long the current pause is (`silence`) and counts the voiced frames
    (`voiced_frames`): a count that has not moved since some moment means nobody spoke since.
    """

    def __init__(
        self,
        end_silence: float,
        no_speech_timeout: float,
        sensitivity: str = "default",
        threshold: float = 0.5,
        min_speech: float = 0.15,
    ) -> None:
        self._segmenter = Segmenter(
            SileroVad(),
            threshold=threshold,
            min_speech=min_speech,
            end_silence=end_silence * SENSITIVITY_FACTOR.get(sensitivity, 1.0),
            continuous_start=False,  # any 0.15 s of voiced frames, not necessarily in a row
        )
        self._pending = bytearray()
        self._no_speech_frames = frames_for(no_speech_timeout)
        self._frames = 0
        self.speech_started = False
        self.voiced_frames = 0

    @property
    def silence(self) -> float:
        """Seconds since the last voiced frame of the speech (0 before speech started)."""
        return self._segmenter.silence if self.speech_started else 0.0

    def feed(self, pcm: bytes) -> bool:
        self._pending += pcm
        ended = False
        while len(self._pending) >= FRAME_BYTES and not ended:
            frame = bytes(self._pending[:FRAME_BYTES])
            del self._pending[:FRAME_BYTES]
            self._frames += 1
            boundary = self._segmenter.feed(frame)
            if boundary == "start":
                self.speech_started = True
            if self.speech_started and self._segmenter.silence == 0.0:
                self.voiced_frames += 1
            ended = boundary == "end" or (not self.speech_started and self._frames >= self._no_speech_frames)
        return ended
