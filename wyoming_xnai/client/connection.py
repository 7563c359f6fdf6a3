"""One Wyoming client connection with deadlines: a dead or stuck service never blocks the caller."""

from __future__ import annotations

import anyio
from wyoming.client import AsyncClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info


class ServiceFailed(Exception):
    """A service answered with an error event or closed the connection unexpectedly."""


# What a failing service can raise at a client: the caller fails over on any of these.
SERVICE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    TimeoutError,
    ServiceFailed,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    KeyError,  # the rest: malformed events from a misbehaving service
    TypeError,
    ValueError,
)


async def connect(uri: str, timeout: float) -> AsyncClient:
    """A connected client, or TimeoutError/OSError within `timeout` seconds."""
    client = AsyncClient.from_uri(uri)
    with anyio.fail_after(timeout):
        await client.connect()
    return client


async def read_event(client: AsyncClient, timeout: float) -> Event:
    """The next event; a close or an `error` event becomes ServiceFailed, silence TimeoutError."""
    with anyio.fail_after(timeout):
        event = await client.read_event()
    if event is None:
        raise ServiceFailed("connection closed")
    if Error.is_type(event.type):
        err = Error.from_event(event)
        raise ServiceFailed(f"error {err.code}: {err.text}")
    return event


async def write_event(client: AsyncClient, event: Event, timeout: float) -> None:
    """Send one event; a service that stops reading raises TimeoutError instead of blocking us."""
    with anyio.fail_after(timeout):
        await client.write_event(event)


async def close(client: AsyncClient | None) -> None:
    """Disconnect without waiting long, even while being cancelled."""
    if client is None:
        return
    with anyio.move_on_after(1, shield=True):
        try:
            await client.disconnect()
        except OSError:
            pass


async def describe(uri: str, timeout: float) -> Info:
    """One describe round trip; raises OSError/TimeoutError/ServiceFailed when the service does not answer."""
    with anyio.fail_after(timeout):
        async with AsyncClient.from_uri(uri) as client:
            await client.write_event(Describe().event())
            while True:
                event = await client.read_event()
                if event is None:
                    raise ConnectionError(f"{uri} closed the connection before info")
                if Info.is_type(event.type):
                    return Info.from_event(event)
