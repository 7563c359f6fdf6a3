"""Text made fit to be spoken: markup, URLs, emoji and control characters out.

`clean_for_speech` is what TTS does to what a client sends (paragraph breaks kept, SSML reduced to
its text); `one_line_for_speech` is that on one line, with list and table marks gone, for a note or an
answer that is said as one sentence. `has_sayable_text` tells whether anything is left to say.
"""

from __future__ import annotations

import html
import re
import unicodedata

_TAG = re.compile(r"</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>|<!--.*?-->", re.DOTALL)
_BREAK_TAG = re.compile(r"<break\b[^>]*/?>", re.IGNORECASE)
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:[^)\s]+)\)")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)
_MD_BULLET = re.compile(r"^\s*[-*+•]\s+", re.MULTILINE)
_MD_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3}|`+|~~|(?<!\w)_(?=\w)|(?<=\w)_(?!\w))")
_URL = re.compile(r"\bhttps?://(?:www\.)?([^/\s?#]+)[^\s]*")
_SPACES = re.compile(r"[ \t\f\v]+")
_LINE_MARKS = re.compile(r"(?:^|\s)(?:#{1,6}|>+|\|+|[-+•])(?=\s)")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")


def clean_for_speech(text: str, ssml: bool = False, strip: bool = True) -> str:
    """Plain, speakable text: markup and control characters out, paragraph breaks kept as newlines.

    SSML (or anything that looks like tags) is reduced to its text; `<break>` becomes a sentence
    break. `strip=False` keeps edge spaces, for text that arrives in pieces. Piper's `[[ phonemes ]]`
    escape is defused so user text can never inject raw phonemes.
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
        elif cat in ("Cf", "Cs", "Co", "Cn") or is_emoji(ch):
            continue  # zero-width, surrogates, private use, unassigned, emoji: nothing to say
        else:
            out.append(ch)
    text = "".join(out).replace("\r", "")
    text = _SPACES.sub(" ", text)
    text = re.sub(r" *\n *", "\n", text)
    return text.strip() if strip else text


def one_line_for_speech(text: str) -> str:
    """`clean_for_speech` on one line, without heading, quote, table or list marks and without
    punctuation left dangling at its edges: a note or an answer as it is said."""
    text = clean_for_speech(text).replace("\n", " ")
    text = _LINE_MARKS.sub(" ", f" {text}")
    text = _SPACES.sub(" ", text).strip()
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return text.strip(" -;:,")


def is_emoji(ch: str) -> bool:
    """Emoji and pictographs ("🙂", "✅"), which voices would read out by name; "°", "€", "%" stay."""
    cp = ord(ch)
    return 0x1F000 <= cp <= 0x1FAFF or 0x2600 <= cp <= 0x27BF or 0xFE00 <= cp <= 0xFE0F or 0x1F1E6 <= cp <= 0x1F1FF


def has_sayable_text(text: str) -> bool:
    """True if the text has anything a voice can say (a letter or a digit)."""
    return any(ch.isalnum() for ch in text)
