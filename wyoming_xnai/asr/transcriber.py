"""faster-whisper behind a bounded queue, transcribing straight from memory (no temp WAV files)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from faster_whisper import WhisperModel

from wyoming_xnai.models import WhisperModelRef
from wyoming_xnai.settings import Settings

_LOGGER = logging.getLogger(__name__)

# Whisper vocabularies: English-only models have 51864 tokens, multilingual ones more.
ENGLISH_ONLY_VOCAB = 51864


def model_languages(ref: WhisperModelRef) -> list[str]:
    """Languages a model can transcribe, read from its files so describe works before it loads."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    vocab = ref.path / "vocabulary.txt"
    if ref.name.endswith(".en") or (vocab.exists() and sum(1 for _ in open(vocab, "rb")) <= ENGLISH_ONLY_VOCAB):
        return ["en"]
    return list(_LANGUAGE_CODES)


class Transcriber:
    def __init__(self, ref: WhisperModelRef, settings: Settings) -> None:
        self.ref = ref
        self.languages = model_languages(ref)
        self._settings = settings
        self._model: WhisperModel | None = None

    def load(self) -> None:
        self._model = WhisperModel(
            str(self.ref.path),
            device="cpu",
            compute_type=self._settings.asr_compute_type,
            cpu_threads=self._settings.asr_cpu_threads,
            local_files_only=True,
        )

    def transcribe(self, pcm: bytes, language: str | None, on_segment: Callable[[str], None]) -> str:
        """Blocking: run in a worker thread. `on_segment` sees each segment's text as it is decoded."""
        assert self._model is not None, "load() first"
        audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        segments, _info = self._model.transcribe(
            audio,
            language=language,
            beam_size=self._settings.asr_beam_size,
            initial_prompt=self._settings.asr_initial_prompt,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        texts = []
        for segment in segments:
            text = segment.text.strip()
            if text:
                texts.append(text)
                on_segment(text)
        return " ".join(texts)
