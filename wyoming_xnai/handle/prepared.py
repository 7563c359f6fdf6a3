"""Answers prepared during the speaker's pause, for the transcript that is about to arrive.

The ASR's early decode reads the question ~0.45 s before the turn ends (asr/turn.py) and offers it
(`xnai-prepare`, client/prepare.py); Home Assistant sends the real `transcript` on a new connection once
the turn is over. Computing the answer in between takes the LLM's time off the user's wait.

Truth first: a prepared answer stands in for a real request only when it is exactly what that request
would have computed (`usable`): the same question text, no ASR confidence in the request (the preparation
is computed without any) and not a follow-up (a follow-up reads the conversation's history; the
preparation is computed without one). Everything else is computed as usual.

Bounded whoever offers: one preparation at a time and one waiting (a newer offer replaces the waiting
one and cancels the running one), a few finished ones kept for seconds, each used once. An offer that
comes after its real request (a race the real request won) is refused, so nothing is computed twice, and
offers stop after a few that no real request could use, until one comes that could.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import anyio

from wyoming_xnai.handle.expiring import ExpiringLru
from wyoming_xnai.handle.prompt import Turn, is_follow_up

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")
KEEP = 8  # finished preparations kept (one per room speaking at once is plenty)
KEEP_SECONDS = 15.0  # Home Assistant's transcript follows the offer by well under a second
# An offer this soon after the real request for the same text came too late (that request computes it): the
# ASR sends it as its early decode ends, before the transcript, within 1 s at most (asr/server.py)
LATE_SECONDS = 2.0
# Offers taken in a row without a real request that could use one: then offers wait for such a request.
# The ASR's transcripts may go elsewhere (Home Assistant's own agent, a satellite that sends its ASR
# confidence): answering them ahead would only take the CPU from the services that do answer.
UNCLAIMED = 4


def usable(question: str, history: Sequence[Turn], context: Mapping[str, Any]) -> bool:
    """Whether a preparation of `question` (computed without history or ASR confidence) is exactly what this
    request computes: it sends no `asr` context and is not a follow-up of its conversation."""
    return "asr" not in context and not is_follow_up(question, history)


@dataclass(eq=False)
class Preparation(Generic[T]):
    text: str
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    done: anyio.Event = field(default_factory=anyio.Event)
    started: bool = False
    waiting: int = 0  # real requests waiting for it: no offer cancels it then
    result: T | None = None  # None until done, and after a failure or a cancel

    @property
    def live(self) -> bool:
        return not self.scope.cancel_called

    def cancel(self) -> None:
        self.scope.cancel()
        if not self.started:
            self.done.set()  # it never runs


class Preparer(Generic[T]):
    """Runs `compute(text)` for offered questions in its own task (`run`) and hands the results to the real
    requests (`answer_for`). `compute` returns None for a result not worth keeping."""

    def __init__(
        self,
        compute: Callable[[str], Awaitable[T | None]],
        size: int = KEEP,
        ttl: float = KEEP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._compute = compute
        self._finished: ExpiringLru[T] = ExpiringLru(size, ttl, clock)
        self._asked: ExpiringLru[bool] = ExpiringLru(size, LATE_SECONDS, clock)  # questions of real requests
        self._running: Preparation[T] | None = None
        self._next: Preparation[T] | None = None
        self._wake = anyio.Event()
        self._unclaimed = 0  # offers taken since the last real request that could use one

    def offer(self, text: str) -> bool:
        """Prepare `text` next (newest wins); False when it is already prepared or being prepared, was just
        asked for real, when the one waiting to run has a real request waiting for it, or when the last
        offers went unclaimed (see UNCLAIMED)."""
        if not text or self._asked.get(text) or self._finished.get(text) is not None or self._find(text) is not None:
            return False
        if self._unclaimed >= UNCLAIMED:
            return False
        if self._next is not None:
            if self._next.waiting:
                return False
            self._next.cancel()
        if self._running is not None and not self._running.waiting:
            self._running.cancel()
        self._next = Preparation(text)
        self._unclaimed += 1
        self._wake.set()
        return True

    async def answer_for(self, question: str, history: Sequence[Turn], context: Mapping[str, Any]) -> T | None:
        """The prepared answer for this real request, awaited if it is still being prepared; None when there
        is none it may use. Whatever is being prepared for another question is cancelled then: the real
        request never waits behind a guess."""
        self._asked.put(question, True)
        if not usable(question, history, context):
            self.forget()
            return None
        self._unclaimed = 0
        kept = self._finished.pop(question)
        if kept is not None:
            return kept
        preparation = self._find(question)
        if preparation is None:
            self.forget()
            return None
        preparation.waiting += 1
        try:
            await preparation.done.wait()
        finally:
            preparation.waiting -= 1
        return preparation.result

    def forget(self) -> None:
        """Cancel every preparation no real request waits for."""
        for preparation in (self._running, self._next):
            if preparation is not None and not preparation.waiting:
                preparation.cancel()

    async def run(self) -> None:
        """Prepare the offered questions one at a time, as long as the service runs."""
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            preparation, self._next = self._next, None
            if preparation is not None and not preparation.done.is_set():
                self._running = preparation
                await self._prepare(preparation)

    def _find(self, text: str) -> Preparation[T] | None:
        for preparation in (self._running, self._next):
            if preparation is not None and preparation.text == text and preparation.live:
                return preparation
        return None

    async def _prepare(self, preparation: Preparation[T]) -> None:
        preparation.started = True
        try:
            with preparation.scope:
                preparation.result = await self._compute(preparation.text)
        except Exception as err:  # the real request computes its answer itself
            _LOGGER.warning("preparing an answer failed (%s: %s)", type(err).__name__, err)
        finally:
            self._running = None
            if preparation.scope.cancelled_caught:
                _LOGGER.debug("preparation cancelled: a newer question came")
            elif preparation.result is not None and not preparation.waiting:
                self._finished.put(preparation.text, preparation.result)
            preparation.done.set()
