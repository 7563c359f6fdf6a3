"""Where a sentence may be cut short: after a clause mark, or before a joining word or a phrase start.

A voice may pause there without breaking a phrase apart, so TTS cuts a long first sentence there (audio
starts sooner) and handle says a first clause there before its sentence is finished. Cuts never fall
inside numbers ("1,000", "10:30": no space follows the mark).
"""

from __future__ import annotations

import re

# Words a long clause can be cut before without breaking a phrase apart.
JOINERS = frozenset(
    """and but or nor so yet because although though while whereas which who whom whose that where
    when if unless until since after before with without for to from into onto about than as""".split()
)
# Where else a first piece may end: before a place or time phrase ("The key is | under the pot by the door").
PHRASE_STARTS = JOINERS | frozenset(
    "by under at on in near behind beside inside outside above below over through during next every".split()
)
_CLAUSE = re.compile(r"[,;:—–]+[\"'”’)\]]*(?=\s)|\s[-–—]\s")


def clause_end(text: str, start: int, stop: int) -> int | None:
    """Index just past the first clause mark (',' ';' ':' dash) in text[start:stop] followed by a space."""
    for m in _CLAUSE.finditer(text[:stop]):
        if m.end() > start and m.end() < len(text):
            return m.end()
    return None


def last_clause_end(text: str, stop: int) -> int | None:
    """Like `clause_end`, but the last clause mark before `stop`: long pieces stay long."""
    ends = [m.end() for m in _CLAUSE.finditer(text[:stop]) if 0 < m.end() < len(text)]
    return ends[-1] if ends else None


def word_cut(text: str, max_words: int, before: frozenset[str] = JOINERS) -> int | None:
    """Cut a clause with no punctuation after at most `max_words` words, before a joining word if any."""
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    if len(spans) <= max_words:
        return None
    best = max_words
    for idx in range(max_words, max(2, max_words // 2) - 1, -1):
        if text[spans[idx][0] : spans[idx][1]].lower().strip("\"'(") in before:
            best = idx
            break
    return spans[best][0]


def starts_phrase(word: str) -> bool:
    """Does a phrase that can stand after a pause start with this word ("under", "and")?"""
    return word.lower().strip("\"'(") in PHRASE_STARTS
