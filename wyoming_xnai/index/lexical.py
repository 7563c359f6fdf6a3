"""BM25 keyword search (bm25s): catches exact names, numbers and codes that embeddings blur."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np

TOKEN_PATTERN = r"(?u)\b\w+\b"  # keep one-character tokens: "9 volt", "B4"


def _tokens(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(texts, stopwords="en", token_pattern=TOKEN_PATTERN, return_ids=False, show_progress=False)


class Lexical:
    def __init__(self, retriever: bm25s.BM25, size: int) -> None:
        self._retriever = retriever
        self._size = size
        self._vocab = set(retriever.vocab_dict) if retriever is not None else set()

    @classmethod
    def build(cls, texts: list[str]) -> Lexical:
        if not texts:
            return cls(None, 0)
        retriever = bm25s.BM25()
        retriever.index(_tokens(texts), show_progress=False)
        return cls(retriever, len(texts))

    def save(self, folder: Path) -> None:
        if self._retriever is not None:
            self._retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> Lexical:
        if size == 0:
            return cls(None, 0)
        return cls(bm25s.BM25.load(str(folder), show_progress=False, verbosity=0), size)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(chunk number, BM25 score) best first; only chunks sharing a word with the query."""
        words = [w for w in _tokens([query])[0] if w in self._vocab]
        if not words or self._size == 0:
            return []
        ids, scores = self._retriever.retrieve([words], k=min(k, self._size), show_progress=False, n_threads=1)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if s > 0 and np.isfinite(s)]
