"""Async circuit breakers (purgatory) with their state mirrored into Prometheus.

pycircuitbreaker cannot guard coroutines; purgatory can, but counts every exception as a failure unless
told otherwise. A breaker that opens stops a stage for every client, so it counts only faults of the
stage itself (a model that crashed or timed out, an unreadable index): a cancellation (a client that
left) and a `RequestFault` (something about this one request, such as a question too long for the
model) say nothing about the stage and are excluded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

from wyoming_xnai.server.metrics import BREAKER_STATE

_LOGGER = logging.getLogger(__name__)

__all__ = ["Breakers", "OpenedState", "RequestFault"]


class RequestFault(Exception):
    """A guarded stage failed because of the request it was given, not because the stage is broken."""


class Breakers:
    def __init__(self, names: Iterable[str], failures: int, reset_seconds: float) -> None:
        self._factory = AsyncCircuitBreakerFactory(
            default_threshold=failures, default_ttl=reset_seconds, exclude=[asyncio.CancelledError, RequestFault]
        )
        self._factory.add_listener(self._on_event)
        self.states: dict[str, str] = {}
        for name in names:
            self.states[name] = "closed"
            BREAKER_STATE.labels(name).set(0)

    def _on_event(self, name: str, event_type: str, event: Any) -> None:
        if event_type != "state_changed":
            return
        self.states[name] = event.state
        BREAKER_STATE.labels(name).set(1 if event.state == "opened" else 0)
        log = _LOGGER.warning if event.state == "opened" else _LOGGER.info
        log("circuit breaker %s is now %s", name, event.state)

    @asynccontextmanager
    async def guard(self, name: str) -> AsyncIterator[None]:
        """Run the block under the breaker; raises OpenedState at once while the breaker is open."""
        breaker = await self._factory.get_breaker(name)
        async with breaker:
            yield

    async def is_open(self, name: str) -> bool:
        """Open and not yet due for a retry (a due breaker lets the next call through, half-open)."""
        context = (await self._factory.get_breaker(name)).context
        return context.state == "opened" and time.time() <= (context.opened_at or 0.0) + context.ttl
