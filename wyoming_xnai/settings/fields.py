"""The kinds of value the settings share, each bounded in one place: a field's type says what it may be.

`asr_timeout: Seconds` is checked like every other timeout (over 0), from a flag, the environment or `.env`;
a field adds only a bound of its own (`asr_window: SecondsOrZero = Field(5.0, le=30.0, ...)`). The limits every
service puts on its work (`slots`, `queue`, `timeout`, `deadline`) are worded here once, so `--help` says the
same thing the same way for ASR, TTS and handle; their bounds still come from the field's type.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

Seconds = Annotated[float, Field(gt=0)]
"""A timeout, period or longest duration: 0 would end it before it began."""

SecondsOrZero = Annotated[float, Field(ge=0)]
"""A pause, margin or grace period that may be none (0, often: off)."""

Count = Annotated[int, Field(ge=0)]
"""How many may wait, be kept or be used, where 0 is none (or, for threads, the library's choice)."""

AtLeastOne = Annotated[int, Field(ge=1)]
"""How many of what the work cannot do without (connections, threads, slots, characters): 0 would refuse all."""


def slots(default: int, work: str) -> Any:
    """A service's `max_concurrent` (type it `AtLeastOne`): how many of its `work` run at once."""
    return Field(default, description=f"{work} that may run at the same time")


def queue(default: int, waiting: str, slot: str) -> Any:
    """A service's `max_queue` (type it `Count`): what may wait for a slot before it is refused as busy."""
    return Field(default, description=f"{waiting} that may wait for {slot}")


def timeout(default: float, what: str, until: str) -> Any:
    """A timeout of one step (type it `Seconds`): how long `what` may take `until` it is cut short."""
    return Field(default, description=f"Seconds {what} may take {until}")


def deadline(default: float, start: str, end: str, waiting: str) -> Any:
    """A service's whole-request timeout (type it `Seconds`): from the request to its result, queue wait included,
    so a client is answered in time however busy the service is."""
    return Field(default, description=f"Seconds from {start} to {end}, {waiting} included")
