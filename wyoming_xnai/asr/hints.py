"""The words Whisper is primed with: the user's phrases, then document words the model finds hard.

Whisper reads a short text before the audio (faster-whisper's `hotwords`) and leans toward its words
and spellings. A long prompt hurts (the model starts echoing it), so the prompt has a token budget:
every phrase of `--vocabulary FILE` first, in the file's order, then the words of the indexed
documents that the model's own tokenizer splits into several pieces (the words it rarely saw in
training: names, brands, unusual things; words it knows well gain nothing from a hint). Both files
are re-read when their modification time changes, so a new ingest takes effect without a restart.
"""

from __future__ import annotations

import difflib
import itertools
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from wyoming_xnai.vocabulary import read_terms

_LOGGER = logging.getLogger(__name__)
SEPARATOR = ", "
SIMILAR = 0.5  # letters in common (difflib ratio) from which a heard word may be a hinted word misheard


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


def _key(word: str) -> str:
    return re.sub(r"[^\w'-]", "", word).lower()


def hint_words(hint: str, count_tokens: Callable[[str], int]) -> set[str]:
    """The hint's words the model does not know well (of a phrase like "Living Room", neither)."""
    words = {_key(w) for w in hint.replace(SEPARATOR, " ").split()} - {""}
    return set(unfamiliar(words, count_tokens))


def _similarity(a: str, b: str) -> float:
    if abs(len(a) - len(b)) > max(3, len(b) // 2):
        return 0.0
    return difflib.SequenceMatcher(a=a, b=b, autojunk=False).ratio()


def _spans(words: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, letters) of every run of one to three words."""
    keys = [_key(w) for w in words]
    return [(i, i + n, "".join(keys[i : i + n])) for n in (1, 2, 3) for i in range(len(words) - n + 1)]


def resembles_any(text: str, terms: set[str], at_least: float = SIMILAR) -> bool:
    """Whether one to three consecutive words of `text` are spelt like a hinted word ("Ash Turbine" ~ Achterberg).

    The hinted decode costs a second pass of the decoder, so it runs only where it may find something.
    """
    return any(_similarity(span, term) >= at_least for term in terms for _, _, span in _spans(text.split()))


def with_hinted_words(plain: str, hinted: str, terms: set[str], at_least: float = SIMILAR) -> str:
    """`plain`, where the hinted decode heard a hinted word in place of words spelt like it: with that word."""
    a, b = plain.split(), hinted.split()
    matcher = difflib.SequenceMatcher(a=[_key(w) for w in a], b=[_key(w) for w in b], autojunk=False)
    out: list[str] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        region = a[i1:i2]
        for word in b[j1:j2] if op == "replace" else []:
            if _key(word) not in terms:
                continue
            best = max(_spans(region), key=lambda span: _similarity(span[2], _key(word)), default=None)
            if best is not None and _similarity(best[2], _key(word)) >= at_least:
                region = [*region[: best[0]], word, *region[best[1] :]]
        out += region
    return " ".join(out)


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
