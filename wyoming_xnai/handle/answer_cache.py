"""Earlier answers, for when the LLM is down: an exact match of the question, else a close paraphrase.

Only stand-alone questions answered by the LLM stages are stored (a follow-up like "what is their
number?" means something else in another conversation). Bounded (LRU) and expiring.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_NOT_WORD = re.compile(r"[^a-z0-9]+")


def normalise(question: str) -> str:
    return _NOT_WORD.sub(" ", question.lower()).strip()


@dataclass(frozen=True)
class Cached:
    question: str
    answer: str
    sources: list[str]
    vector: np.ndarray | None
    at: float


class AnswerCache:
    def __init__(
        self,
        size: int = 256,
        similarity: float = 0.9,
        ttl: float = 24 * 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._size = size
        self._similarity = similarity
        self._ttl = ttl
        self._clock = clock
        self._items: OrderedDict[str, Cached] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, question: str, answer: str, sources: list[str], vector: np.ndarray | None) -> None:
        key = normalise(question)
        if not key or self._size == 0:
            return
        self._items.pop(key, None)
        self._items[key] = Cached(question, answer, sources, vector, self._clock())
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def _fresh(self, item: Cached) -> bool:
        return self._clock() - item.at <= self._ttl

    def exact(self, question: str) -> Cached | None:
        item = self._items.get(normalise(question))
        if item is None or not self._fresh(item):
            return None
        self._items.move_to_end(normalise(question))
        return item

    def similar(self, vector: np.ndarray) -> tuple[Cached, float] | None:
        """The closest earlier question by cosine similarity, if it is close enough."""
        best: tuple[Cached, float] | None = None
        for item in self._items.values():
            if item.vector is None or not self._fresh(item):
                continue
            score = float(item.vector @ vector)
            if score >= self._similarity and (best is None or score > best[1]):
                best = (item, score)
        return best
