"""Where a sentence ends: one rule for whole texts and for text that arrives in pieces.

The rule (`sentence_end`): a terminator (. ! ? … and CJK/Arabic/Devanagari ones), with any closing
quotes or brackets after it, ends a sentence when

- whitespace and then a character that is not lower case follow it ("... on Thursday. The ..."), or
- whitespace follows it and nothing more has arrived yet: a sender that puts a space after a whole
  sentence (xnai handle does) says it is over, so a listener need not wait for the next one, or
- it is the very end of the text and no more text is coming (`final`);

but never after an abbreviation or initial ("Dr. Rowe", "No. 5", "J. R. R."), a list number at the
start of a line ("1."), inside a number or a name ("3.5", "example.com"), or before a lower-case word
("10 p.m. tomorrow"). A line break after a terminator, a blank line and a CJK full stop always end one.
"""

from __future__ import annotations

# Abbreviations that come before a name or a number ("Dr. Smith", "No. 5", "Jan. 3"), so a capital or a
# digit after them does not start a new sentence. "etc.", "Inc." and the like often end sentences: they
# are not here, and split only before a capital (a lower-case word after any "." continues the sentence).
ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt ft vs eg ie approx appt apt min max no nos nr vol fig figs cf
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
    gen col lt sgt capt rev hon pres gov sen rep ave blvd rd""".split()
)
TERMINATORS = ".!?…。！？؟।"
CLOSERS = "\"'”’»)]}"


def is_abbreviation(buf: str, dot: int) -> bool:
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
    """Index just past the first sentence end in `buf` that is certain (see the module's rule), or None."""
    i, n = 0, len(buf)
    while i < n:
        ch = buf[i]
        if ch == "\n" and i + 1 < n and buf[i + 1] == "\n":
            return i
        if ch in "。！？":
            return i + 1
        if ch not in TERMINATORS:
            i += 1
            continue
        j = i
        while j < n and buf[j] in TERMINATORS:
            j += 1
        while j < n and buf[j] in CLOSERS:
            j += 1
        if j >= n:
            return j if final else None
        if not buf[j].isspace():
            i = j  # "3.5", "example.com", "e.g.x"
            continue
        k = j
        while k < n and buf[k].isspace():
            k += 1
        dot_only = buf[i:j].rstrip(CLOSERS) == "."
        if k >= n:
            if final or not (dot_only and (is_abbreviation(buf, i) or _is_list_number(buf, i))):
                return j
            return None
        nxt = buf[k]
        if "\n" in buf[j:k] and not (dot_only and _is_list_number(buf, i)):
            return j  # a line break after a terminator always ends the sentence
        if dot_only and (is_abbreviation(buf, i) or _is_list_number(buf, i)):
            i = j
            continue
        if nxt.islower():
            i = j  # "... at 10 p.m. tomorrow": a lower-case word continues the sentence
            continue
        return j
    return None


def split_sentences(text: str) -> list[str]:
    """The sentences of a whole text, each stripped, in order (no empty ones)."""
    out: list[str] = []
    while text.strip():
        end = sentence_end(text, final=True)
        end = len(text) if end is None else end
        if sentence := text[:end].strip():
            out.append(sentence)
        text = text[end:]
    return out


class SentenceStream:
    """Text that arrives in pieces, handed out as whole sentences as soon as `sentence_end` says so."""

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, piece: str) -> list[str]:
        """Add a piece; the sentences it completed, stripped, in order."""
        self._buffer += piece
        out: list[str] = []
        while (end := sentence_end(self._buffer, final=False)) is not None:
            sentence, self._buffer = self._buffer[:end].strip(), self._buffer[end:].lstrip()
            if sentence:
                out.append(sentence)
        return out

    def flush(self) -> str:
        """The rest (no more text is coming), stripped; the stream is empty afterwards."""
        rest, self._buffer = self._buffer.strip(), ""
        return rest

    @property
    def pending(self) -> str:
        """Text received that does not end a sentence yet."""
        return self._buffer
