"""The one failover rule: try the candidates in order until one works.

Every service call of the satellite (open an ASR stream, finish it, ask handle, speak with TTS) goes
through `failover`; the caller says what one attempt is and whether a failure still allows the next
candidate (an answer that was half spoken is not started again on another instance).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from wyoming_xnai.client.connection import SERVICE_ERRORS

T = TypeVar("T")
R = TypeVar("R")


class AllFailed(Exception):
    """No candidate succeeded (or a failure ruled out trying the rest); `last` is the last error."""

    def __init__(self, message: str, last: BaseException | None = None, tried: int = 0) -> None:
        super().__init__(message)
        self.last = last
        self.tried = tried


async def failover(
    candidates: Iterable[T],
    attempt: Callable[[T], Awaitable[R]],
    failed: Callable[[T, BaseException], bool] | None = None,
    errors: tuple[type[BaseException], ...] = SERVICE_ERRORS,
) -> R:
    """The result of the first candidate whose attempt succeeds.

    A failure (one of `errors`) is passed to `failed(candidate, error)`, which records it and returns
    whether the next candidate may be tried. Raises AllFailed when none is left or one may not be.
    """
    last: BaseException | None = None
    tried = 0
    for candidate in candidates:
        tried += 1
        try:
            return await attempt(candidate)
        except errors as err:
            last = err
            if failed is not None and not failed(candidate, err):
                raise AllFailed(f"gave up after {candidate}: {err}", err, tried) from None
    if last is None:
        raise AllFailed("no candidate to try")
    raise AllFailed(f"every one of {tried} failed; last: {last}", last, tried)
