"""faster-whisper behind a bounded queue, transcribing straight from memory (no temp WAV files).

Voice commands are a few seconds long, but Whisper pads every input to a 30 s window, and both the
encoder's cost and the decoder's first step (its keys and values over every encoded frame) grow with
the window, not with the speech. An utterance that fits is therefore decoded in one step over a window
cut to the audio plus `--window-margin` seconds of silence (or at least `--window` seconds).

On a cut window without timestamps, Whisper often says the sentence again in the silence after it.
The decode therefore runs with timestamps, starts at the audio's first timestamp, and may place no
timestamp past the audio's end (a repeat would need one). A result that still looks degenerate falls
back to faster-whisper's full transcription, as does anything longer than one window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import cache

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens

from wyoming_xnai.asr.hints import Hints, hint_words, with_hinted_words
from wyoming_xnai.audio.format import RATE as SAMPLE_RATE
from wyoming_xnai.models import WhisperModelRef
from wyoming_xnai.settings import AsrSettings
from wyoming_xnai.vocabulary import document_terms_file

_LOGGER = logging.getLogger(__name__)

# Whisper vocabularies: English-only models have 51864 tokens, multilingual ones more.
ENGLISH_ONLY_VOCAB = 51864
HOP = 160  # samples per mel frame
FULL_WINDOW = 30.0
LEAD = 0.2  # seconds of silence before the audio: Whisper often drops a first word that starts at sample 0
LATE = 0.3  # seconds after the audio's end where a timestamp may still fall
TIMESTAMP_STEP = 0.02  # seconds per Whisper timestamp token
LAST_TIMESTAMP = 1500  # <|30.00|>
# faster-whisper's own thresholds for "this decode went wrong" and "nobody spoke"
MAX_COMPRESSION_RATIO = 2.4
NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0


# Codes Home Assistant or a BCP 47 tag may carry that Whisper spells differently
LANGUAGE_ALIASES = {"nb": "no", "iw": "he", "jw": "jv"}


class NoLongerWanted(Exception):
    """The caller gave up on a decode in progress (an early decode after the speaker went on)."""


def _always() -> bool:
    return True


def whisper_language(language: str) -> str:
    """ "de-DE", "pt_BR", "nb" -> Whisper's code ("de", "pt", "no")."""
    code = language.replace("_", "-").split("-")[0].lower()
    return LANGUAGE_ALIASES.get(code, code)


@dataclass(frozen=True)
class Heard:
    """A transcript and how sure Whisper was of it (None where it did not run)."""

    text: str
    language: str | None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None

    def context(self) -> dict:
        """The `transcript` event's context: {"asr": {...}}, only the values that are known."""
        return {"asr": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()
                        if v is not None and k != "text"}}  # fmt: skip


def model_languages(ref: WhisperModelRef) -> list[str]:
    """Languages a model can transcribe, read from its files so describe works before it loads."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    vocab = ref.path / "vocabulary.txt"
    if ref.name.endswith(".en") or (vocab.exists() and sum(1 for _ in open(vocab, "rb")) <= ENGLISH_ONLY_VOCAB):
        return ["en"]
    return list(_LANGUAGE_CODES)


def repeats_itself(text: str) -> bool:
    """Whisper's failure mode on a cut window: the sentence again ("Turn it on. Turn it on. Turn")."""
    words = [w.strip(".,!?").lower() for w in text.split()]
    grams = [tuple(words[i : i + 4]) for i in range(len(words) - 3)]
    return len(set(grams)) < len(grams)


class Transcriber:
    def __init__(self, ref: WhisperModelRef, settings: AsrSettings) -> None:
        self.ref = ref
        self.languages = model_languages(ref)
        self._settings = settings
        self._model: WhisperModel | None = None
        documents = document_terms_file(settings.data_dir) if settings.asr_document_vocabulary else None
        self.hints = Hints(settings.asr_vocabulary, documents, settings.asr_vocabulary_tokens)

    def load(self) -> None:
        self._model = WhisperModel(
            str(self.ref.path),
            device="cpu",
            compute_type=self._settings.asr_compute_type,
            cpu_threads=self._settings.asr_cpu_threads,
            local_files_only=True,
        )
        if self._settings.asr_window < FULL_WINDOW:  # the first decode is slow: not on the first utterance
            self.one_window(
                np.zeros(SAMPLE_RATE, dtype=np.float32), "en" if "en" in self.languages else self.languages[0]
            )

    def transcribe(
        self, pcm: bytes, language: str | None, on_segment: Callable[[str], None], wanted: Callable[[], bool] = _always
    ) -> Heard:
        """Blocking: run in a worker thread. `on_segment` sees each segment's text as it is decoded.

        `language` None means: detect it (a multilingual model) or English (an English-only one).
        `wanted` is asked between the steps of a decode; once it says False, NoLongerWanted is raised
        and the model is free again sooner (a decode step itself cannot be stopped).
        """
        assert self._model is not None, "load() first"
        audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        if language is None and self.languages == ["en"]:
            language = "en"
        fits = len(audio) <= (FULL_WINDOW - LEAD - self._settings.asr_window_margin) * SAMPLE_RATE
        # Language detection needs Whisper's full window (on a cut one it is often confidently wrong)
        if fits and language is not None and self._settings.asr_window < FULL_WINDOW:
            heard = self.one_window(audio, language, wanted)
            if heard is not None:
                if heard.text:
                    on_segment(heard.text)
                return heard
        return self.full(audio, language, on_segment, wanted)

    def count_tokens(self, text: str) -> int:
        assert self._model is not None
        return len(self._model.hf_tokenizer.encode(text, add_special_tokens=False).ids)

    def full(
        self, audio: np.ndarray, language: str | None, on_segment: Callable[[str], None], wanted: Callable[[], bool]
    ) -> Heard:
        """faster-whisper's own long-form transcription over 30 s windows."""
        assert self._model is not None, "load() first"
        segments, info = self._model.transcribe(
            audio,
            language=language,
            beam_size=self._settings.asr_beam_size,
            initial_prompt=self._settings.asr_initial_prompt,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        texts, logprobs, no_speech = [], [], []
        for segment in segments:
            _check(wanted)
            text = segment.text.strip()
            if text:
                texts.append(text)
                weight = max(1, len(segment.tokens))
                logprobs.append((segment.avg_logprob, weight))
                no_speech.append((segment.no_speech_prob, weight))
                on_segment(text)
        text = " ".join(texts)
        if not texts:
            return Heard("", info.language)
        return Heard(text, info.language, _mean(logprobs), _mean(no_speech), get_compression_ratio(text))

    def one_window(self, audio: np.ndarray, language: str, wanted: Callable[[], bool] = _always) -> Heard | None:
        """One decode over a window cut to the audio; None when the result is not to be trusted.

        With a vocabulary, a second decode runs with the hint of the terms spelt like what the first
        one heard, and it may only put hinted words in place of words spelt like them: a hint prompt
        alone also changes words it has nothing to do with ("call the" -> "Claude").
        """
        encoded, audio_seconds = self._encode(audio)
        _check(wanted)
        tokenizer = self._tokenizer(language)
        plain = self._decode(encoded, tokenizer, audio_seconds, "")
        if plain is None or not plain.text:
            return plain
        hint = self.hints.near(plain.text, self.count_tokens)
        if not hint:
            return plain
        _check(wanted)
        hinted = self._decode(encoded, tokenizer, audio_seconds, hint)
        if hinted is None or not hinted.text:
            return plain
        merged = with_hinted_words(plain.text, hinted.text, hint_words(hint, self.count_tokens))
        return plain if merged == plain.text else replace(hinted, text=merged)

    def _encode(self, audio: np.ndarray) -> tuple[ctranslate2.StorageView, float]:
        model = self._model
        assert model is not None, "load() first"
        audio_seconds = len(audio) / SAMPLE_RATE
        fitted = LEAD + audio_seconds + self._settings.asr_window_margin
        seconds = min(FULL_WINDOW, max(self._settings.asr_window, fitted))
        frames = int(seconds * SAMPLE_RATE / HOP)
        padded = np.zeros(frames * HOP, dtype=np.float32)
        lead = int(LEAD * SAMPLE_RATE)
        padded[lead : lead + len(audio)] = audio
        features = model.feature_extractor(padded, padding=0)[:, :frames]
        return model.encode(np.ascontiguousarray(features)), audio_seconds

    def _decode(
        self, encoded: ctranslate2.StorageView, tokenizer: Tokenizer, audio_seconds: float, hint: str
    ) -> Heard | None:
        assert self._model is not None, "load() first"
        prompt = self._prompt(tokenizer, hint)
        max_length = min(448, len(prompt) + 20 + int(audio_seconds * 12))
        result = self._model.model.generate(
            encoded,
            [prompt],
            beam_size=self._settings.asr_beam_size,
            max_length=max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=suppressed_tokens(tokenizer, LEAD + audio_seconds + LATE),
        )[0]
        generated = result.sequences_ids[0]
        text = tokenizer.decode([t for t in generated if t < tokenizer.eot]).strip()
        avg_logprob = result.scores[0] * len(generated) / (len(generated) + 1)
        language = tokenizer.language_code
        if result.no_speech_prob > NO_SPEECH_PROB and avg_logprob < LOW_LOGPROB:
            return Heard("", language, avg_logprob, result.no_speech_prob)  # faster-whisper drops such a segment too
        cut_off = len(generated) >= max_length - len(prompt)
        ratio = get_compression_ratio(text) if text else None
        if not text or cut_off or (ratio or 0) > MAX_COMPRESSION_RATIO or repeats_itself(text):
            _LOGGER.debug("short-window decode looks degenerate (%r): full transcription instead", text[:80])
            return None
        return Heard(text, language, avg_logprob, result.no_speech_prob, ratio)

    @cache  # noqa: B019 - one transcriber per process, a handful of languages
    def _tokenizer(self, language: str) -> Tokenizer:
        assert self._model is not None
        return Tokenizer(
            self._model.hf_tokenizer, self._model.model.is_multilingual, task="transcribe", language=language
        )

    def _prompt(self, tokenizer: Tokenizer, hint: str) -> list[int]:
        """Start-of-transcript, language, task and the audio's first timestamp; before it, as faster-whisper does,
        the vocabulary hint and `--initial-prompt` (at most half the decoder's context)."""
        before = " ".join(t for t in (hint, (self._settings.asr_initial_prompt or "").strip()) if t)
        prompt: list[int] = []
        if before:
            prompt = [tokenizer.sot_prev, *tokenizer.encode(" " + before)[-223:]]
        return [*prompt, *tokenizer.sot_sequence, _timestamp(tokenizer, LEAD)]


def _timestamp(tokenizer: Tokenizer, seconds: float) -> int:
    return tokenizer.timestamp_begin + min(LAST_TIMESTAMP, round(seconds / TIMESTAMP_STEP))


def suppressed_tokens(tokenizer: Tokenizer, end: float) -> list[int]:
    """faster-whisper's suppressed symbols, and every timestamp after `end`: with timestamps past
    the audio allowed, Whisper on a cut window may start the sentence again in the silence after it."""
    first_late = _timestamp(tokenizer, end) + 1
    return [*get_suppressed_tokens(tokenizer, (-1,)), *range(first_late, tokenizer.timestamp_begin + LAST_TIMESTAMP + 1)]


def _check(wanted: Callable[[], bool]) -> None:
    if not wanted():
        raise NoLongerWanted


def _mean(pairs: list[tuple[float, int]]) -> float:
    """Weighted mean of (value, weight) pairs."""
    return sum(v * w for v, w in pairs) / sum(w for _, w in pairs)
