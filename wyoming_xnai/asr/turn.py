"""One utterance on its way in: its audio, what the VAD hears, and when the speaker's turn is over.

The turn ends on the longest pause (`--vad-endpointing`), or sooner, after `--vad-complete-silence`,
when an early decode of the speech so far reads as a complete sentence (complete.py). The early
decode runs in the first part of a pause (`--early-decode`), when the model is otherwise idle; if
nobody speaks after it, it IS the transcript, so the answer goes out the moment the turn ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio

from wyoming_xnai.asr.audio import BYTES_PER_SECOND, ToWhisperFormat
from wyoming_xnai.asr.complete import is_complete
from wyoming_xnai.asr.endpoint import SENSITIVITY_FACTOR, Endpointer
from wyoming_xnai.asr.transcriber import Heard
from wyoming_xnai.settings import AsrSettings


@dataclass
class EarlyDecode:
    """A decode of the utterance up to a pause; `voiced_frames` is the VAD's count when it started."""

    pcm: bytes
    voiced_frames: int
    heard: Heard | None = None  # None until done, and after a failure (the final decode then reports it)
    running: bool = False  # it has the model (until then, cancelling `scope` gives up its place in line)
    done: anyio.Event = field(default_factory=anyio.Event)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)


class Utterance:
    def __init__(self, settings: AsrSettings, sensitivity: str) -> None:
        factor = SENSITIVITY_FACTOR.get(sensitivity, 1.0)
        self.endpointing = settings.asr_vad_endpointing > 0
        # Without endpointing the VAD still listens: to tell speech from silence and noise (Whisper
        # "hears" words ("you", "Thank you.") in audio without any), and to time the early decode.
        never = settings.asr_max_seconds + 1.0
        longest = settings.asr_vad_endpointing if self.endpointing else never
        no_speech = settings.asr_vad_no_speech_seconds if self.endpointing else never
        self.vad = Endpointer(longest, no_speech, sensitivity)
        self.complete_after = min(settings.asr_vad_complete_silence, longest) * factor
        self.early_after = settings.asr_early_decode
        self.max_bytes = int(settings.asr_max_seconds * BYTES_PER_SECOND)
        self.audio = bytearray()
        self.converter = ToWhisperFormat()
        self.answered = False  # the transcript for this utterance was sent (or is being sent)
        self.early: EarlyDecode | None = None

    def room(self) -> int:
        """Bytes of converted audio the utterance still takes (the converter works on no more)."""
        return self.max_bytes - len(self.audio)

    def add(self, pcm: bytes) -> str | None:
        """Takes converted audio; returns why the utterance ends here, if it does."""
        self.audio += pcm[: self.room()]
        if len(self.audio) >= self.max_bytes:
            return "max-seconds"
        if self.vad.feed(pcm):
            return "endpoint"
        return "complete" if self.finished() else None

    def early_due(self) -> bool:
        """In a pause long enough for an early decode, and none was made since the speaker last spoke."""
        return (
            self.early_after > 0
            and self.vad.speech_started
            and self.vad.silence >= self.early_after
            and (self.early is None or self.early.voiced_frames != self.vad.voiced_frames)
        )

    def start_early(self) -> EarlyDecode:
        self.early = EarlyDecode(bytes(self.audio), self.vad.voiced_frames)
        return self.early

    def current_early(self) -> EarlyDecode | None:
        """The early decode of everything said so far (nobody spoke after it started), if there is one."""
        early = self.early
        return early if early is not None and self.wants(early) else None

    def wants(self, early: EarlyDecode) -> bool:
        """Whether `early` still holds all that was said (safe to ask from a worker thread)."""
        return early is self.early and early.voiced_frames == self.vad.voiced_frames

    def drop_stale_early(self) -> None:
        """The speaker went on: an early decode still waiting for the model gives up its place in line
        (a running one stops at its next step, as the transcriber asks `wants`)."""
        early = self.early
        if early is not None and not early.running and not self.wants(early):
            early.scope.cancel()

    def reads_complete(self) -> bool:
        """The current early decode heard a complete sentence: the turn ends once the pause is long enough."""
        early = self.current_early()
        if not self.endpointing or early is None or early.heard is None:
            return False
        heard = early.heard
        return is_complete(heard.text, heard.language, heard.avg_logprob)

    def finished(self) -> bool:
        """The words so far are complete and the pause after them is long enough for complete words."""
        return self.vad.silence >= self.complete_after and self.reads_complete()
