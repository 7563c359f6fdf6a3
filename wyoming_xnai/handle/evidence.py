"""Do the notes answer the question? Decided from retrieval evidence, before any LLM runs.

The nearest note is often on the right topic without holding the answer ("the garage alarm code" finds
"the house alarm code is 5820"). Said by an LLM, that near miss becomes a confident wrong answer. So a
note supports an answer only when

- most of the question's key terms (its content words) are in the note or its headings, by light
  stem, and every name it mentions ("the Volvo", "Miso") is: a note about
  another car or pet is a near miss, however close in meaning;
- the note has the kind of thing the question asks for: a name for "who", a day or time for "when", a
  number for "how much" or a code, a place for "where";
- and it is close to the question in meaning (cosine of the sentence embeddings).

The constants are fitted on the dev evaluation set by `bench/answerability.py` (which prints them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from wyoming_xnai.handle.notes import Note
from wyoming_xnai.handle.vocabulary import rank
from wyoming_xnai.text.words import (
    NUMBER_WORDS,
    PLACE_WORDS,
    TIME_WORDS,
    content_words,
    facts,
    has_digit,
    near,
    stem,
    tokens,
)

# Fitted on bench/data/answers/dev by bench/answerability.py: the grid point that gives no unanswerable
# question a note and the most answerable ones the right note (26 of 79 on dev). Looser points trade
# truth for coverage: one unanswerable question given a note buys 1 more, four buy 13 more.
MIN_SIMILARITY = 0.25  # below this no note is about the question
MIN_SHARE = 0.67  # of the question's key terms in the note or its headings
MAX_MISSING = 1  # common key terms the note may lack (the asker's wording: "the little key box outside")
COMMON_RANK = 3500  # a word this high in the English vocabulary (vocabulary.rank) is a common word
CANDIDATES = 6  # best-ranked notes considered as support


@dataclass(frozen=True)
class Lexicon:
    """What the documents say, as stems: every content word, and the names among them."""

    words: frozenset[str]
    names: frozenset[str]


_PERSON = re.compile(r"^\s*(who|whom)\b|\bwho(?:'s|se| is| are| does| do| did| will| can| should)\b", re.I)
_TIME = re.compile(
    r"\b(when|what time|(?:which|what) (?:day|days|night|nights|month|months|week|date|year|time)|how often)\b", re.I
)
_NUMBER = re.compile(
    r"\bhow (?:much|many|old|long|far|big|heavy|tall|high)\b|\b(?:number|code|pin|phone|price|cost|costs|"
    r"temperature|pressure|size|age|amount)\b",
    re.I,
)
_PLACE = re.compile(r"^\s*where\b|\bwhere(?:'s| is| are| do| does| did| can| should| will)\b", re.I)


def answer_type(question: str) -> str | None:
    """What the question asks for: "person", "time", "number", "place", or None (anything)."""
    if _PERSON.search(question):
        return "person"
    if _TIME.search(question):
        return "time"
    if _NUMBER.search(question):
        return "number"
    if _PLACE.search(question):
        return "place"
    return None


def has_type(text: str, kind: str | None) -> bool:
    """Does the note text hold something of that kind?"""
    if kind is None:
        return True
    words = tokens(text)
    lower = {w.lower() for w in words}
    if kind == "person":
        return any(not has_digit(f) and f.lower() not in TIME_WORDS for f in facts(text))
    if kind == "time":
        return bool(lower & TIME_WORDS) or any(has_digit(w) for w in words)
    if kind == "number":
        return bool(lower & NUMBER_WORDS) or any(has_digit(w) for w in words)
    return bool(lower & PLACE_WORDS)


# Words that only frame what is asked ("how much", "what time", "which day", "phone number"): the kind of
# answer (`answer_type`) stands for them, the note need not repeat them.
FRAME_WORDS = frozenset("much many long often old far big day days time times date number numbers".split())


def key_terms(question: str) -> list[str]:
    """The question's content words without its frame words, as stems, in order, once each."""
    words = [w for w in tokens(question) if w.lower() not in FRAME_WORDS]
    return list(dict.fromkeys(stem(w) for w in words if stem(w) in content_words(w)))


@dataclass(frozen=True)
class Evidence:
    """How well one note supports an answer to the question."""

    note: Note
    terms: int  # key terms of the question
    matched: int  # of them in the note or its context
    missing_names: int  # names the question mentions ("Volvo") that the note lacks: another thing
    missing: int  # common words of the question the note lacks
    missing_specific: int  # other key terms the note lacks ("garage", "dentist"): another thing
    type_ok: bool

    @property
    def share(self) -> float:
        return self.matched / self.terms if self.terms else 0.0

    @property
    def supports(self) -> bool:
        """The decision (see the module docstring)."""
        return (
            self.note.similarity >= MIN_SIMILARITY
            and self.type_ok
            and self.matched > 0
            and self.missing_names == 0
            and self.missing_specific == 0
            and self.missing <= MAX_MISSING
            and self.share >= MIN_SHARE
        )

    def rank(self) -> tuple:
        return (not self.supports, self.missing_names + self.missing_specific, self.missing, -self.note.score)


def question_names(question: str, lexicon: Lexicon) -> set[str]:
    """Key terms that name something: capitalised inside the question, or a name in the documents."""
    named = {stem(f) for f in facts(question) if not has_digit(f)}
    return {t for t in key_terms(question) if t in named or t in lexicon.names}


def _common(term: str, question: str) -> bool:
    """Is the key term (a stem) a common English word as the question writes it?"""
    for word in tokens(question):
        if stem(word) == term:
            place = rank(word)
            return place is not None and place < COMMON_RANK
    return False


def weigh(question: str, note: Note, lexicon: Lexicon) -> Evidence:
    terms = key_terms(question)
    here = content_words(f"{note.text} {note.context}")
    missing = [t for t in terms if not near(t, here)]
    names = question_names(question, lexicon)
    missing_names = [t for t in missing if t in names]
    common = [t for t in missing if t not in names and _common(t, question)]
    specific = len(missing) - len(missing_names) - len(common)
    kind = answer_type(question)
    matched = len(terms) - len(missing)
    return Evidence(note, len(terms), matched, len(missing_names), len(common), specific, has_type(note.text, kind))


def assess(question: str, notes: Sequence[Note], lexicon: Lexicon) -> list[Evidence]:
    """Evidence for each of the best notes, the most supportive first."""
    return sorted((weigh(question, n, lexicon) for n in notes[:CANDIDATES]), key=Evidence.rank)


def support(question: str, notes: Sequence[Note], lexicon: Lexicon) -> Note | None:
    """The note that answers the question, or None when the notes do not."""
    ranked = assess(question, notes, lexicon)
    return ranked[0].note if ranked and ranked[0].supports else None
