"""Speakable pieces out of cleaned text (`wyoming_xnai.text.cleaning`): cut where a voice may pause.

Piper speaks a piece only once it has synthesized all of it, so the first piece decides how soon
audio starts. A long first sentence is cut at its first clause (or, lacking punctuation, before a
joining word), later pieces are whole sentences so the joined audio keeps sentence intonation.
Sentence ends and clause cuts are the shared rules of `wyoming_xnai.text`; this module only sizes the
pieces for Piper, and tells when text is in a script the voice cannot read.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from wyoming_xnai.text.clauses import PHRASE_STARTS, clause_end, last_clause_end, word_cut
from wyoming_xnai.text.cleaning import has_sayable_text
from wyoming_xnai.text.sentences import sentence_end

# --- splitting -------------------------------------------------------------------------------


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
            if has_sayable_text(piece.text):
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
