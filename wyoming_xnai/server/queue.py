"""Bounded admission to a model: a few run, a few wait, the rest are told the server is busy.

A burst of clients must queue instead of piling work (and memory) onto a 2-core box, and a client
beyond the queue gets an immediate, polite refusal rather than a timeout.

A worker thread cannot be killed, so a model call that its request gave up on (a timeout, a client
that left) keeps running: `Slot.run_sync` lets that thread take the slot with it, and the slot is
free again only when the call really returns. New requests then wait within the queue's limits
(and their own deadlines) instead of piling a second call onto a stuck model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel

from wyoming_xnai.server.memory import heap
from wyoming_xnai.server.metrics import IN_FLIGHT, QUEUE_DEPTH

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")


class Busy(Exception):
    """Every slot is taken and the waiting line is full."""


class Slot:
    """One admitted request's turn at the model."""

    def __init__(self, queue: WorkQueue) -> None:
        self._queue = queue
        self._lock = threading.Lock()  # the loop and the worker thread agree on who releases
        self.abandoned = False  # the request gave up while its call ran: the thread releases the slot

    async def run_sync(self, func: Callable[..., T], *args: object) -> T:
        """`func(*args)` in a worker thread. If the caller is cancelled (a deadline, a client gone)
        it stops waiting at once, but the slot stays taken until the thread really returns."""
        token = anyio.lowlevel.current_token()
        state = "pending"  # -> "running" -> "done"; or "pending" -> "gave-up" (func never runs)

        def call() -> T:
            nonlocal state
            with self._lock:
                if state == "gave-up":
                    raise RuntimeError("the request gave up before its call started")
                state = "running"
            try:
                return func(*args)
            finally:
                with self._lock:
                    state = "done"
                    abandoned = self.abandoned
                if abandoned:
                    _LOGGER.warning("%s: an abandoned model call returned; its slot is free again", self._queue.service)
                    heap.now()  # its request's heap trim ran before this call freed its working memory
                    try:
                        anyio.from_thread.run_sync(self._queue._release, self, token=token)
                    except RuntimeError:  # the event loop is gone: nothing left to release
                        pass

        try:
            return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        finally:
            with self._lock:
                if state == "running":
                    self.abandoned = True
                elif state == "pending":
                    state = "gave-up"


class WorkQueue:
    def __init__(self, service: str, max_running: int, max_waiting: int) -> None:
        self.service = service
        self._limiter = anyio.CapacityLimiter(max_running)
        self._max_waiting = max_waiting
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def idle(self) -> bool:
        """A slot is free and nobody waits for one: optional work (a speculative decode) may take it."""
        return self._limiter.available_tokens > 0 and self._waiting == 0

    @asynccontextmanager
    async def slot(self, admitted: bool = False) -> AsyncIterator[Slot]:
        """Hold a model slot while the model call runs (in a worker thread, via `Slot.run_sync`).

        `admitted`: a later step of a request that already got a slot (TTS speaks piece by piece)
        waits its turn rather than being told the server is busy halfway through its answer.
        """
        if not admitted and self._limiter.available_tokens == 0 and self._waiting >= self._max_waiting:
            raise Busy(f"{self.service} is busy: {self._waiting} requests already waiting")
        slot = Slot(self)
        self._waiting += 1
        QUEUE_DEPTH.labels(self.service).inc()
        try:
            await self._limiter.acquire_on_behalf_of(slot)  # the slot, not the task: a thread may keep it
        finally:
            self._waiting -= 1
            QUEUE_DEPTH.labels(self.service).dec()
        IN_FLIGHT.labels(self.service).inc()
        try:
            yield slot
        finally:
            if not slot.abandoned:
                self._release(slot)

    def _release(self, slot: Slot) -> None:
        IN_FLIGHT.labels(self.service).dec()
        self._limiter.release_on_behalf_of(slot)
