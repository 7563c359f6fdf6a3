"""Words of a text for comparing a question, notes and an answer: tokens, light stems, content words, facts.

A *fact* is what an answer must not get wrong: a number or code ("2.4", "555 0142" is two, "LM-88231"),
a number word ("seven"), a day, a month, or a capitalised name inside a sentence ("Hartwell").
"""

from __future__ import annotations

import re

from wyoming_xnai.text.sentences import is_abbreviation


def any_phrase(*phrases: str, at_start: bool = False) -> re.Pattern[str]:
    """Any of `phrases` (regular expressions) as whole words, in any case: anywhere in a text, or only at its
    start (after spaces). The question rules are lists of phrases; this is how each becomes a pattern."""
    start = r"^\s*" if at_start else r"\b"
    return re.compile(rf"{start}(?:{'|'.join(phrases)})\b", re.I)


TOKEN = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?(?:[-.,:/][A-Za-z0-9]+)*")

STOPWORDS = frozenset(
    """a an the is are was were be been being am do does did done of to in on at by for from with and or but
    if then so as it its it's this that these those there here what which who whom whose where when why how
    i me my we us our you your he him his she her they them their one ones not no yes can could would should
    will shall may might must have has had get gets got into onto about over under up down out off than too
    very just also only any some all each every both either neither such own same other called named please
    answer question notes note kept keep need needs want tell know let lets go goes going use used say said
    does don't isn't aren't what's where's who's it's there's i'm we're you're thing things
    anything something um uh er erm hmm mm ah oh""".split()
)
NUMBER_WORDS = frozenset(
    """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
    seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand
    million first second third fourth fifth sixth seventh eighth ninth tenth half quarter twice once
    dozen""".split()
)
DAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday weekday weekend".split())
MONTHS = frozenset(
    "january february march april may june july august september october november december".split()
)
TIME_WORDS = DAYS | MONTHS | frozenset(
    """morning afternoon evening night noon midnight daily weekly monthly yearly annually fortnightly
    week weekend month year spring summer autumn winter today tomorrow tonight am pm o'clock""".split()
)
PLACE_WORDS = frozenset(
    """in on under behind at by inside outside above below near next beside between upstairs downstairs
    left right top bottom front back""".split()
)
_SUFFIXES = ("ations", "ation", "ions", "ion", "ings", "ing", "ies", "ied", "ly", "ed", "es", "s", "e", "y")


def tokens(text: str) -> list[str]:
    """Words, numbers and codes as written ("2.4", "LM-88231", "dog's"); trailing punctuation dropped."""
    return TOKEN.findall(text.replace("’", "'"))


def stem(word: str) -> str:
    """A light stem: "collected", "collection", "collects" -> "collect"; "batteries", "battery" -> "batter"."""
    word = word.lower().removesuffix("'s")
    if any(ch.isdigit() for ch in word):
        return word
    for suffix in _SUFFIXES:
        if len(word) - len(suffix) >= 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def near(stemmed: str, stems: set[str] | frozenset[str]) -> bool:
    """Is the stem among `stems`, or shares it a start of five letters or more with one ("electric" /
    "electricity", "vaccinat" / "vaccination"): the same word in another form."""
    if stemmed in stems:
        return True
    return len(stemmed) >= 5 and any(len(w) >= 5 and (w.startswith(stemmed) or stemmed.startswith(w)) for w in stems)


def is_stopword(word: str) -> bool:
    return word.lower().replace("’", "'") in STOPWORDS


def content_words(text: str) -> set[str]:
    """Stems of the words that carry meaning (stop words out)."""
    return {stem(w) for w in tokens(text) if not is_stopword(w)}


def has_digit(word: str) -> bool:
    return any(ch.isdigit() for ch in word)


def fact_key(word: str) -> str:
    """How a fact is compared: lower case, without separators ("4-7-1-9" ~ "4719", "KX19" ~ "kx19")."""
    return re.sub(r"[-.,:/ ]", "", word.lower()) if has_digit(word) else stem(word)


def facts(text: str) -> list[str]:
    """The facts of a text, as written, in order (see the module docstring)."""
    text = text.replace("’", "'")
    out: list[str] = []
    for m in TOKEN.finditer(text):
        word, low = m.group(), m.group().lower()
        if has_digit(word) or low in NUMBER_WORDS or low in DAYS or (low in MONTHS and low != "may"):
            out.append(word)
        elif word[0].isupper() and not is_stopword(word) and not _starts_sentence(text, m.start()):
            out.append(word)
    return out


def _starts_sentence(text: str, at: int) -> bool:
    """Does the word at `at` start a sentence (so its capital says nothing about it being a name)?"""
    gap = text[:at]
    before = gap.rstrip().rstrip("\"'(")
    if not before or "\n" in gap[len(before) :] or before[-1] in "!?:;" or before.endswith(("-", "•", "|")):
        return True  # the start of the text, of a line, of a clause after a colon, of a list item
    return before[-1] == "." and not is_abbreviation(before, len(before) - 1)
