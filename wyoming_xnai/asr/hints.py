"""The words Whisper is primed with: the user's phrases and the document words the model finds hard.

Whisper reads a short text before the audio and leans toward its words and spellings (faster-whisper's
`hotwords` and `initial_prompt` both work this way). A long prompt hurts (the model starts echoing it),
and a fixed prompt of the first few dozen words leaves out most of a household's names. So the hint is
chosen per utterance: from every phrase of `--vocabulary FILE` and every word of the indexed documents
that the model's own tokenizer splits into several pieces (the words it rarely saw in training: names,
brands, unusual things; words it knows well gain nothing from a hint), the ones spelt like something
the first decode heard, closest first, within a token budget. Both files are re-read when their
modification time changes, so a new ingest takes effect without a restart.
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
MAX_POOL_TOKENS = 4000  # the terms an utterance's hint is chosen from (a few hundred names)
# Letters in common (difflib ratio) from which one to three heard words may be a term misheard: the term
# joins the hint, and the hinted decode's term may replace those words. One bound for both: a mishearing
# that the replacement would accept must also start the hinted decode ("Ash to earn" for "Achterberg": 0.53).
CLOSE = 0.5
SIMILAR = CLOSE


def unfamiliar(terms: Iterable[str], count_tokens: Callable[[str], int]) -> Iterator[str]:
    """The terms the model spells with several tokens (keeping their order; lazily: lists are long).

    A name (capitalised) qualifies with two; a lower-case word needs three, as two pieces are often
    just an everyday word's other form ("serviced", "lids"), which a hint would only swap in wrongly.
    """
    return (t for t in terms if count_tokens(" " + t) > 1 and count_tokens(" " + t.lower()) >= _pieces(t))


def _pieces(term: str) -> int:
    return 2 if term[:1].isupper() else 3


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
    words = {re.sub(r"[^\w'-]", "", w) for w in hint.replace(SEPARATOR, " ").split()} - {""}
    return {_key(w) for w in unfamiliar(words, count_tokens)}


def _comparable(a: str, b: str) -> bool:
    """Whether two spellings are near enough in length to be one word misheard (b: the hinted one)."""
    return abs(len(a) - len(b)) <= max(3, len(b) // 2)


def _similarity(a: str, b: str) -> float:
    if not _comparable(a, b):
        return 0.0
    return difflib.SequenceMatcher(a=a, b=b, autojunk=False).ratio()


def closest(text: str, terms: Iterable[str], at_least: float = CLOSE) -> list[str]:
    """The terms spelt like one to three consecutive words of `text` (and not in it already), closest first."""
    spans = [span for _, _, span in _spans(text.split())]
    heard = set(spans)
    scored = []
    for term in terms:
        key = _key(term.replace(" ", ""))
        if not key or key in heard:
            continue
        matcher = difflib.SequenceMatcher(b=key, autojunk=False)
        best = 0.0
        for span in spans:
            if not _comparable(span, key):
                continue
            matcher.set_seq1(span)
            bound = max(best, at_least)  # ratio() only where its cheap upper bounds allow a better match
            if matcher.real_quick_ratio() >= bound and matcher.quick_ratio() >= bound:
                best = max(best, matcher.ratio())
        if best >= at_least:
            scored.append((best, term))
    return [term for _, term in sorted(scored, key=lambda pair: -pair[0])]


def _spans(words: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, letters) of every run of one to three words."""
    keys = [_key(w) for w in words]
    return [(i, i + n, "".join(keys[i : i + n])) for n in (1, 2, 3) for i in range(len(words) - n + 1)]


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
    """The hint terms; cheap to ask for when neither file changed (one stat each)."""

    def __init__(self, phrases_file: Path | None, document_terms: Path | None, budget: int) -> None:
        self._files = [f for f in (phrases_file, document_terms) if f is not None]
        self._phrases_file = phrases_file
        self._budget = budget
        self._stamp: tuple | None = None
        self._pool: list[str] = []
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

    def pool(self, count_tokens: Callable[[str], int]) -> list[str]:
        """Every phrase, then every unfamiliar document word, re-read when a file changed."""
        if self._budget <= 0 or not self._files:
            return []
        with self._lock:
            stamp = self._stat()
            if stamp != self._stamp:
                self._pool = self._build(count_tokens)
                self._stamp = stamp
            return self._pool

    def near(self, heard: str, count_tokens: Callable[[str], int]) -> str:
        """A hint for one utterance: the terms spelt like what its first decode heard, within the budget."""
        pool = self.pool(count_tokens)
        chosen = fit(closest(heard, pool), count_tokens, self._budget - 1) if pool and heard else []
        return SEPARATOR.join(chosen) + "." if chosen else ""  # a bare word primes Whisper less than a sentence

    def _build(self, count_tokens: Callable[[str], int]) -> list[str]:
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
        chosen = fit(itertools.chain(*sources), count_tokens, MAX_POOL_TOKENS)
        _LOGGER.info("vocabulary (%d phrases): %s", len(chosen), SEPARATOR.join(chosen)[:200])
        return chosen
