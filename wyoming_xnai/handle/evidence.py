"""Do the notes answer the question? Decided from retrieval evidence, before any LLM runs.

The nearest note is often on the right topic without holding the answer ("the garage alarm code" finds
"the house alarm code is 5820"). Said by an LLM, that near miss becomes a confident wrong answer. So each
of the best notes is weighed (`weigh`), with its context (headings, the sentence it leans on: see
rag/outline.py), and one supports an answer only when

- it holds the kind of thing asked for (a name for "who", a day or time for "when", a number for "how
  much", a phone number for a phone, an address with "@" for an email) and every name the question
  mentions ("the Volvo", "Miso"): a note about another car or pet is a near miss, however close;
- and a small logistic model (`probability`) of how close it is says it likely holds the answer: the
  cosine of question and note-with-context, the share of the question's key terms in the note and its
  context (by light stem) and in the note alone, the key terms it lacks (an uncommon noun like "wattage"
  or "dentist" weighs more than a verb like "charge" or a common word, which askers paraphrase), how
  close in meaning the missing words are to the note's words ("guaranteed" / "warranty"), and how far it
  stands above the other notes, and above the notes of other sections (other documents or top headings).

The weights and the threshold are fitted on the dev evaluation set by `bench/answerability.py`, which
prints them and the curve of facts found against invented answers.

The model is unsure of questions asked in other words than the notes, so a note also supports an answer
by the typed-slot rule (`fills_slot`): it holds a span of the kind asked for (`slots.py`: an amount for
"cost", degrees for "how cold", an end time for "finish", a name that is not a place for "who" ...) and
every word of the question but its verbs and frame words; no likelier note competes; and no word of the
question comes only from a heading that lists the note's own thing among others (`heading_conflicts`).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from wyoming_xnai.handle.notes import Note
from wyoming_xnai.handle.slots import PHONE, Slot, fills, phone_length, slot
from wyoming_xnai.handle.vocabulary import rank
from wyoming_xnai.text.words import (
    NUMBER_WORDS,
    PLACE_WORDS,
    TIME_WORDS,
    any_phrase,
    content_words,
    fact_key,
    facts,
    has_digit,
    is_stopword,
    near,
    stem,
    tokens,
)

COMMON_RANK = 3500  # a word this high in the English vocabulary (vocabulary.rank) is a common word
CANDIDATES = 6  # best-ranked notes considered as support

# Fitted on bench/data/answers/dev by `uv run python -m bench.answerability` (L2-regularised logistic
# regression over the candidates of every question, label: the note holds an expected answer; the
# candidates of unanswerable questions weigh 10x). Each weight multiplies the feature of
# `Evidence.features` with the same name. A missing verb or common word comes out positive: with
# `share` fixed, it means a longer question, and askers paraphrase those; a missing noun stays negative.
WEIGHTS = {
    "bias": -7.735,
    "similarity": 4.89,
    "share": 2.575,
    "missing_nouns": -0.955,
    "missing_verbs": 1.127,
    "missing_common": 0.309,
    "synonym": 2.606,
    "margin": 8.163,
    "first": 1.461,
    "margin_section": 0.01,
}
# Chosen on the dev curve with each question left out of its own fit: the most facts found (55 of 79,
# with the typed-slot rule) with at most one of 20 unanswerable questions given a note (0 in the fit).
THRESHOLD = 0.55
# Above this the support is sure; below it a supported question is also checked for plausibility. On dev,
# the misheard "what time is I love swimming on" gets 0.67; real questions that score as implausible, 0.87+.
SURE = 0.8


WordVectors = Callable[[list[str]], np.ndarray]  # words -> their unit vectors (rows)


@dataclass(frozen=True)
class Lexicon:
    """What the documents say, as stems: every content word, and the names among them; and, when an
    embedder is at hand, the vectors of single words (for how close a missing word is to a note's)."""

    words: frozenset[str]
    names: frozenset[str]
    vectors: WordVectors | None = None


_PERSON = re.compile(r"^\s*(who|whom)\b|\bwho(?:'s|se| is| are| does| do| did| will| can| should)\b", re.I)
_TIME = any_phrase(
    "when", "what time", "(?:which|what) (?:day|days|night|nights|month|months|week|date|year|time)", "how often"
)
_NUMBER = any_phrase(
    "how (?:much|many|old|long|far|big|heavy|tall|high)", "number", "code", "pin", "phone", "price", "cost", "costs",
    "temperature", "pressure", "size", "age", "amount",
)  # fmt: skip
_PLACE = re.compile(r"^\s*where\b|\bwhere(?:'s| is| are| do| does| did| can| should| will)\b", re.I)
_PHONE_ASKED = any_phrase("phone", "telephone", "mobile", "landline", "ring", "call")
# "the number for ordering oil", "the plumber's number": a number to ring, not an amount or a count ("the
# number of hens") nor another kind of number ("the policy number for the car" puts its kind before it)
_NUMBER_TO_RING = re.compile(r"\b(?:the|a|your|our)\s+number\s+for\b|\b\w+(?:'s|s')\s+number\b", re.I)
_EMAIL_ASKED = any_phrase("e-?mail")


def answer_type(question: str) -> str | None:
    """What the question asks for: "email", "phone", "person", "time", "number", "place", or None."""
    if _EMAIL_ASKED.search(question):
        return "email"
    if (_PHONE_ASKED.search(question) or _NUMBER_TO_RING.search(question)) and not _PERSON.search(question):
        return "phone"
    if _PERSON.search(question):
        return "person"
    if _TIME.search(question):
        return "time"
    if _NUMBER.search(question):
        return "number"
    if _PLACE.search(question):
        return "place"
    return None


def holds_slot(text: str, asked: Slot, question: str) -> bool:
    """The text holds the kind of thing the question asks for, down to its finer slot (an amount of money,
    degrees, an end time, a name it does not say itself, a phone number that is not an account number)."""
    return has_type(text, asked.kind) and fills(text, asked, question)


def has_type(text: str, kind: str | None) -> bool:
    """Does the note text hold something of that kind?"""
    if kind is None:
        return True
    if kind == "email":
        return "@" in text
    if kind == "phone":
        return any(phone_length(m) for m in PHONE.finditer(text))
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
    in_note: int  # of them in the note itself
    missing_names: int  # names the question mentions ("Volvo") that the note lacks: another thing
    missing: int  # common words of the question the note lacks
    missing_specific: int  # uncommon nouns the note lacks ("wattage", "dentist"): likely another thing
    missing_verbs: int  # verbs of the question the note lacks ("charge", "supplies"): often paraphrased
    synonym: float  # how close in meaning the least covered missing word is to a word of the note (1: none missing)
    type_ok: bool
    margin: float = 0.0  # similarity above the best other candidate (0 when it is the only one)
    first: bool = False  # the best-ranked candidate
    margin_section: float = 0.0  # similarity above the best candidate of another section (0 when none)
    conflicts: int = 0  # question words the note has only from a heading that lists it among others it names
    slotted: bool = False  # the question's slot is filled and every word of it but verbs is here (`fills_slot`)

    @property
    def share(self) -> float:
        return self.matched / self.terms if self.terms else 0.0

    def features(self) -> dict[str, float]:
        """The inputs of `probability`, by the names of WEIGHTS."""
        return {
            "bias": 1.0,
            "similarity": self.note.similarity,
            # a key term in the note itself counts fully, one only in its context half
            "share": (self.in_note + self.matched) / (2 * self.terms) if self.terms else 0.0,
            "missing_nouns": min(self.missing_specific, 3),
            "missing_verbs": min(self.missing_verbs, 3),
            "missing_common": min(self.missing, 3),
            "synonym": self.synonym,
            "margin": self.margin,
            "first": float(self.first),
            "margin_section": self.margin_section,
        }

    @property
    def probability(self) -> float:
        """How likely the note holds the answer (the fitted logistic model)."""
        z = sum(WEIGHTS.get(name, 0.0) * value for name, value in self.features().items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    @property
    def supports(self) -> bool:
        """The decision (see the module docstring)."""
        if not self.type_ok or self.missing_names or self.conflicts or not self.matched:
            return False
        return self.slotted or self.probability >= THRESHOLD

    @property
    def unsure(self) -> bool:
        """Supported, but not surely (by the typed-slot rule alone, or a probability below SURE): a misheard
        question may share a note's words by chance, so its plausibility is checked too (handle/chain.py)."""
        return self.supports and self.probability < SURE

    def rank(self) -> tuple:
        return (not self.supports, -self.probability)


_AUXILIARIES = frozenset("do does did don't doesn't can could should would will shall must may might".split())
_SUBJECTS = frozenset("i we you they he she".split())
_PARTICLES = frozenset("out up back off".split())


def question_verbs(question: str, strict: bool = False) -> set[str]:
    """Stems of the question's verbs, by their place in an English question: after "who" ("who feeds"),
    after a subject pronoun ("do I pay", "am I supposed"), after "to" ("to test"), after "do/does/did"
    and a name ("does Pete charge"), else the last word of a question with "do/does/did" ("when does the
    dog walker come"). `strict`: only the places that are sure (not the last word, which is often a noun:
    "when do they pick up the recycling", nor the word after a possessive: "does Isla's piano lesson")."""
    written = tokens(question)
    words = [w.lower() for w in written]
    verbs = set()
    for i, word in enumerate(words[1:], 1):
        before = words[i - 1]
        if (before == "who" and word not in _AUXILIARIES) or before in _SUBJECTS or before == "to":
            verbs.add(word)
    for i, word in enumerate(words[:-2]):
        if word in ("do", "does", "did") and written[i + 1][:1].isupper() and written[i + 1].lower() not in _SUBJECTS:
            if not (strict and words[i + 1].endswith("'s")):
                verbs.add(words[i + 2])
    if not strict and any(w in ("do", "does", "did") for w in words[:-1]):
        tail = [w for w in words if not is_stopword(w) or w in _PARTICLES]
        while tail and tail[-1] in _PARTICLES:
            tail.pop()
        if tail:
            verbs.add(tail[-1])
    return {stem(v) for v in verbs if not is_stopword(v)}


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
    own = content_words(note.text)
    missing = [t for t in terms if not near(t, here)]
    names = question_names(question, lexicon)
    verbs = question_verbs(question)
    missing_names = [t for t in missing if t in names]
    rest = [t for t in missing if t not in names]
    missing_verbs = [t for t in rest if t in verbs]
    common = [t for t in rest if t not in verbs and _common(t, question)]
    specific = len(rest) - len(missing_verbs) - len(common)
    asked = slot(question, answer_type(question))
    type_ok = holds_slot(note.text, asked, question)
    conflicts = heading_conflicts(question, note)
    return Evidence(
        note,
        len(terms),
        len(terms) - len(missing),
        sum(near(t, own) for t in terms),
        len(missing_names),
        len(common),
        specific,
        len(missing_verbs),
        _synonym(question, rest, f"{note.text} {note.context}", lexicon.vectors),
        type_ok,
        conflicts=len(conflicts),
        slotted=type_ok and fills_slot(question, asked, note, conflicts),
    )


def fills_slot(question: str, asked: Slot, note: Note, conflicts: set[str]) -> bool:
    """The typed-slot rule: the question asks for a kind of value (a day, an amount, a phone number, a
    name ...), and every word it says about *what* (all but its verbs, which askers paraphrase, and the
    slot's frame words, which the value's unit stands for) is in the note or its headings, one at least
    in the note itself (not as a unit). A near miss asks about an attribute or a thing the note does not name
    ("wattage", "the study"); then it fails. A question that names no kind ("what's the excess on the home
    insurance?", "which neighbour has a spare key?") needs all its words, verbs too, and a fact of the note
    it does not say itself (a number, a code, a name)."""
    verbs = question_verbs(question, strict=True) if asked.kind else set()
    terms = [t for t in key_terms(question) if t not in asked.frames]
    subject = [t for t in terms if t not in verbs]
    if asked.kind is None and not {fact_key(f) for f in facts(note.text)} - {fact_key(f) for f in facts(question)}:
        return False
    here = content_words(f"{note.text} {note.context}")
    return any(near(t, _things(note.text)) for t in terms) and all(near(t, here) and t not in conflicts for t in subject)


def _things(text: str) -> set[str]:
    """The note's content words but the units of its numbers ("1 hour 20 minutes"): a question that shares
    only units with a note ("how many minutes are there in an hour?") is not about what the note is about."""
    words = tokens(text)
    return {stem(w) for i, w in enumerate(words) if not is_stopword(w) and not (i and has_digit(words[i - 1]))}


def heading_conflicts(question: str, note: Note) -> set[str]:
    """Question words the note has only from a heading that lists several things ("WATER, GAS, ELECTRIC")
    while the note, or the rest of its context, puts another of them where the question puts this one
    ("gas meter" asked, "Electric meter ..." written): the note is about the other thing."""
    parts = note.context.split(" > ")
    pairs = _pairs(question)
    out = set()
    for i, part in enumerate(parts):
        members = [content_words(m) for m in _LIST_SPLIT.split(part)]
        if len(members) < 2 or len(part.split()) > 6:
            continue
        rest = " ".join([note.text, *parts[:i], *parts[i + 1 :]])
        written = _pairs(rest)
        for term, head in pairs:
            if near(term, content_words(rest)) or not any(near(term, m) for m in members):
                continue
            others = set().union(*(m for m in members if not near(term, m)))
            if any(h == head and near(w, others) for w, h in written):
                out.add(term)
    return out


def _pairs(text: str) -> list[tuple[str, str]]:
    """Adjacent content words as stems ("gas meter" -> ("gas", "meter")): a thing and what it qualifies."""
    words = [stem(w) for w in tokens(text) if not is_stopword(w) and not has_digit(w)]
    return list(itertools.pairwise(words))


_LIST_SPLIT = re.compile(r",\s*|\s+(?:and|&)\s+|\s*/\s*", re.I)


def _synonym(question: str, missing: list[str], text: str, vectors: WordVectors | None) -> float:
    """The least of the missing words' best cosine to a word of the note (1.0 when none is missing)."""
    if not missing:
        return 1.0
    words = list(dict.fromkeys(w.lower() for w in tokens(text) if not is_stopword(w) and not has_digit(w)))
    asked = [next((w.lower() for w in tokens(question) if stem(w) == t), t) for t in missing]
    if vectors is None or not words:
        return 0.0
    return float((vectors(asked) @ vectors(words).T).max(axis=1).min())


def assess(question: str, notes: Sequence[Note], lexicon: Lexicon) -> list[Evidence]:
    """Evidence for each of the best notes, the most supportive first."""
    weighed = [weigh(question, n, lexicon) for n in notes[:CANDIDATES]]
    sims = [e.note.similarity for e in weighed]
    placed = [
        replace(
            e,
            margin=e.note.similarity - max((x for j, x in enumerate(sims) if j != i), default=sims[i]),
            first=i == 0,
            margin_section=_margin_section(e.note, [x.note for x in weighed]),
        )
        for i, e in enumerate(weighed)
    ]
    # the slot rule overrides the model's threshold, not its ranking: a note that fills the slot counts only
    # when no other note that could answer is likelier ("AdBlue ... next to the fuel cap" for "what fuel")
    eligible = [e.probability for e in placed if e.type_ok and not e.missing_names and not e.conflicts and e.matched]
    likeliest = max(eligible, default=0.0)
    placed = [replace(e, slotted=e.slotted and e.probability >= likeliest) for e in placed]
    return sorted(placed, key=Evidence.rank)


def _section(note: Note) -> tuple[str, str]:
    """The document and top heading a note stands under."""
    return note.source, note.context.split(" > ")[0]


def _margin_section(note: Note, candidates: Sequence[Note]) -> float:
    """The note's similarity above the best candidate of another section. Notes of one section are
    near each other (they share a heading), so the plain margin is small for the right one among its
    siblings; standing above the other topics is what says the question is about this section."""
    others = [n.similarity for n in candidates if _section(n) != _section(note)]
    return note.similarity - max(others) if others else 0.0


def support(question: str, notes: Sequence[Note], lexicon: Lexicon) -> Note | None:
    """The note that answers the question, or None when the notes do not."""
    ranked = assess(question, notes, lexicon)
    return ranked[0].note if ranked and ranked[0].supports else None
