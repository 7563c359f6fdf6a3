"""Bounded admission to a model: a few run, a few wait, the rest are told the server is busy.

A burst of clients must queue instead of piling work (and memory) onto a 2-core box, and a client
beyond the queue gets an immediate, polite refusal rather than a timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from wyoming_xnai.server.metrics import IN_FLIGHT, QUEUE_DEPTH


class Busy(Exception):
    """Every slot is taken and the waiting line is full."""


class WorkQueue:
    def __init__(self, service: str, max_running: int, max_waiting: int) -> None:
        self.service = service
        self._limiter = anyio.CapacityLimiter(max_running)
        self._max_waiting = max_waiting
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    @asynccontextmanager
    async def slot(self, admitted: bool = False) -> AsyncIterator[None]:
        """Hold a model slot while the model call runs (in a worker thread).

        `admitted`: a later step of a request that already got a slot (TTS speaks piece by piece)
        waits its turn rather than being told the server is busy halfway through its answer.
        """
        if not admitted and self._limiter.available_tokens == 0 and self._waiting >= self._max_waiting:
            raise Busy(f"{self.service} is busy: {self._waiting} requests already waiting")
        self._waiting += 1
        QUEUE_DEPTH.labels(self.service).inc()
        try:
            await self._limiter.acquire()
        finally:
            self._waiting -= 1
            QUEUE_DEPTH.labels(self.service).dec()
        IN_FLIGHT.labels(self.service).inc()
        try:
            yield
        finally:
            IN_FLIGHT.labels(self.service).dec()
            self._limiter.release()
