"""The words Whisper is primed with: the user's phrases, then document words the model finds hard.

Whisper reads a short text before the audio (faster-whisper's `hotwords`) and leans toward its words
and spellings. A long prompt hurts (the model starts echoing it), so the prompt has a token budget:
every phrase of `--vocabulary FILE` first, in the file's order, then the words of the indexed
documents that the model's own tokenizer splits into several pieces (the words it rarely saw in
training: names, brands, unusual things; words it knows well gain nothing from a hint). Both files
are re-read when their modification time changes, so a new ingest takes effect without a restart.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from wyoming_xnai.vocabulary import read_terms

_LOGGER = logging.getLogger(__name__)
SEPARATOR = ", "


def unfamiliar(terms: Iterable[str], count_tokens: Callable[[str], int]) -> Iterator[str]:
    """The terms the model spells with more than one token (keeping their order; lazily: lists are long)."""
    return (t for t in terms if count_tokens(" " + t) > 1 and count_tokens(" " + t.lower()) > 1)


def fit(phrases: Iterable[str], count_tokens: Callable[[str], int], budget: int) -> list[str]:
    """The longest prefix of `phrases` (case-insensitively unique) whose joined text fits in `budget` tokens."""
    chosen: list[str] = []
    seen: set[str] = set()
    used = 0
    for phrase in phrases:
        if phrase.lower() in seen:
            continue
        cost = count_tokens((SEPARATOR if chosen else " ") + phrase)
        if used + cost > budget:
            break
        chosen.append(phrase)
        seen.add(phrase.lower())
        used += cost
    return chosen


class Hints:
    """The current hint text; `text()` is cheap when neither file changed (one stat each)."""

    def __init__(self, phrases_file: Path | None, document_terms: Path | None, budget: int) -> None:
        self._files = [f for f in (phrases_file, document_terms) if f is not None]
        self._phrases_file = phrases_file
        self._budget = budget
        self._stamp: tuple | None = None
        self._text = ""
        self._lock = threading.Lock()

    def _stat(self) -> tuple:
        stamps = []
        for path in self._files:
            try:
                info = path.stat()
                stamps.append((info.st_mtime_ns, info.st_size))
            except OSError:
                stamps.append(None)
        return tuple(stamps)

    def text(self, count_tokens: Callable[[str], int]) -> str:
        if self._budget <= 0 or not self._files:
            return ""
        with self._lock:
            stamp = self._stat()
            if stamp != self._stamp:
                self._text = self._build(count_tokens)
                self._stamp = stamp
            return self._text

    def _build(self, count_tokens: Callable[[str], int]) -> str:
        sources: list[Iterable[str]] = []
        for path in self._files:
            try:
                terms = read_terms(path)
            except FileNotFoundError:
                if path == self._phrases_file:
                    _LOGGER.warning("vocabulary file %s not found: no phrases from it", path)
                continue
            except OSError as err:
                _LOGGER.warning("vocabulary file %s unreadable (%s): ignored", path, err.strerror or err)
                continue
            sources.append(terms if path == self._phrases_file else unfamiliar(terms, count_tokens))
        chosen = fit(itertools.chain(*sources), count_tokens, self._budget)
        _LOGGER.info("vocabulary hint (%d phrases): %s", len(chosen), SEPARATOR.join(chosen)[:200])
        return SEPARATOR.join(chosen)
