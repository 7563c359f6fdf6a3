"""A document's structure, as the units answers come from: each sentence with what it needs to be understood.

Household notes are written for a reader who sees the page: "Phone 01632 960 584." means the heating
company named just before, "- Last service: 14 Oct 2024" sits under "## Boiler", a table cell means
something only under its column header. So each unit gets a *context*:

- the path of headings above it (markdown "#", underlined text headings, ALL-CAPS lines, a bold line
  alone, a short line between sentences as PDFs and plain text write headings);
- for an elliptic sentence (a pronoun in its first two words, a short "Label value" line, a clause starting with "To"/"Then",
  a lower-case start) the sentence or list item before it; for a nested list item, its parent item;
  for a list or table after a sentence that ends with ":" ("Weekday schedule:"), that sentence;
- a table row becomes one unit pairing each cell with its column header
  ("17:00 - 22:30: Temperature 21 °C"), for markdown tables and HTML tables (`documents` writes those
  as markdown rows).

Heading levels: "#" counts and underlines ("=" 1, "-" 2) say theirs; other heading styles get the next
level below the open headings the first time they appear, and keep it (the same style is a sibling).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wyoming_xnai.text.sentences import split_sentences

_ATX = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_UNDERLINE = re.compile(r"^\s*(=+|-+|~+)\s*$")
_ITEM = re.compile(r"^(\s*)(?:[-*+•]|\d+[.)])\s+(.*)$")
_BOLD_LINE = re.compile(r"^(?:\*\*|__)([^*_]+)(?:\*\*|__):?$")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?$")
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
# A note is a sentence, or a part of one after a semicolon that starts like a sentence ("... to close;
# The gas meter ..."): each part can answer a question alone. A colon keeps its label with what follows.
_NOTE_BREAK = re.compile(r"(?<=;)\s+(?=[\"'(\[]?[A-Z0-9])")
_SPACES = re.compile(r"\s+")
_WHOLE_LINE = re.compile(r"[.!?]['\")\]]*$")
_ENDS_SENTENCE = re.compile(r"[.!?:;,]['\")\]]*$")
# Words that refer back: a sentence holding one needs the one before it ("Turn it clockwise").
_REFERRING = frozenset("it its they them their theirs he him his she her hers this these those both".split())
_CONTINUING = frozenset("to then also and but or so plus otherwise".split())
SHORT = 5  # words: a sentence this short is a label and a value, or a fragment ("Phone 01632 960 584.")
MIN_NOTE_WORDS = 3  # shorter units are passage text but not notes


@dataclass(frozen=True)
class Unit:
    """One sentence, list item part, table row or heading, and the text that makes it understood."""

    text: str
    context: str = ""  # heading path, then the sentence it leans on (" > " between them)
    heading: bool = False


@dataclass
class _Block:
    kind: str  # heading | para | item | table
    lines: list[str]
    level: int = 0  # heading level, or list item depth (indent)
    style: str = ""  # how a heading is written


def units(text: str) -> list[Unit]:
    """The document's units in reading order (see the module docstring)."""
    out: list[Unit] = []
    path: list[tuple[int, str]] = []
    levels: dict[str, int] = {}
    lead = ""  # a sentence ending in ":" that introduces the list or table after it
    items: list[tuple[int, str]] = []  # open list items (depth, text): parents of nested ones
    for block in _blocks(text):
        if block.kind == "heading":
            title = _clean(" ".join(block.lines))
            level = levels.setdefault(block.style, _level(block, path))
            path = [(lvl, t) for lvl, t in path if lvl < level]
            out.append(Unit(title, _join(t for _, t in path), heading=True))
            path.append((level, title))
            lead, items = "", []
            continue
        heads = [t for _, t in path]
        if block.kind == "table":
            out.extend(Unit(row, _join([*heads, lead])) for row in _table_rows(block.lines))
            lead = ""
            continue
        parent = lead
        if block.kind == "item":
            items = [(d, t) for d, t in items if d < block.level]
            parent = items[-1][1] if items else lead
        else:
            items, lead = [], ""
        sentences, starts = _paragraph(block.lines)
        topic = (_label(sentences[0]) or sentences[0]) if sentences else ""
        previous, opened = parent, 0  # opened: the sentence that gave the topic
        for i, sentence in enumerate(sentences):
            if i == 0:
                before = [parent] if block.kind == "item" or _elliptic(sentence) else []
            elif i in starts and not _elliptic(sentence):  # a line of its own, about its own thing
                before, topic, opened = [], _label(sentence) or sentence, i
            else:
                before = [topic, previous] if _elliptic(sentence) and i > opened + 1 else [topic]
            out.append(Unit(sentence, _join([*heads, *before])))
            previous = sentence
        if block.kind == "item":
            items.append((block.level, _clean(" ".join(block.lines))))
        elif sentences and sentences[-1].endswith(":"):
            lead = sentences[-1]
    return out


def notes(units_: list[Unit]) -> list[Unit]:
    """The units that can be notes for an answer: three words or more (two for a label and its value), each
    text once."""
    seen: set[str] = set()
    out = []
    for unit in units_:
        key = unit.text.lower()
        if key not in seen and (len(unit.text.split()) >= MIN_NOTE_WORDS or _value(unit.text)):
            seen.add(key)
            out.append(unit)
    return out


def _value(text: str) -> bool:
    """A label and its value in two words ("Excess £250."): short, but it answers a question."""
    return len(text.split()) == 2 and any(ch.isdigit() for ch in text)


def with_context(unit: Unit) -> str:
    """The unit as one text to embed or match: its context first, as a reader meets it."""
    return f"{unit.context} > {unit.text}" if unit.context else unit.text


def _join(parts) -> str:
    return " > ".join(p for p in parts if p)


def _clean(text: str) -> str:
    return _SPACES.sub(" ", _EMPHASIS.sub(r"\2", text)).strip().rstrip(":").strip()


def _sentences(text: str) -> list[str]:
    """The shared sentence rule (`wyoming_xnai.text.sentences`), then the note breaks."""
    text = _SPACES.sub(" ", _EMPHASIS.sub(r"\2", text)).strip()
    return [part for sentence in split_sentences(text) for part in _NOTE_BREAK.split(sentence) if part]


def _label(sentence: str) -> str:
    """What a "Label: ..." sentence is about ("Water heater: 50-gallon electric" -> "Water heater")."""
    head, colon, _ = sentence.partition(":")
    return head.strip() if colon and 0 < len(head.split()) <= 5 else ""


def _elliptic(sentence: str) -> bool:
    """Does the sentence lean on the one before it for what it is about?"""
    words = re.findall(r"[A-Za-z']+", sentence)
    if not words:
        return True
    first = words[0].lower()
    return (
        len(sentence.split()) <= SHORT
        or first in _CONTINUING
        or sentence[0].islower()
        or any(w.lower() in _REFERRING for w in words[:2])  # "It is a diesel", "Turn it clockwise"
    )


def _level(block: _Block, path: list[tuple[int, str]]) -> int:
    if block.style.startswith("#"):
        return len(block.style)
    if block.style in ("=", "-"):
        return 1 if block.style == "=" else 2
    return (path[-1][0] + 1) if path else 1


def _table_rows(lines: list[str]) -> list[str]:
    """Each data row as one text: "first cell: header value; header value"."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    header: list[str] = []
    if len(lines) > 1 and _TABLE_RULE.match(lines[1].strip()):
        header, rows = rows[0], rows[2:]
    out = []
    for cells in rows:
        cells = [_clean(c) for c in cells]
        if not any(cells):
            continue
        if header and len(cells) > 1:
            pairs = [f"{_clean(h)} {c}".strip() for h, c in zip(header[1:], cells[1:], strict=False) if c]
            out.append(f"{cells[0]}: {'; '.join(pairs)}" if cells[0] else "; ".join(pairs))
        else:
            out.append(", ".join(c for c in cells if c))
    return out


def _blocks(text: str) -> list[_Block]:
    """Headings, paragraphs (wrapped lines joined), list items (with their depth) and tables."""
    lines = text.splitlines()
    out: list[_Block] = []
    para: list[str] = []

    def close() -> None:
        if para:
            out.append(_Block("para", para.copy()))
            para.clear()

    i = 0
    while i < len(lines):
        raw = lines[i]
        line = raw.strip()
        following = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if not line:
            close()
        elif line.startswith("|") and line.count("|") >= 2:
            close()
            table = [line]
            while i + 1 < len(lines) and lines[i + 1].strip().startswith("|"):
                i += 1
                table.append(lines[i].strip())
            out.append(_Block("table", table))
        elif m := _ATX.match(line):
            close()
            out.append(_Block("heading", [m.group(2)], style=m.group(1)))
        elif following and _UNDERLINE.match(following) and len(following.strip()) >= 3 and not para:
            out.append(_Block("heading", [line], style=following.strip()[0]))
            i += 1
        elif _UNDERLINE.match(line) and len(line) >= 3:
            close()  # a rule between sections
        elif m := _ITEM.match(raw):
            close()
            out.append(_Block("item", [m.group(2)], level=len(m.group(1).expandtabs(4))))
        elif out and out[-1].kind == "item" and not para and raw[:1].isspace():
            out[-1].lines.append(line)  # an item's wrapped continuation
        elif m := _BOLD_LINE.match(line):
            close()
            out.append(_Block("heading", [m.group(1)], style="bold"))
        elif _is_caps_heading(line):
            close()
            out.append(_Block("heading", [line], style="caps"))
        elif _is_line_heading(line, para, _next_text(lines, i)):
            close()
            out.append(_Block("heading", [line], style="line"))
        else:
            if out and out[-1].kind == "item" and not para and not raw[:1].isspace() and i and lines[i - 1].strip():
                out[-1].lines.append(line)  # a lazy continuation of a list item
            else:
                para.append(line)
        i += 1
    close()
    return out


def _paragraph(lines: list[str]) -> tuple[list[str], set[int]]:
    """The paragraph's sentences, and which of them start a line of their own: when every line is whole
    sentences starting with a capital ("Black bin: Tuesday.", "Brown bin: Fridays. The subscription is
    £48."), each line is about its own thing (a list written without bullets), not text wrapped over lines."""
    if len(lines) < 2 or not all(_WHOLE_LINE.search(line) and line[:1].isupper() for line in lines):
        return _sentences(" ".join(lines)), set()
    sentences: list[str] = []
    starts = set()
    for line in lines:
        starts.add(len(sentences))
        sentences += _sentences(line)
    return sentences, starts


def _next_text(lines: list[str], i: int) -> str:
    return next((line.strip() for line in lines[i + 1 :] if line.strip()), "")


def _is_caps_heading(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 3 and all(c.isupper() for c in letters) and len(line.split()) <= 10 and not line.endswith(".")


def _is_line_heading(line: str, para: list[str], following: str) -> bool:
    """A short line without a closing mark, standing between sentences (or alone), before more text."""
    if len(line.split()) > SHORT + 2 or _ENDS_SENTENCE.search(line) or not following:
        return False
    if para and not _ENDS_SENTENCE.search(para[-1]):
        return False  # the end of a wrapped line
    return following[0].isupper() or following[0].isdigit() or bool(_ITEM.match(following)) or following[0] in "#|*"
