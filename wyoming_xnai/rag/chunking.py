"""Split a document's text into overlapping passages sized for MiniLM (which reads 256 word pieces at most).

Passages are packed from whole sentences so an answer is rarely cut in half; the last sentences of one
passage start the next (the overlap), so a fact that straddles a boundary is whole in at least one passage.
"""

from __future__ import annotations

import re

from wyoming_xnai.text.sentences import split_sentences

_PARAGRAPHS = re.compile(r"\n\s*\n")
# A note is a sentence, or a part of one after a semicolon that starts like a sentence ("... to close;
# The gas meter ..."): each part can answer a question alone. A colon keeps its label with what follows
# ("Alarm company: Sentinel Watch").
_NOTE_BREAK = re.compile(r"(?<=;)\s+(?=[\"'(\[]?[A-Z0-9])")
_SPACES = re.compile(r"\s+")


def sentences(text: str) -> list[str]:
    """Sentences and headings/list items (short lines without a full stop stay their own unit)."""
    units: list[str] = []
    for paragraph in _PARAGRAPHS.split(text):
        lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
        # A line that does not end a sentence and is short (a heading, a list item) stands alone only if
        # the next line starts a new item; otherwise lines of one paragraph are joined (PDF/HTML wrapping).
        buffer: list[str] = []
        for line in lines:
            if buffer and _starts_item(line):
                units.extend(_split_sentences(" ".join(buffer)))
                buffer = []
            buffer.append(line)
            if _is_heading(line):
                units.extend(_split_sentences(" ".join(buffer)))
                buffer = []
        if buffer:
            units.extend(_split_sentences(" ".join(buffer)))
    return units


def note_sentences(passage: str) -> list[str]:
    """The sentences of a passage that can be notes for the LLM: three words or more, each once.

    Ingest embeds exactly these (stored with the passage), so answering a question embeds only the question.
    """
    return [sentence for sentence, _ in notes_in_context(passage)]


def notes_in_context(passage: str) -> list[tuple[str, str]]:
    """`note_sentences` with the headings above each in its passage ("Biscuit the dog" for "Her
    vaccinations are due every April."), which a note's words alone may lack. Not the sentence before:
    its words are about its own facts ("2 eggs" then "Whisk, makes 8 pancakes")."""
    seen: set[str] = set()
    out = []
    headings: list[str] = []
    for sentence in sentences(passage):
        key = sentence.lower()
        if key not in seen and len(sentence.split()) >= 3:
            seen.add(key)
            out.append((sentence, " ".join(headings)))
        if _is_heading(sentence):
            headings.append(sentence)
    return out


def _starts_item(line: str) -> bool:
    return bool(re.match(r"^([-*+•]|\d+[.)]|#{1,6})\s", line))


def _is_heading(line: str) -> bool:
    return line.startswith("#") or (len(line.split()) <= 6 and not re.search(r"[.!?,;:]$", line))


def _split_sentences(text: str) -> list[str]:
    """The shared sentence rule (`wyoming_xnai.text.sentences`), then the note breaks."""
    text = _SPACES.sub(" ", text).strip()
    return [part for sentence in split_sentences(text) for part in _NOTE_BREAK.split(sentence) if part]


def _join(pieces: list[list[str]]) -> str:
    """A passage: its sentences and headings one a line, so `sentences` finds them again in it."""
    return "\n".join(" ".join(p) for p in pieces)


def chunk_text(text: str, max_words: int = 80, overlap_words: int = 20) -> list[str]:
    """Greedy sentence packing up to `max_words`; each chunk repeats up to `overlap_words` of the previous.
    Each sentence or heading of a passage is on its own line."""
    if max_words < 1 or not 0 <= overlap_words < max_words:
        raise ValueError("need max_words >= 1 and 0 <= overlap_words < max_words")
    pieces: list[list[str]] = []  # each sentence as words; an over-long sentence is cut into windows
    for sentence in sentences(text):
        words = sentence.split()
        step = max_words - overlap_words
        if len(words) <= max_words:
            pieces.append(words)
        else:
            pieces.extend(words[i : i + max_words] for i in range(0, len(words) - overlap_words, step))
    chunks: list[str] = []
    current: list[list[str]] = []
    size = 0
    for piece in pieces:
        if current and size + len(piece) > max_words:
            trailing: list[list[str]] = []  # a heading belongs to the text after it, not before
            while len(current) > 1 and _is_heading(" ".join(current[-1])):
                trailing.insert(0, current.pop())
            if sum(len(p) for p in trailing) + len(piece) > max_words:  # they would not fit with it: stay
                current.extend(trailing)
                trailing = []
            chunks.append(_join(current))
            if trailing:
                current, size = trailing, sum(len(p) for p in trailing)
                current.append(piece)
                size += len(piece)
                continue
            carried: list[list[str]] = []
            carried_size = 0
            for prev in reversed(current):  # keep whole trailing sentences within the overlap budget
                if carried_size + len(prev) > overlap_words or carried_size + len(prev) + len(piece) > max_words:
                    break
                carried.insert(0, prev)
                carried_size += len(prev)
            current, size = carried, carried_size
        current.append(piece)
        size += len(piece)
    if current:
        chunks.append(_join(current))
    return chunks
