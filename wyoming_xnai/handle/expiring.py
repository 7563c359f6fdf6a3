"""A bounded map whose entries expire: what the answer cache and the conversation memory keep."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

V = TypeVar("V")


class ExpiringLru(Generic[V]):
    """At most `size` entries (the least recently used go first), each forgotten `ttl` seconds after it was put:
    memory stays bounded however many clients ask, and nothing old is said as if it were new."""

    def __init__(self, size: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._size = size
        self._ttl = ttl
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: str, value: V) -> None:
        self._items.pop(key, None)
        self._items[key] = (self._clock(), value)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def get(self, key: str) -> V | None:
        """The entry, now the most recently used; None if there is none or it expired (then it is dropped)."""
        entry = self._items.get(key)
        if entry is None:
            return None
        if self._clock() - entry[0] > self._ttl:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return entry[1]

    def pop(self, key: str) -> V | None:
        """The entry, taken out; None if there is none or it expired."""
        value = self.get(key)
        self._items.pop(key, None)
        return value

    def fresh(self) -> Iterator[V]:
        """Every entry that has not expired, in the order of their use (which reading them leaves alone)."""
        now = self._clock()
        return (value for at, value in self._items.values() if now - at <= self._ttl)
