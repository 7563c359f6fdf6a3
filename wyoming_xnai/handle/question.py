"""What kind of question arrived, judged before (and apart from) the notes: not English, misheard,
small talk, or about the household.

Home Assistant sends text only, so these work from the text; when the caller sends the ASR's confidence
(`context["asr"]`, our satellite copies it from `xnai asr`) it is used too.
"""

from __future__ import annotations

import itertools
import re
import threading
import unicodedata
from functools import cache

from wyoming_xnai.handle import replies
from wyoming_xnai.handle.evidence import Lexicon
from wyoming_xnai.handle.vocabulary import english_words
from wyoming_xnai.text.words import STOPWORDS, any_phrase, content_words, facts, stem, tokens

# A language identifier (py3langid) over these languages: the ones people around an English-speaking
# household are most likely to speak to it in. English must win with this probability or the
# question is taken as another language (short texts are uncertain: "Hello" is not flagged).
LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "da", "no", "fi", "cs", "ro", "hu", "tr", "ru", "uk"]
OTHER_LANGUAGE = 0.5  # probability from which another language counts
# Whisper's average log-probability per token below which a transcript is taken as misheard
# (faster-whisper's own "low confidence" default is -1.0).
ASR_MIN_LOGPROB = -1.0
ASR_MAX_NO_SPEECH = 0.6
UNKNOWN_WORDS = 0.5  # share of a question's words that are no English word, from which it is garbled

_SMALL_TALK = any_phrase(
    "hi", "hello", "hey", "good (morning|afternoon|evening|night)", "thanks?( you)?", "thank you", "cheers", "bye",
    "goodbye", "how are you", "who are you", "what are you", "what can you do", "what do you do", "help", "ok(ay)?",
    "never ?mind", at_start=True,
)  # fmt: skip
_CAPABILITIES = any_phrase("what can you do", "what do you do", "who are you", "what are you", "help me", "help")
_PERSONAL = any_phrase("my", "our", "ours", "we", "us", "i", "i'm", "i've", "we're", "we've", "mine")
_langid_lock = threading.Lock()


@cache
def _identifier():
    import py3langid.langid as langid

    identifier = langid.LanguageIdentifier.from_modelpath(langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True)
    identifier.set_languages(LANGUAGES)
    return identifier


def load() -> None:
    """Load the language identifier and the English word list now (blocking, ~1 s) rather than on the
    first question, where it would hold up the event loop."""
    _identifier()
    english_words()


def _script_share(text: str) -> float:
    """Share of the letters that are Latin."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 1.0
    latin = sum(1 for ch in letters if unicodedata.name(ch, "").startswith("LATIN"))
    return latin / len(letters)


def other_language(question: str, asr: dict | None = None) -> str | None:
    """The language the question is in when it is not English (None for English or unsure)."""
    spoken = (asr or {}).get("language")
    if isinstance(spoken, str) and spoken and not spoken.lower().startswith("en"):
        return spoken
    if _script_share(question) < 0.5:
        return "non-latin"
    if _reversed_english(question):
        return None  # "?gnimmiws eht si nehw" is English garbled, not a foreign language: ask again
    with _langid_lock:
        language, probability = _identifier().classify(question)
    return language if language != "en" and probability >= OTHER_LANGUAGE else None


def _words(text: str) -> list[str]:
    return [w.lower() for w in tokens(text) if w.isalpha()]


def _unknown_share(words: list[str], known: frozenset[str] = frozenset()) -> float:
    """Share of the words that are neither English nor the documents' own (`known`, stems); 1 for none."""
    unknown = [w for w in words if w not in english_words() and w not in STOPWORDS and stem(w) not in known]
    return len(unknown) / len(words) if words else 1.0


def _reversed_english(question: str) -> bool:
    """Text that reads as English backwards (mirrored, or typed right to left), and not forwards."""
    return _unknown_share(_words(question[::-1])) <= UNKNOWN_WORDS < _unknown_share(_words(question))


def misheard(question: str, asr: dict | None = None, lexicon: Lexicon | None = None) -> bool:
    """Does the text itself look garbled: nothing to say, stuttered words, mostly non-words (neither
    English nor the documents' own words), or a transcript the ASR itself was unsure of?"""
    asr = asr or {}
    logprob, no_speech = asr.get("avg_logprob"), asr.get("no_speech_prob")
    if isinstance(logprob, (int, float)) and logprob < ASR_MIN_LOGPROB:
        return True
    if isinstance(no_speech, (int, float)) and no_speech > ASR_MAX_NO_SPEECH:
        return True
    words = _words(question)
    if not words:
        return True
    if any(a == b for a, b in itertools.pairwise(words)):
        return True  # "the the what what is"
    return _unknown_share(words, lexicon.words if lexicon else frozenset()) >= UNKNOWN_WORDS


def small_talk(question: str) -> bool:
    return bool(_SMALL_TALK.search(question))


# Greetings, thanks and goodbyes said on their own get a fixed, polite reply: the small LLM has nothing to add,
# and what it adds ("Sorry, I do not know" to "thank you") is worse than nothing. Anything more goes on.
_SOCIAL = [
    (re.compile(r"^\W*(?:thank you|thanks|thank|cheers)\b", re.I), replies.WELCOME),
    (re.compile(r"^\W*(?:goodbye|bye|good night)\b", re.I), replies.GOODBYE),
    (re.compile(r"^\W*(?:(?:hi|hello|hey)\W+)?how are you\b", re.I), replies.HOW_I_AM),
    (re.compile(r"^\W*(?:hello|hi|hey|good (?:morning|afternoon|evening))\b", re.I), replies.GREETING),
]
_SOCIAL_FILLER = frozenset("a lot so much very that's that is all for now it bye there xnai again doing today".split())


def social_reply(question: str) -> str | None:
    """The fixed reply to a greeting, thanks or goodbye said on its own ("thank you, that's all"), else None."""
    for pattern, reply in _SOCIAL:
        found = pattern.match(question)
        if found:
            rest = re.findall(r"[\w']+", question[found.end() :].lower())
            return reply if all(w in _SOCIAL_FILLER for w in rest) else None
    return None


def asks_capabilities(question: str) -> bool:
    return bool(_CAPABILITIES.search(question))


def about_household(question: str, lexicon: Lexicon | None) -> bool:
    """A question about the household's own things (my/our, or a name or a thing the notes speak of):
    only the notes can answer it, the LLM's general knowledge cannot."""
    if _PERSONAL.search(question):
        return True
    if lexicon is None:
        return False
    terms = {stem(w) for w in content_words(question)}
    named = {stem(f) for f in facts(question) if not any(ch.isdigit() for ch in f)}  # "Chloe", "the Volvo"
    return bool(terms & lexicon.names) or bool(named & lexicon.words)


def fragment(question: str) -> bool:
    """No content word at all ("and um", "what is it"): nothing to answer."""
    return not content_words(question)
