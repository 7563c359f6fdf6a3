"""The slot a question asks to fill, and whether a note holds a span that fills it.

A question for a value names the kind of value by a few frame words ("how much does it *cost*", "what
*temperature*", "what's the *phone* number"): a note answers with the value in its unit ("£48 a year",
"190 °C", "01632 960 584"), not by repeating the frame. So the slot says which question words are only
frame (the note need not have them) and what span the note must hold:

- money: "cost", "charge", "pay", "price", "fee" with "how much" -> a currency amount (£48, 12 pounds);
- temperature: "temperature", "how warm / cold / hot" -> degrees (°C, °F, "degrees");
- an end time: "when / what time does it finish / end / close" -> a time marked as an end ("to 6:15",
  "until 6 pm", "finishes at 3:15"): a time said with "at" is when something starts, not when it ends;
- a phone number: 6 digits or more not labelled as another number ("account FW 229 118 03" is not one);
- a person or company ("who"): a name the question does not say itself and not after a place word
  ("at Fenwick Leisure Centre" is where, not who);
- otherwise the coarse kinds of `evidence.answer_type` (a phone number, a day or time, a number ...).

Pure text rules, no model: unit-tested in tests/test_answers.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wyoming_xnai.text.words import NUMBER_WORDS, TIME_WORDS, TOKEN, any_phrase, fact_key, facts, has_digit, stem

_MONEY_ASKED = any_phrase("cost", "costs", "price", "prices", "fee", "fees", "charge", "charges", "pay", "paid", "spend")
_MONEY = re.compile(r"[£$€]\s?\d|\d(?:[\d.,]*)\s?(?:pounds?|quid|dollars?|euros?|pence|cents?)\b", re.I)
_TEMPERATURE_ASKED = any_phrase("temperature", "how (?:warm|cold|hot)", "degrees")
_TEMPERATURE = re.compile(r"\d\s?°|°\s?[CF]\b|\d\s?degrees\b", re.I)
_END_ASKED = any_phrase("finish", "finishes", "end", "ends", "close", "closes", "stop", "stops", "how late")
# an end: a time after "to", "until", "till", "-" ("5:30 to 6:15 pm"), or a verb of ending next to a time
_END = re.compile(
    r"(?:\b(?:to|until|till|til)\s+|[-–]\s*)(?:\d|noon|midnight)|\b(?:finish|end|close|stop)\w*\b\D{0,12}\d", re.I
)
PHONE = re.compile(r"\+?\(?\d[\d\s().-]{5,}\d")
# a long number labelled as another kind of number is not a phone number ("account FW 229 118 03")
_OTHER_NUMBER = re.compile(
    r"\b(?:account|acct|policy|reference|ref|serial|membership|member|registration|customer|microchip|chip|"
    r"booking|order|invoice|licence|license|passport|sort code|model)\W+(?:\w+\W+){0,2}$",
    re.I,
)
_PLACE_BEFORE = frozenset("at in on near from into inside behind under above beside outside".split())
FRAMES = {
    "money": frozenset(stem(w) for w in "cost costs price prices fee fees charge charges pay paid spend".split()),
    "temperature": frozenset(stem(w) for w in "temperature warm cold hot degrees".split()),
    "phone": frozenset(stem(w) for w in "phone telephone mobile landline".split()),
    "email": frozenset(stem(w) for w in "email e-mail address".split()),
}


@dataclass(frozen=True)
class Slot:
    """What the question asks to fill: a coarse kind (evidence.answer_type) and, when the question says
    so, a finer one ("money", "temperature", "end")."""

    kind: str | None
    fine: str | None = None

    @property
    def frames(self) -> frozenset[str]:
        """Stems of the question's words that only name the slot: the note need not repeat them."""
        return FRAMES.get(self.fine or "", frozenset()) | FRAMES.get(self.kind or "", frozenset())


def slot(question: str, kind: str | None) -> Slot:
    """The slot of a question whose coarse kind (`evidence.answer_type`) is `kind`."""
    if kind == "number" and _MONEY_ASKED.search(question):
        return Slot(kind, "money")
    if _TEMPERATURE_ASKED.search(question):
        return Slot("number", "temperature")
    if kind == "time" and _END_ASKED.search(question):
        return Slot(kind, "end")
    return Slot(kind)


def fills(text: str, asked: Slot, question: str) -> bool:
    """Does the note text hold a span that fills the finer slot (True when there is none to fill)?"""
    if asked.fine == "money":
        return bool(_MONEY.search(text))
    if asked.fine == "temperature":
        return bool(_TEMPERATURE.search(text))
    if asked.fine == "end":
        return bool(_END.search(text))
    if asked.kind == "person":
        return bool(new_names(text, question))
    if asked.kind == "phone":
        return any(is_phone(m, text) for m in PHONE.finditer(text))
    return True


def phone_length(found: re.Match[str]) -> bool:
    """A run of digits (a `PHONE` match) long enough for a phone number: 6 digits or more."""
    return sum(ch.isdigit() for ch in found.group()) >= 6


def is_phone(found: re.Match[str], text: str) -> bool:
    """A run of 6 digits or more that no label before it calls another kind of number."""
    return phone_length(found) and not _OTHER_NUMBER.search(text[max(0, found.start() - 40) : found.start()])


def new_names(text: str, question: str) -> list[str]:
    """Names in the text that could say who: runs of capitalised words ("Dr. Hannah Pryce", "Calder & Finch
    Heating") that are not a number, day or month, not said by the question, and not after a place word
    ("at Fenwick Leisure Centre" is where, not who)."""
    said = {fact_key(f) for f in facts(question)}
    named = set(facts(text))
    runs: list[tuple[int, list[str]]] = []  # (start of the run, its words)
    end = -1
    for m in TOKEN.finditer(text):
        word = m.group()
        if word not in named or has_digit(word) or word.lower() in NUMBER_WORDS or _is_time(word):
            continue
        if runs and re.fullmatch(r"[\s.&]*", text[end : m.start()]):
            runs[-1][1].append(word)
        else:
            runs.append((m.start(), [word]))
        end = m.end()
    out = []
    for start, words in runs:
        before = text[:start].split()
        place = bool(before) and before[-1].lower().strip("(\"'") in _PLACE_BEFORE
        if not place and not any(fact_key(w) in said for w in words):
            out.append(" ".join(words))
    return out


def _is_time(word: str) -> bool:
    return word.lower() in TIME_WORDS or stem(word) in TIME_WORDS  # "Mondays"
