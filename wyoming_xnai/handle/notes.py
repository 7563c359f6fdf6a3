"""Note sentences of the retrieved passages, ranked for one question.

Retrieval finds passages; the LLM is shown single sentences of them ("notes"), since a small model given
a long context copies the wrong sentence. Each note keeps the text around it in its passage (its heading,
the sentence before it) so that a note like "Her vaccinations are due every April." can be matched to
a question about the dog.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wyoming_xnai.text.words import content_words


@dataclass(frozen=True)
class Note:
    text: str
    source: str
    score: float  # for ordering
    similarity: float  # cosine similarity to the question
    context: str = ""  # the heading and the sentence before it in its passage


@dataclass(frozen=True)
class Candidate:
    """A note sentence before ranking."""

    text: str
    source: str
    context: str


def merge_notes(
    passages: Sequence[tuple[str, Sequence[str], np.ndarray, Sequence[str]]], dim: int
) -> tuple[list[Candidate], np.ndarray]:
    """Every note sentence of the passages, without the repeats chunk overlap makes, and their vectors.
    `passages` are (source, note sentences, their vectors, their contexts), best passage first."""
    seen: set[str] = set()
    out = []
    rows = []
    for source, texts, vectors, contexts in passages:
        for sentence, vector, context in zip(texts, vectors, contexts, strict=True):
            key = sentence.lower()
            if key in seen:
                continue
            seen.add(key)
            out.append(Candidate(sentence, source, context))
            rows.append(vector)
    return out, (np.stack(rows) if rows else np.zeros((0, dim), np.float32))


def rank_notes(query: str, query_vec: np.ndarray, candidates: Sequence[Candidate], vectors: np.ndarray) -> list[Note]:
    """Best sentences first: cosine similarity plus a bonus for sharing the question's words."""
    qwords = content_words(query)
    notes = []
    for c, vec in zip(candidates, vectors, strict=True):
        overlap = len(qwords & content_words(c.text)) / max(len(qwords), 1)
        similarity = float(vec @ query_vec)
        notes.append(Note(c.text, c.source, similarity + 0.3 * overlap, similarity, c.context))
    return sorted(notes, key=lambda n: -n.score)
