"""Does a partial transcript sound like a finished request, or like a speaker in mid-sentence?

The endpointing ends a turn after a short pause only when the words so far are a complete sentence;
anything that may go on waits for the longer pause. A wrong "complete" cuts a speaker off, a wrong
"unfinished" only costs half a second, so every doubt counts as unfinished.

The rules are grammar, not vocabulary: English closed word classes (articles, prepositions,
conjunctions, auxiliaries, subject pronouns), which cannot end a sentence, or only in a known
position, and the punctuation Whisper writes: it ends a sentence it heard end with ".", "?" or "!",
and leaves one that trails off bare, with a comma or with "...". Other languages have no word rules
here, so their turns always take the long pause.
"""

from __future__ import annotations

import re

ARTICLES = frozenset("a an the".split())
# Possessive determiners that need a noun after them ("her" and "his" also stand alone: not here)
POSSESSIVES = frozenset("my your our their its every each".split())
# Prepositions that need an object. A preposition left at the end of a question ("What is the cat
# allergic to?") is grammatical, but so is the start of a phrase ("What is the phone number of ...");
# the two read the same, so a sentence ending in one always waits.
PREPOSITIONS = frozenset(
    """of for to from with at in into onto about by between during without within toward towards than as
    per via among upon until till across against besides beyond including""".split()
)
# Adverb particles of phrasal verbs and place or time adverbs end a sentence well ("Turn the lights
# off.", "Leave it outside.", "I saw it before.")
PARTICLES = frozenset(
    """on off up down out back away over around along apart aside ahead through near under inside outside
    behind beneath below above before after since""".split()
)
CONJUNCTIONS = frozenset("and or but nor because if unless whether although whereas though so then".split())
# "though", "so" and "then" also end sentences as adverbs ("I think so.", "Turn it off then.")
SENTENCE_FINAL_CONJUNCTIONS = frozenset("though so then".split())
AUXILIARIES = frozenset(
    """is are was were am be been being do does did have has had will would can could shall should may might
    must isn't aren't wasn't weren't don't doesn't didn't haven't hasn't hadn't won't wouldn't can't cannot
    couldn't shouldn't mustn't""".split()
)
# Auxiliaries that need a main verb after the subject ("What does the cat ..." is unfinished)
VERB_AUXILIARIES = AUXILIARIES - frozenset("is are was were am isn't aren't wasn't weren't be been being".split())
SUBJECT_PRONOUNS = frozenset("i we they he she".split())
WH_WORDS = frozenset("what which where when who whom whose why how".split())
# Wh-words that need what they ask about after them ("the one which ...", "whose ...")
OPEN_WH_WORDS = frozenset("which whose whom".split())
INTENSIFIERS = frozenset("very extremely".split())  # adverbs that need the word they strengthen
TITLES = frozenset("mr mrs ms dr prof st mt".split())  # "Call Dr." is not a finished sentence
CONTRACTED_AUXILIARY = re.compile(r"^(?:\w+)'(?:re|ll|ve|d|m)$")  # "we're", "I'll", "they've", "I'd", "I'm"
FINAL_PUNCTUATION = ".?!"
TRAILING_OFF = ("...", "…", ",", ";", ":", "-", "–", "—")
WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)*")
LOW_LOGPROB = -1.0  # faster-whisper's own "this decode is unsure" threshold


def is_complete(text: str, language: str | None, avg_logprob: float | None = None) -> bool:
    """True when `text` (a transcript of the speech so far) is a finished English sentence.

    False for anything else: no words, a trailing comma or ellipsis, no closing punctuation, an
    unsure decode, or a last word that leaves the sentence open (see `open_ending`).
    """
    text = text.strip().strip("\"'”’»)]")
    if not text or not (language or "").lower().startswith("en"):
        return False
    if avg_logprob is not None and avg_logprob < LOW_LOGPROB:
        return False
    if text.endswith(TRAILING_OFF) or text[-1] not in FINAL_PUNCTUATION:
        return False
    words = [w.lower().replace("’", "'") for w in WORD.findall(last_sentence(text))]
    return bool(words) and not open_ending(words)


def last_sentence(text: str) -> str:
    """The last sentence of `text` (which ends with its punctuation)."""
    body = text.rstrip(FINAL_PUNCTUATION + " ")
    cut = max(body.rfind(mark) for mark in FINAL_PUNCTUATION)
    return body[cut + 1 :] if cut >= 0 else body


def open_ending(words: list[str]) -> bool:
    """True when the last of `words` (lower case) cannot end an English sentence where it stands."""
    last = words[-1]
    before = words[-2] if len(words) > 1 else None
    if last in ARTICLES or last in POSSESSIVES or last in PREPOSITIONS or last in INTENSIFIERS or last in TITLES:
        return True
    if last in CONJUNCTIONS:  # "I think so." ends; "and then", "so" alone do not
        return last not in SENTENCE_FINAL_CONJUNCTIONS or before is None or before in CONJUNCTIONS
    if last in OPEN_WH_WORDS or CONTRACTED_AUXILIARY.match(last):
        return True
    if last.endswith("'s") and len(words) == 1:
        return True
    if last.endswith("'s") and (last[:-2] in WH_WORDS or last[:-2] in ("it", "that", "there", "here", "he", "she")):
        return True  # "where's", "it's": an auxiliary with nothing after it
    if last in AUXILIARIES:
        # "... where the fuse box is." ends on its verb; "Where is" and "Is" have not started yet
        return before is None or before in WH_WORDS or before in AUXILIARIES
    if last in SUBJECT_PRONOUNS:
        return before not in AUXILIARIES  # "Where are we?" is a question; "Tell me when we" is not done
    if last in PARTICLES:
        return before is None or before in ARTICLES or before in PREPOSITIONS
    return missing_main_verb(words)


def missing_main_verb(words: list[str]) -> bool:
    """A question with do or a modal whose subject has no verb yet: "What does Biscuit", "Can the
    heating", "Where do we". Without a dictionary of verbs, a subject is one word or an article or
    possessive with one word: what follows it must be the verb."""
    start = 1 if words[0] in WH_WORDS else 0
    if start and len(words) > 1 and words[1] not in VERB_AUXILIARIES and words[0] in OPEN_WH_WORDS | {"what"}:
        start = 2  # "Which batteries do ...", "What time does ..."
    if len(words) <= start or words[start] not in VERB_AUXILIARIES:
        return False
    rest = words[start + 1 :]
    if len(rest) <= 1:
        return True
    return len(rest) == 2 and (rest[0] in ARTICLES or rest[0] in POSSESSIVES)
