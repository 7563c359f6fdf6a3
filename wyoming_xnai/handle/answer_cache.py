"""Earlier answers, for when the LLM is down: an exact match of the question, else a close paraphrase.

Only stand-alone questions answered by the LLM stages are stored (a follow-up like "what is their
number?" means something else in another conversation). Bounded (LRU) and expiring.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wyoming_xnai.handle.expiring import ExpiringLru

_NOT_WORD = re.compile(r"[^a-z0-9]+")


def normalise(question: str) -> str:
    return _NOT_WORD.sub(" ", question.lower()).strip()


@dataclass(frozen=True)
class Cached:
    question: str
    answer: str
    sources: list[str]
    vector: np.ndarray | None


class AnswerCache:
    def __init__(
        self,
        size: int = 256,
        similarity: float = 0.9,
        ttl: float = 24 * 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._similarity = similarity
        self._items: ExpiringLru[Cached] = ExpiringLru(size, ttl, clock)

    def __len__(self) -> int:
        return len(self._items)

    def put(self, question: str, answer: str, sources: list[str], vector: np.ndarray | None) -> None:
        if key := normalise(question):
            self._items.put(key, Cached(question, answer, sources, vector))

    def exact(self, question: str) -> Cached | None:
        return self._items.get(normalise(question))

    def similar(self, vector: np.ndarray) -> tuple[Cached, float] | None:
        """The closest earlier question by cosine similarity, if it is close enough."""
        best: tuple[Cached, float] | None = None
        for item in self._items.fresh():
            if item.vector is None:
                continue
            score = float(item.vector @ vector)
            if score >= self._similarity and (best is None or score > best[1]):
                best = (item, score)
        return best
