"""What of an LLM's streamed answer may be said: each fact must come from the one note that answers.

`Grounding` takes the answer piece by piece (`feed`) and at the end (`finish`), and returns the text to
say: whole sentences once they end, a first clause early when it already holds up by itself. It is pure
(no LLM, no I/O), so its rules are unit-tested directly.

A sentence holds up (`supported`) against the supporting note when

- it says something the question did not (not just the question back);
- every fact in it (numbers with their codes, number words, days, months, names) is in the note itself,
  and an amount the note gives in parts ("3 hours 15 minutes") is said whole, not one part of it;
- every other content word comes from the note, its headings, or the question;
- it holds the kind of thing asked for (a time for "when", a number for "how much") and, when the note
  has facts, at least one of them (else it says less than the note: "It is the password for my home.");
  a place answer names one of the note's places ("in the jar", not only "in the kitchen");
- and where the question asks for a number or a time and the note holds several in different clauses
  ("front 2.3 bar, rear 2.2 bar"), a value said alone is the one whose own words the question uses: a
  number paired with the wrong qualifier fails; likewise, where the question is about one clause of the
  note, an answer made only of another clause's words fails ("duck" for what the cat is allergic to).

A sentence that fails is not said; if nothing holds up, the note is said plainly instead (its clause that
answers), which is always true. Without a note (small talk, general knowledge) the answer must not recite
the prompt or its worked example, nor state a number, day or month (only a note could give it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from wyoming_xnai.handle.evidence import answer_type, has_type, holds_slot
from wyoming_xnai.handle.notes import Note
from wyoming_xnai.handle.prompt import EXAMPLE_TEXTS, SentenceSplitter, finish_sentence, remainder
from wyoming_xnai.handle.slots import slot
from wyoming_xnai.text.cleaning import one_line_for_speech
from wyoming_xnai.text.words import (
    DAYS,
    MONTHS,
    NUMBER_WORDS,
    TOKEN,
    content_words,
    fact_key,
    facts,
    has_digit,
    near,
    stem,
)

MAX_SENTENCES = 2
_CLAUSE_CUT = re.compile(r"[,;]\s+|\s+(?:and|but|or|while|whereas)\s+", re.I)


def _fact_keys(text: str) -> set[str]:
    return {fact_key(f) for f in facts(text)}


def _values(text: str) -> list[str]:
    """Facts that are values (numbers, number words, days, months), as compared."""
    return [
        fact_key(f) for f in facts(text) if has_digit(f) or f.lower() in NUMBER_WORDS | DAYS | MONTHS
    ]


def _clauses(note: str) -> list[str]:
    return [c for c in _CLAUSE_CUT.split(note) if c.strip()]


def _own_words(clauses: list[str], lead_in: set[str]) -> list[set[str]]:
    """Each clause's content words that no other clause (nor the note's lead-in) has: what it alone says."""
    own = []
    for i, clause in enumerate(clauses):
        others = set().union(*(content_words(c) for j, c in enumerate(clauses) if j != i))
        own.append({w for w in content_words(clause) if not has_digit(w)} - others - lead_in)
    return own


def _asked_clause(question: str, own: list[set[str]]) -> int | None:
    """The clause the question's own words point to; None when they point to none or to several."""
    asked = content_words(question)
    scores = [len(asked & words) for words in own]
    best = max(scores)
    if best == 0 or scores.count(best) > 1:
        return None
    return scores.index(best)


def _right_qualifier(sentence: str, question: str, note: str) -> bool:
    """A value said without the note's other values is the one the question asks for."""
    values = set(_values(note))
    said = set(_values(sentence)) & values
    if len(values) < 2 or not said or said >= values:
        return True
    # the words before the note's first value introduce all of them ("The tyre pressure is 2.4 bar at the
    # front and 2.6 bar at the back"): they qualify none in particular
    starts = [m.start() for m in TOKEN.finditer(note) if fact_key(m.group()) in values]
    lead_in = content_words(note[: starts[0]]) if starts else set()
    clauses = _clauses(note)
    holding = [c for c in clauses if set(_values(c)) & values]
    if len(holding) < 2:
        return True  # one clause holds every value ("every Thursday at 7"): nothing to mix up
    chosen = _asked_clause(question, _own_words(clauses, lead_in))
    if chosen is None:
        return False  # the question does not say which value: the answer must not pick one
    return said <= set(_values(clauses[chosen]))


def _from_asked_clause(sentence: str, question: str, note: str) -> bool:
    """When the question is about one clause of the note, the answer's own words come from that clause:
    to "what is the cat allergic to?", "It is duck." from "The cat is allergic to chicken, so she only eats
    the duck food" fails; an answer that also says the asked clause's words, or a question whose words are in
    more than one clause, passes."""
    own = _own_words(_clauses(note), set())
    asked = content_words(question)
    touched = [i for i, words in enumerate(own) if asked & words]
    if len(touched) != 1:
        return True  # no clause, or several ("what batteries go in the remote?"), is the one asked about
    chosen = touched[0]
    said = content_words(sentence) - asked
    elsewhere = set().union(*(words for i, words in enumerate(own) if i != chosen))
    return not said & elsewhere or bool(said & own[chosen])


_PLACE_PHRASE = re.compile(
    r"\b(?:in|on|under|behind|inside|above|below|beside|near|next to|by|at)\s+(?:the|a|an|our|my|his|her|their)?\s*"
    r"((?:[A-Za-z'-]+\s+){0,3}?[A-Za-z'-]+)(?=\s+(?:in|on|under|behind|by|at|next|near|of|with|and|to)\b|[,.;:()]|$)",
    re.I,
)


# An amount in two or more parts: "3 hours 15 minutes", "1 hour and 20 minutes", "5 ft 10 in", "2 kg 300 g".
_UNIT = (
    r"(?:hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|weeks?|months?|years?|kg|g|grams?|kilos?|lbs?|pounds?|"
    r"oz|ounces?|st|stone|ft|feet|foot|in|inch(?:es)?|m|cm|mm|metres?|meters?|l|litres?|liters?|ml)"
)
_PART = rf"\d+(?:[.,]\d+)?\s?{_UNIT}\b"
_COMPOUND = re.compile(rf"{_PART}(?:\s+(?:and\s+)?{_PART})+", re.I)


def _keeps_whole_amounts(sentence: str, note: str) -> bool:
    """A part of an amount the note gives in parts comes with the rest of it: "15 minutes" for "3 hours 15
    minutes" is another, wrong amount."""
    said = set(_values(sentence))
    for compound in _COMPOUND.finditer(note):
        parts = set(_values(compound.group()))
        if said & parts and not parts <= said:
            return False
    return True


def _says_the_place(sentence: str, note: str) -> bool:
    """A place answer names one of the note's places down to its last word ("in the jar", "under the kitchen
    sink"): "in the kitchen" for "in the jar on the kitchen windowsill" says less than the note."""
    places = {stem(m.group(1).split()[-1]) for m in _PLACE_PHRASE.finditer(note)}
    return not places or bool(places & content_words(sentence))


def supported(sentence: str, question: str, note: Note) -> bool:
    """Does the sentence say something, and only what this one note says (see the module docstring)?"""
    asked = content_words(question)
    novel = content_words(sentence) - asked
    if not novel:
        return False
    if (_fact_keys(sentence) - _fact_keys(question)) - _fact_keys(note.text):
        return False
    known = content_words(f"{note.text} {note.context}")
    if any(not near(w, known) and not near(w, asked) for w in novel):
        return False
    if not has_type(sentence, answer_type(question)):
        return False  # "It is in the toilet." to "when is the next worming tablet?"
    if not _keeps_whole_amounts(sentence, note.text):
        return False  # "15 minutes." for "3 hours 15 minutes"
    if _fact_keys(note.text) and not _fact_keys(sentence) & _fact_keys(note.text):
        return False  # the note's facts are what it says: an answer without any of them says less
    if answer_type(question) == "place" and not _says_the_place(sentence, note.text):
        return False  # "It is in the kitchen." for "in the jar on the kitchen windowsill"
    if answer_type(question) not in ("number", "time", "phone"):
        # the values said come with what was asked for ("Hartwell Heating, phone 555 0142")
        return _from_asked_clause(sentence, question, note.text)
    return _right_qualifier(sentence, question, note.text)


def cannot_be_supported(partial: str, question: str, note: Note) -> bool:
    """A sentence still being written already holds a whole fact the note lacks: it fails whatever follows."""
    words = partial.split()
    if partial and not partial[-1].isspace():
        words = words[:-1]  # the last word may still grow ("2" -> "2.4")
    said = _fact_keys(" ".join(words)) - _fact_keys(question)
    return any(has_digit(f) for f in said - _fact_keys(note.text))


def recites_prompt(sentence: str, question: str) -> bool:
    """An answer without notes that copies the prompt's instruction or worked example (which the question
    is not about): "The capital of France is Paris." to a question of emoji."""
    asked = content_words(question)
    words = content_words(sentence) - asked
    for text in EXAMPLE_TEXTS:
        example = content_words(text)
        if words and words <= example and len(asked & example) < max(1, len(asked) // 2):
            return True
    return False


def states_a_value(sentence: str, question: str) -> bool:
    """Does an answer without notes state a number, a day, a month or an email address the question did
    not? Without a note that is made up: "The house is 10 degrees on a weekday evening."."""
    return bool(set(_values(sentence)) - set(_values(question))) or "@" in sentence  # or an email address


def best_clause(note: str, question: str) -> str:
    """The part of a long note that answers: "X is under the sink; turn it clockwise" -> "X is under the sink.";
    to "how much do we pay the babysitter?", "Notes £12 an hour." of "Chloe Winter: babysitting; Notes £12 an hour"."""
    clauses = [c for c in re.split(r";\s+", one_line_for_speech(note)) if c]
    if len(clauses) <= 1:
        return finish_sentence(note)
    asked = {stem(w) for w in content_words(question)}
    wanted = slot(question, answer_type(question))

    def fit(c: str) -> tuple:  # the clause that holds the kind asked for, then the most words of the question
        return (holds_slot(c, wanted, question), len(asked & content_words(c)), -clauses.index(c))

    return finish_sentence(max(clauses, key=fit))


@dataclass
class Step:
    say: list[str] = field(default_factory=list)  # text to say now, in order
    stop: bool = False  # the answer is complete (or beyond saving): stop generating


class Grounding:
    """The streaming checks for one answer; `note` is the supporting note, None for an answer without notes."""

    def __init__(self, question: str, note: Note | None) -> None:
        self.question = question
        self.note = note
        self.said: list[str] = []  # sentences said in full
        self.heads: list[str] = []  # first clauses said early (one whose sentence then failed still counts)
        self.rejected: list[str] = []
        self.extractive = False  # the note itself was said
        self._splitter = SentenceSplitter()
        self._head = ""  # first clause of the sentence being written, said already

    def _holds(self, text: str) -> bool:
        if self.note is None:  # it must say something, and nothing only a note could say
            said_something = bool(content_words(text) - content_words(self.question))
            return said_something and not recites_prompt(text, self.question) and not states_a_value(text, self.question)
        return supported(text, self.question, self.note)

    def _accept(self, sentence: str) -> list[str]:
        # a small model copies whole note sentences: "X; Y" -> "X." (the direct answer comes first)
        sentence = finish_sentence(sentence.split("; ")[0])
        said_head, self._head = self._head, ""
        if len(self.said) >= MAX_SENTENCES or sentence in self.said or not sentence:
            return []
        rest = remainder(sentence, said_head) if said_head else sentence
        if rest and not self._holds(sentence):  # whole: the kind asked for may be in its first clause
            self.rejected.append(sentence)
            return []
        self.said.append(sentence)
        return [rest] if rest else []

    def feed(self, piece: str) -> Step:
        """The next piece of the LLM's text: what to say now, and whether to stop generating."""
        step = Step()
        for sentence in self._splitter.feed(piece):
            said = self._accept(sentence)
            if not said and (self.rejected or len(self.said) >= MAX_SENTENCES):
                step.stop = True
                return step
            step.say += said
        pending = self._splitter.pending
        if "; " in pending:  # the sentence will be cut there anyway: say it, stop generating
            step.say += self._accept(self._splitter.flush())
            step.stop = True
        elif not self.said and self.note and cannot_be_supported(pending, self.question, self.note):
            self.rejected.append(self._splitter.flush())  # a made-up number: stop now, say the note at once
            step.stop = True
        elif not self.said and not self._head:
            clause = self._splitter.clause()
            if len(clause.split()) >= 2 and self._holds(clause):
                self._head = clause
                self.heads.append(clause)
                step.say.append(clause)
        return step

    def finish(self, complete: bool = True) -> list[str]:
        """The end of the LLM's text (`complete`: it ended by itself, so its last sentence is whole):
        what is left to say. The note itself when nothing of the LLM's held up."""
        out = self._accept(self._splitter.flush()) if complete else []
        self._splitter.flush()
        if not self.said and not self.heads and self.note is not None:
            self.extractive = True
            text = best_clause(self.note.text, self.question)
            self.said.append(text)
            out.append(text)
        return out

    @property
    def text(self) -> str:
        return " ".join(self.said or self.heads)
