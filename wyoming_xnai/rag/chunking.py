"""Split a document's text into overlapping passages sized for MiniLM (which reads 256 word pieces at most).

Passages are packed from whole units (`outline`: sentences, table rows, headings) so an answer is rarely
cut in half; the last units of one passage start the next (the overlap), so a fact that straddles a
boundary is whole in at least one passage. Each passage carries its notes with their contexts, which
ingest stores: the headings above a note may be in an earlier passage.
"""

from __future__ import annotations

from dataclasses import dataclass

from wyoming_xnai.rag.outline import Unit, notes, units


@dataclass(frozen=True)
class Chunk:
    """A passage (its units one a line) and the notes in it: the units an answer can come from."""

    text: str
    notes: list[Unit]


def _join(pieces: list[list[str]]) -> str:
    """A passage: its units one a line."""
    return "\n".join(" ".join(p) for p in pieces)


def chunk_text(text: str, max_words: int = 80, overlap_words: int = 20) -> list[str]:
    """The passages of `chunk_document`, as texts."""
    return [chunk.text for chunk in chunk_document(text, max_words, overlap_words)]


def chunk_document(text: str, max_words: int = 80, overlap_words: int = 20) -> list[Chunk]:
    """Greedy packing of the document's units (`outline.units`) up to `max_words`; each chunk repeats up
    to `overlap_words` of the previous. A unit longer than a chunk is cut into overlapping windows."""
    if max_words < 1 or not 0 <= overlap_words < max_words:
        raise ValueError("need max_words >= 1 and 0 <= overlap_words < max_words")
    pieces: list[tuple[list[str], Unit]] = []  # each unit as words; an over-long one is cut into windows
    for unit in units(text):
        words = unit.text.split()
        step = max_words - overlap_words
        if len(words) <= max_words:
            pieces.append((words, unit))
        else:
            pieces.extend(
                (w, Unit(" ".join(w), unit.context))
                for w in (words[i : i + max_words] for i in range(0, len(words) - overlap_words, step))
            )
    return [Chunk(_join([w for w, _ in group]), notes([u for _, u in group])) for group in _pack(pieces, max_words, overlap_words)]


def _pack(pieces: list[tuple[list[str], Unit]], max_words: int, overlap_words: int) -> list[list]:
    groups: list[list] = []
    current: list[tuple[list[str], Unit]] = []
    size = 0
    for piece in pieces:
        if current and size + len(piece[0]) > max_words:
            trailing: list = []  # a heading belongs to the text after it, not before
            while len(current) > 1 and current[-1][1].heading:
                trailing.insert(0, current.pop())
            if sum(len(p[0]) for p in trailing) + len(piece[0]) > max_words:  # they would not fit with it: stay
                current.extend(trailing)
                trailing = []
            groups.append(current)
            if trailing:
                current = [*trailing, piece]
                size = sum(len(p[0]) for p in current)
                continue
            carried: list = []
            carried_size = 0
            for prev in reversed(current):  # keep whole trailing units within the overlap budget
                if carried_size + len(prev[0]) > overlap_words or carried_size + len(prev[0]) + len(piece[0]) > max_words:
                    break
                carried.insert(0, prev)
                carried_size += len(prev[0])
            current, size = carried, carried_size
        current.append(piece)
        size += len(piece[0])
    if current:
        groups.append(current)
    return groups
