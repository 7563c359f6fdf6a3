"""The one VAD state machine: where speech starts and ends in a stream of 32 ms frames.

The ASR's server-side endpointing and the satellite (standalone and Home Assistant mode) all use it,
so "the user is done" means the same thing everywhere. Durations are counted in whole frames, so a
setting of 0.45 s always means the same number of frames, whatever the float rounding.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal, Protocol

from wyoming_xnai.audio.format import FRAME_SECONDS

Boundary = Literal["start", "end"]


class SpeechProbability(Protocol):
    """A streaming VAD: the speech probability of one frame (SileroVad, or a stand-in in unit tests)."""

    def __call__(self, frame: bytes) -> float: ...

    def reset(self) -> None: ...


def frames_for(seconds: float) -> int:
    """Whole frames that cover `seconds` (0.45 s -> 15 frames of 32 ms)."""
    return max(0, math.ceil(seconds / FRAME_SECONDS - 1e-6))


class Segmenter:
    """Feeds frames through a VAD and says "start" when speech begins and "end" when it is over.

    Speech starts after `min_speech` of voiced frames (in a row, or in total when `continuous_start`
    is False, as the ASR's endpointing counts them), and ends after `end_silence` without a voiced
    frame or after `max_seconds` of speech. The last `preroll` seconds before the start are kept, so
    the first syllable, which the VAD needs a few frames to believe, is not lost.
    """

    def __init__(
        self,
        vad: SpeechProbability,
        *,
        threshold: float = 0.5,
        min_speech: float = 0.15,
        end_silence: float = 0.45,
        max_seconds: float | None = None,
        preroll: float = 0.0,
        continuous_start: bool = True,
    ) -> None:
        self._vad = vad
        self.threshold = threshold
        self._start_frames = max(1, frames_for(min_speech))
        self._end_frames = max(1, frames_for(end_silence))
        self._max_frames = frames_for(max_seconds) if max_seconds else None
        self._continuous_start = continuous_start
        self.preroll: deque[bytes] = deque(maxlen=max(1, round(preroll / FRAME_SECONDS)))
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next frame is the first of a new stream."""
        self._vad.reset()
        self.preroll.clear()
        self.in_speech = False
        self._voiced = 0  # voiced frames counted towards a start
        self._silent = 0  # unvoiced frames since the last voiced one, in speech
        self._length = 0  # frames since the start, pre-roll included
        self.last_voiced_at = 0.0

    @property
    def silence(self) -> float:
        """Seconds of silence since the last voiced frame of the current speech (0 while voiced)."""
        return self._silent * FRAME_SECONDS

    def feed(self, frame: bytes, captured: float = 0.0) -> Boundary | None:
        """One frame (captured at monotonic time `captured`); "start"/"end" when speech begins or ends."""
        voiced = self._vad(frame) >= self.threshold
        if not self.in_speech:
            self.preroll.append(frame)
            if voiced:
                self._voiced += 1
            elif self._continuous_start:
                self._voiced = 0
            if self._voiced < self._start_frames:
                return None
            self.in_speech = True
            self._silent = 0
            self._length = len(self.preroll)
            self.last_voiced_at = captured + FRAME_SECONDS
            return "start"
        self._length += 1
        if voiced:
            self._silent = 0
            self.last_voiced_at = captured + FRAME_SECONDS
        else:
            self._silent += 1
        too_long = self._max_frames is not None and self._length >= self._max_frames
        if self._silent >= self._end_frames or too_long:
            self.in_speech = False
            self._voiced = 0
            self.preroll.clear()
            return "end"
        return None
