"""Text in, speakable pieces out: clean what a client sends, then cut it where a voice may pause.

Piper speaks a piece only once it has synthesized all of it, so the first piece decides how soon
audio starts. A long first sentence is cut at its first clause (or, lacking punctuation, before a
joining word), later pieces are whole sentences so the joined audio keeps sentence intonation.
Cuts never fall inside numbers ("3.5", "1,000"), after abbreviations ("Dr.", "e.g.") or initials.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

# --- cleaning -------------------------------------------------------------------------------

_TAG = re.compile(r"</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>|<!--.*?-->", re.DOTALL)
_BREAK_TAG = re.compile(r"<break\b[^>]*/?>", re.IGNORECASE)
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:[^)\s]+)\)")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)
_MD_BULLET = re.compile(r"^\s*[-*+•]\s+", re.MULTILINE)
_MD_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3}|`+|~~|(?<!\w)_(?=\w)|(?<=\w)_(?!\w))")
_URL = re.compile(r"\bhttps?://(?:www\.)?([^/\s?#]+)[^\s]*")
_SPACES = re.compile(r"[ \t\f\v]+")


def clean(text: str, ssml: bool = False, strip: bool = True) -> str:
    """Plain, speakable text: markup and control characters out, paragraph breaks kept as newlines.

    SSML (or anything that looks like tags) is reduced to its text; `<break>` becomes a sentence
    break. `strip=False` keeps edge spaces, for text that arrives in pieces. Piper's `[[ phonemes ]]` escape is defused so user text can never inject raw phonemes.
    """
    text = unicodedata.normalize("NFC", text)
    if ssml or text.lstrip().startswith("<speak") or _TAG.search(text):
        text = _BREAK_TAG.sub("\n\n", text)
        text = _TAG.sub(" ", text)
        text = html.unescape(text)
    text = _MD_LINK.sub(r"\1", text)
    text = _URL.sub(lambda m: m.group(1), text)  # "https://www.example.com/a?b=c" -> "example.com"
    text = _MD_HEADING.sub("", text)
    text = _MD_BULLET.sub("", text)
    text = _MD_EMPHASIS.sub("", text)
    text = text.replace("[[", "[").replace("]]", "]")
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\n\r":
            out.append("\n")
        elif cat == "Cc" or ch == "\u2028" or ch == "\u2029":
            out.append(" ")  # tabs and stray control bytes separate words, nothing more
        elif cat in ("Cf", "Cs", "Co", "Cn") or _is_emoji(ch):
            continue  # zero-width, surrogates, private use, unassigned, emoji: nothing to say
        else:
            out.append(ch)
    text = "".join(out).replace("\r", "")
    text = _SPACES.sub(" ", text)
    text = re.sub(r" *\n *", "\n", text)
    return text.strip() if strip else text


def _is_emoji(ch: str) -> bool:
    """Emoji and pictographs ("🙂", "✅"), which voices would read out by name; "°", "€", "%" stay."""
    cp = ord(ch)
    return 0x1F000 <= cp <= 0x1FAFF or 0x2600 <= cp <= 0x27BF or 0xFE00 <= cp <= 0xFE0F or 0x1F1E6 <= cp <= 0x1F1FF


def speakable(text: str) -> bool:
    """True if the text has anything a voice can say (a letter or a digit)."""
    return any(ch.isalnum() for ch in text)


# --- splitting -------------------------------------------------------------------------------

# Abbreviations that come before a name or a number ("Dr. Smith", "No. 5", "Jan. 3"), so a capital or a
# digit after them does not start a new sentence. "etc.", "Inc." and the like often end sentences: they
# are not here, and split only before a capital (a lower-case word after any "." continues the sentence).
ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt ft vs eg ie approx appt apt min max no nos vol fig figs cf
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
    gen col lt sgt capt rev hon pres gov sen rep ave blvd rd""".split()
)
# Words a long clause can be cut before without breaking a phrase apart.
JOINERS = frozenset(
    """and but or nor so yet because although though while whereas which who whom whose that where
    when if unless until since after before with without for to from into onto about than as""".split()
)
# Where else a first piece may end: before a place or time phrase ("The key is | under the pot by the door").
PHRASE_STARTS = JOINERS | frozenset(
    "by under at on in near behind beside inside outside above below over through during next every".split()
)
_SENTENCE_END = ".!?…。！？؟।"
_CLOSERS = "\"'”’»)]}"
_CLAUSE = re.compile(r"[,;:—–]+[\"'”’)\]]*(?=\s)|\s[-–—]\s")


@dataclass(frozen=True)
class Piece:
    """A piece of text to synthesize; `sentence_end` says which pause should follow it."""

    text: str
    sentence_end: bool


@dataclass(frozen=True)
class SplitConfig:
    first_min_words: int = 2  # a first clause shorter than this is not worth its own piece ...
    first_split_words: int = 8  # ... unless the sentence is longer than this
    first_max_words: int = 8  # a first piece with no clause break is cut near here (before a phrase)
    second_chars: int = 100  # the second piece ends at a clause within this, later ones may double
    max_chars: int = 300  # no piece is longer than this (cut at a clause, else before a word)


def _word_count(text: str) -> int:
    return len(text.split())


class Splitter:
    """Incremental splitter: `add` text as it streams in, `finish` at the end; both return pieces."""

    def __init__(self, config: SplitConfig | None = None) -> None:
        self.config = config or SplitConfig()
        self._buf = ""
        self._first = True
        self._count = 0

    def add(self, text: str) -> list[Piece]:
        self._buf += text
        return self._drain(final=False)

    def finish(self) -> list[Piece]:
        pieces = self._drain(final=True)
        self._buf = ""
        return pieces

    # The buffer always starts at the beginning of a sentence or of a clause.
    def _drain(self, final: bool) -> list[Piece]:
        pieces: list[Piece] = []
        while True:
            self._buf = self._buf.lstrip()
            if not self._buf:
                return pieces
            piece = self._next(final)
            if piece is None:
                return pieces
            if speakable(piece.text):
                pieces.append(piece)
                self._first = False
                self._count += 1

    def _next(self, final: bool) -> Piece | None:
        buf = self._buf
        end = sentence_end(buf, final)
        sentence = buf[:end] if end is not None else buf
        limit = self.config.max_chars
        if self._first:
            cut = self._first_cut(sentence, complete=end is not None or final)
            if cut is None and len(sentence) > limit:
                cut = limit  # one endless "word" (a hash, a run of letters): cut it anyway
            if cut is not None:
                return self._take(cut, sentence_end=False)
        else:
            # Pieces grow (second_chars, twice that, ... up to max_chars): the listener hears the
            # previous piece while the next, longer one is synthesized, and long pieces sound best.
            grow = min(limit, self.config.second_chars << min(self._count - 1, 8))
            cut = last_clause_end(sentence, grow) if len(sentence) > grow else None
            if cut is None and len(sentence) > limit:
                cut = last_clause_end(sentence, limit) or word_cut(sentence, _word_count(sentence[:limit])) or limit
            if cut is not None and cut < len(sentence):
                return self._take(cut, sentence_end=False)
        if end is not None:
            return self._take(end, sentence_end=True)
        if final:
            return self._take(len(buf), sentence_end=True)
        return None

    def _first_cut(self, sentence: str, complete: bool) -> int | None:
        """Where to end the first piece early, or None to keep the sentence whole (or wait)."""
        cfg = self.config
        words = _word_count(sentence)
        if complete and words <= cfg.first_split_words:
            return None  # short sentences stay whole: they are quick anyway and sound best whole
        clause = clause_end(sentence, 1, len(sentence))
        if clause is not None:
            clause_words = _word_count(sentence[:clause])
            if clause_words <= cfg.first_max_words and (
                clause_words >= cfg.first_min_words or words > cfg.first_split_words
            ):
                return clause
        if words > cfg.first_max_words:
            return word_cut(sentence, cfg.first_max_words, PHRASE_STARTS)
        return None

    def _take(self, end: int, sentence_end: bool) -> Piece:
        text, self._buf = self._buf[:end].strip(), self._buf[end:]
        text = " ".join(text.split())
        # Piper speaks a piece as a whole utterance: punctuation at its end sets the intonation. A
        # sentence without a final mark gets a full stop (as wyoming-piper does), a piece cut between
        # words a comma, so the voice rises for more instead of falling as if done.
        if text and text[-1].isalnum():
            text += "." if sentence_end else ","
        return Piece(text, sentence_end)


def _is_abbreviation(buf: str, dot: int) -> bool:
    """Whether the '.' at `dot` ends an abbreviation or an initial rather than a sentence."""
    start = dot
    while start > 0 and (buf[start - 1].isalpha() or buf[start - 1] == "."):
        start -= 1
    word = buf[start:dot]
    if not word:
        return False
    if "." in word:
        return True  # "e.g", "U.S", "a.m"
    if len(word) == 1 and word.isupper():
        return True  # an initial: "J. R. R. Tolkien"
    return word.lower() in ABBREVIATIONS


def _is_list_number(buf: str, dot: int) -> bool:
    """'1.' at the start of a line is a list marker, not a sentence end."""
    start = dot
    while start > 0 and buf[start - 1].isdigit():
        start -= 1
    return start < dot and (start == 0 or buf[start - 1] == "\n")


def sentence_end(buf: str, final: bool) -> int | None:
    """Index just past the first sentence end that is certain, or None.

    A terminator counts when whitespace and then a letter that may start a sentence follow it, or
    whitespace ends the buffer (unless it is an abbreviation); right at the end of the buffer it counts
    only when no more text is coming (`final`). Blank lines and
    CJK full stops end a sentence on their own.
    """
    i, n = 0, len(buf)
    while i < n:
        ch = buf[i]
        if ch == "\n" and i + 1 < n and buf[i + 1] == "\n":
            return i
        if ch in "。！？":
            return i + 1
        if ch not in _SENTENCE_END:
            i += 1
            continue
        j = i
        while j < n and buf[j] in _SENTENCE_END:
            j += 1
        while j < n and buf[j] in _CLOSERS:
            j += 1
        if j >= n:
            return j if final else None
        if not buf[j].isspace():
            i = j  # "3.5", "example.com", "e.g.x"
            continue
        k = j
        while k < n and buf[k].isspace():
            k += 1
        dot_only = buf[i:j].rstrip(_CLOSERS) == "."
        if k >= n:
            # "...on Thursday. " and nothing yet after it: a sender that puts the space after a whole
            # sentence (xnai handle does) says it is over, so it is spoken now, not when more text comes.
            if final or not (dot_only and (_is_abbreviation(buf, i) or _is_list_number(buf, i))):
                return j
            return None
        nxt = buf[k]
        if "\n" in buf[j:k] and not (dot_only and _is_list_number(buf, i)):
            return j  # a line break after a terminator always ends the sentence
        if dot_only and (_is_abbreviation(buf, i) or _is_list_number(buf, i)):
            i = j
            continue
        if nxt.islower():
            i = j  # "... at 10 p.m. tomorrow": a lower-case word continues the sentence
            continue
        return j
    return None


def clause_end(text: str, start: int, stop: int) -> int | None:
    """Index just past the first clause mark (',' ';' ':' dash) in text[start:stop] followed by a space.

    "1,000" or "10:30" have no space after the mark, so they are never cut.
    """
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


def split(text: str, config: SplitConfig | None = None) -> list[Piece]:
    """All pieces of a complete text."""
    splitter = Splitter(config)
    return splitter.add(text) + splitter.finish()


# --- scripts ---------------------------------------------------------------------------------

_LANGUAGE_SCRIPTS = {
    "ru": {"CYRILLIC"}, "uk": {"CYRILLIC"}, "bg": {"CYRILLIC"}, "sr": {"CYRILLIC", "LATIN"},
    "kk": {"CYRILLIC"}, "mk": {"CYRILLIC"}, "be": {"CYRILLIC"}, "zh": {"CJK"},
    "ja": {"CJK", "HIRAGANA", "KATAKANA"}, "ko": {"HANGUL"}, "ar": {"ARABIC"}, "fa": {"ARABIC"},
    "ur": {"ARABIC"}, "el": {"GREEK"}, "he": {"HEBREW"}, "hi": {"DEVANAGARI"}, "ne": {"DEVANAGARI"},
    "ka": {"GEORGIAN"}, "th": {"THAI"}, "ml": {"MALAYALAM"}, "te": {"TELUGU"}, "bn": {"BENGALI"},
}  # fmt: skip


def _script(ch: str) -> str:
    try:
        return unicodedata.name(ch).split()[0]
    except ValueError:
        return "UNKNOWN"


def foreign_script(text: str, language: str) -> str | None:
    """The script most of the text's letters are in, if the voice's language is not written in it.

    An English voice reads Chinese as "chinese letter, chinese letter": better to say so plainly.
    A few foreign words in a sentence are fine; mostly foreign text is not.
    """
    expected = _LANGUAGE_SCRIPTS.get(language.replace("-", "_").split("_")[0].lower(), {"LATIN"})
    counts: dict[str, int] = {}
    for ch in text:
        if ch.isalpha():
            script = _script(ch)
            counts[script] = counts.get(script, 0) + 1
    total = sum(counts.values())
    if not total:
        return None
    native = sum(n for s, n in counts.items() if s in expected)
    if native * 2 >= total:
        return None
    return max(counts, key=lambda s: counts[s])
