"""Wake phrases in transcripts: the transcript-based wake phrase (`--wake-phrase`, the fallback when no
wake-word model is used), and what is left of a detected wake word in the pre-roll audio."""

from __future__ import annotations

import re

_PUNCT = ".,!?;:'\""
# Spellings Whisper picks for the same sounds, folded so that "Boo" and the "bu" of "nabu" compare equal.
_SOUNDS = (("ck", "k"), ("ph", "f"), ("oo", "u"), ("ou", "u"), ("ee", "i"), ("ea", "i"), ("c", "k"),
           ("q", "k"), ("y", "i"), ("z", "s"), ("w", "u"))  # fmt: skip


def _words(text: str) -> list[str]:
    return [w.strip(_PUNCT).lower() for w in text.split() if w.strip(_PUNCT)]


def strip_wake_phrase(text: str, phrase: str) -> str | None:
    """The request after the wake phrase, or None when the utterance did not start with it."""
    want, words = _words(phrase), text.split()
    if _words(" ".join(words[: len(want)])) != want:
        return None
    return _after(words, len(want))


def _after(words: list[str], count: int) -> str:
    """The request: the words after the first `count`, without the marks that set it off."""
    return " ".join(words[count:]).strip(" ,.")


def _sound_key(text: str) -> str:
    key = re.sub(r"[^a-z]", "", text.lower())
    for spelling, sound in _SOUNDS:
        key = key.replace(spelling, sound)
    return re.sub(r"(.)\1+", r"\1", key)


def _distance(a: str, b: str) -> int:
    """Levenshtein distance of two short strings."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def _is_wake_tail(fragment: str, phrase_key: str) -> bool:
    """Whether `fragment` sounds like the end of the wake phrase (its last syllables, as heard)."""
    key = _sound_key(fragment)
    if len(key) < 2:
        return False
    allowed = len(key) // 3
    return any(
        _distance(key, phrase_key[start:]) <= allowed
        for start in range(len(phrase_key) - 1)
        if abs(len(phrase_key) - start - len(key)) <= allowed
    )


def strip_wake_tail(text: str, phrase: str) -> str:
    """The transcript without what the pre-roll kept of the wake word: the phrase itself, or its end as
    a fragment set off by punctuation ("Boo, which day..." after "okay nabu"). Only a fragment the
    transcriber ended with a mark is dropped, so a question that merely starts with a similar word stays."""
    rest = strip_wake_phrase(text, phrase)
    if rest is not None:
        return rest
    words, phrase_key = text.split(), _sound_key(phrase)
    for count in range(1, min(len(_words(phrase)), len(words)) + 1):
        last = words[count - 1]
        if last[-1] in ",.!?;:" and _is_wake_tail(" ".join(words[:count]), phrase_key):
            return _after(words, count)
    return text
