"""One utterance and its answer, with the time each stage finished: the satellite's latency record."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace

from wyoming_xnai.server.tracing import tracer


@dataclass
class Turn:
    """Marks are monotonic seconds; 0.0 means the stage was not reached."""

    speech_start: float
    speech_end: float = 0.0  # end of the last voiced VAD frame
    endpoint: float = 0.0  # the VAD decided the user is done (the answer may play from now on)
    asr_stop_at: float = 0.0  # audio-stop sent (before the endpoint when speculating)
    transcript_at: float = 0.0
    first_text_at: float = 0.0  # first answer text from handle
    first_audio_at: float = 0.0  # first audio from TTS
    first_played_at: float = 0.0  # first byte handed to the speaker
    done_at: float = 0.0
    transcript: str = ""
    asr_context: dict[str, Any] | None = None  # the ASR's confidence (`context["asr"]`), passed on to handle
    answer: str = ""
    asr_uri: str = ""
    handle_uri: str = ""
    tts_uri: str = ""
    wake_word: str | None = None  # the wake word that started the turn, if one did
    conversation_id: str = ""
    interrupt_heard_at: float = 0.0  # capture time of the frame in which the interrupting word fired
    interrupted_at: float = 0.0  # the speaker went silent
    errors: list[str] = field(default_factory=list)

    def stages(self) -> dict[str, float]:
        """Seconds per stage. With speculation ASR/handle/TTS start before the endpoint, so the stages
        overlap the end-of-utterance silence; `end_of_speech_to_first_audio` is what the user waits."""
        out: dict[str, float] = {}
        if self.endpoint:
            out["vad_endpoint"] = self.endpoint - self.speech_end
        if self.asr_stop_at and self.endpoint:
            out["head_start"] = max(0.0, self.endpoint - self.asr_stop_at)
        for name, start, end in (
            ("asr", self.asr_stop_at, self.transcript_at),
            ("handle_first_text", self.transcript_at, self.first_text_at),
            ("tts_first_audio", self.first_text_at, self.first_audio_at),
            ("first_played", max(self.first_audio_at, self.endpoint), self.first_played_at),
        ):
            if start and end:
                out[name] = end - start
        if self.first_played_at:
            out["end_of_speech_to_first_audio"] = self.first_played_at - self.speech_end
        return out

    def record(self) -> None:
        """One span per stage (exported only with --otlp-endpoint), from the marks taken on the way."""
        offset = time.time_ns() - time.monotonic_ns()

        def ns(mark: float) -> int:
            return int(mark * 1e9) + offset

        if not (self.speech_start and self.done_at):
            return
        root = tracer.start_span("satellite.turn", start_time=ns(self.speech_start))
        root.set_attribute("satellite.transcript_chars", len(self.transcript))
        for name, value in self.stages().items():
            root.set_attribute(f"satellite.{name}_seconds", round(value, 4))
        context = trace.set_span_in_context(root)
        for name, start, end in (
            ("satellite.listen", self.speech_start, self.endpoint),
            ("satellite.asr", self.asr_stop_at, self.transcript_at),
            ("satellite.handle", self.transcript_at, self.first_text_at),
            ("satellite.tts", self.first_text_at, self.first_audio_at),
            ("satellite.play", self.first_played_at, self.done_at),
        ):
            if start and end:
                tracer.start_span(name, context=context, start_time=ns(start)).end(end_time=ns(end))
        root.end(end_time=ns(self.done_at))
