"""The event handler every service builds on: it guards the framing and answers `describe`.

wyoming's `async_read_event` reads a frame exactly as the protocol says, but it trusts the header:
it will read a payload of any announced size into memory, and it turns a malformed frame into a
silent EOF or an exception that kills the handler task. `GuardedReader` checks each header before
wyoming reads the rest, so a bad frame becomes a clear `error` event and closes only that connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Generic, Protocol, TypeVar

import anyio
from anyio.abc import TaskGroup
from wyoming.error import Error
from wyoming.event import Event, async_read_event
from wyoming.info import Describe, Info
from wyoming.server import AsyncEventHandler

from wyoming_xnai.server.metrics import CONNECTIONS, ERRORS
from wyoming_xnai.settings import Settings

_LOGGER = logging.getLogger(__name__)


class ClientError(Exception):
    """Something a client sent that the server refuses: sent back as an `error` event with `code`."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


class FrameError(ClientError):
    """The client sent something that is not a valid Wyoming frame (the connection is closed)."""


class GuardedReader:
    """A StreamReader stand-in that validates what wyoming's reader is about to consume."""

    def __init__(self, reader: asyncio.StreamReader, max_bytes: int) -> None:
        self._reader = reader
        self._max_bytes = max_bytes
        self._expect_data: int | None = None

    async def readline(self) -> bytes:
        try:
            line = await self._reader.readline()
        except ValueError:  # asyncio's line limit (64 KiB) overrun
            raise FrameError("header-too-large", "event header line is longer than 64 KiB") from None
        if not line:
            return line
        if not line.endswith(b"\n"):
            raise FrameError("truncated-frame", "connection closed in the middle of an event header")
        try:
            header = json.loads(line)
        except ValueError:
            raise FrameError("malformed-header", "event header is not valid UTF-8 JSON") from None
        if not isinstance(header, dict) or not isinstance(header.get("type"), str):
            raise FrameError("malformed-header", "event header must be a JSON object with a string 'type'")
        if not isinstance(header.get("data", {}), dict):
            raise FrameError("malformed-header", "'data' must be a JSON object")
        for key in ("data_length", "payload_length"):
            value = header.get(key)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise FrameError("malformed-header", f"'{key}' must be a non-negative integer")
            if value > self._max_bytes:
                raise FrameError(
                    "payload-too-large", f"'{key}' of {value} bytes is over the limit of {self._max_bytes}"
                )
        self._expect_data = header.get("data_length") or None
        return line

    async def readexactly(self, n: int) -> bytes:
        try:
            block = await self._reader.readexactly(n)
        except asyncio.IncompleteReadError:
            raise FrameError("truncated-frame", "connection closed in the middle of an event") from None
        if self._expect_data is not None and n == self._expect_data:
            self._expect_data = None
            try:
                if not isinstance(json.loads(block), dict):
                    raise ValueError
            except ValueError:
                raise FrameError("malformed-data", "event data block is not a JSON object") from None
        return block


class ConnectionLimit:
    """A service's open connections. Each may buffer up to one capped payload, so capping their number
    is what bounds memory; a client beyond the cap gets `busy` instead of a slot, and a connection that
    sends nothing for `idle_timeout` seconds is closed so silent clients cannot hold the slots forever."""

    def __init__(self, limit: int, idle_timeout: float | None = None) -> None:
        self.limit = limit
        self.idle_timeout = idle_timeout
        self.open = 0


class Served(Protocol):
    """What a handler needs from its service (bootstrap.Service has it; a Protocol avoids an import cycle)."""

    name: str
    settings: Settings

    def info(self) -> Info: ...


S = TypeVar("S", bound=Served)


class ServiceHandler(AsyncEventHandler, Generic[S]):
    """One client connection of service `svc`. Subclasses implement `handle` for their events."""

    limit: ConnectionLimit | None = None  # set by bootstrap for every accepted connection

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, svc: S) -> None:
        super().__init__(reader, writer)
        self.svc = svc
        self.settings = svc.settings
        self.service = svc.name  # the metrics label and log prefix
        self.info = svc.info()
        self._guarded = GuardedReader(reader, svc.settings.max_payload_bytes)
        self._tasks: TaskGroup | None = None

    @property
    def tasks(self) -> TaskGroup:
        """Work of this connection that runs while it reads on (a stream, an answer, pings); cancelled
        when the connection ends, so nothing outlives its client."""
        assert self._tasks is not None, "only while run() is serving the connection"
        return self._tasks

    async def handle(self, event: Event) -> bool:
        """Handle one non-describe event; return False to close the connection."""
        return True

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(self.info.event())
            return True
        return await self.handle(event)

    async def send_error(self, code: str, text: str) -> None:
        """Tell the client what went wrong; a client that already left is not an error of ours."""
        ERRORS.labels(self.service, code).inc()
        _LOGGER.info("%s: %s (%s)", self.service, text, code)
        try:
            await self.write_event(Error(text=text, code=code).event())
        except (ConnectionError, RuntimeError):
            pass

    def working(self) -> bool:
        """True while this connection has a request in progress that may answer later (the client
        is then silent by right, so the idle timeout waits); handlers that answer in the background
        override it."""
        return False

    async def _next_event(self, idle_timeout: float | None) -> Event | None:
        """The next event; TimeoutError if the client stays silent for `idle_timeout` while we owe it nothing.

        The read runs as its own task that is never cancelled mid-frame while the client may still
        be talking, so a slow but live client loses nothing."""
        read = asyncio.ensure_future(async_read_event(self._guarded))  # type: ignore[arg-type]
        try:
            while True:
                done, _ = await asyncio.wait({read}, timeout=idle_timeout)
                if done:
                    return read.result()
                if not self.working():
                    raise TimeoutError
        finally:
            if not read.done():
                read.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await read

    async def run(self) -> None:
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            try:
                await self._serve()
            finally:
                tasks.cancel_scope.cancel()

    async def _serve(self) -> None:
        limit = self.limit
        if limit is not None and limit.open >= limit.limit:
            await self.send_error("busy", f"{self.service} has {limit.open} connections open, its limit")
            self.writer.close()
            return
        if limit is not None:
            limit.open += 1
        idle_timeout = limit.idle_timeout if limit is not None else None
        CONNECTIONS.labels(self.service).inc()
        try:
            while True:
                try:
                    event = await self._next_event(idle_timeout)
                except FrameError as err:
                    await self.send_error(err.code, err.text)
                    break
                except TimeoutError:
                    await self.send_error("timeout", f"no complete event for {idle_timeout:g} s: closing")
                    break
                if event is None:
                    break
                if not await self.handle_event(event):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            _LOGGER.debug("%s: client went away", self.service)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a bug in one connection must not take the server down
            _LOGGER.exception("%s: unexpected error", self.service)
            await self.send_error("internal-error", f"internal error: {type(err).__name__}")
        finally:
            CONNECTIONS.labels(self.service).dec()
            if limit is not None:
                limit.open -= 1
            try:
                await self.disconnect()
            finally:
                self.writer.close()


def event_data(event: Event, key: str, expected: type, default: Any = None) -> Any:
    """A data field of the expected type, or `default`: clients send all sorts of JSON."""
    value = event.data.get(key, default)
    return value if isinstance(value, expected) else default
