"""The event handler every service builds on: it guards the framing, bounds each connection in time and
answers `describe`.

wyoming's `async_read_event` reads a frame exactly as the protocol says, but it trusts the header:
it will read a payload of any announced size into memory, and it turns a malformed frame into a
silent EOF or an exception that kills the handler task. `GuardedReader` checks each header before
wyoming reads the rest, so a bad frame becomes a clear `error` event and closes only that connection.

Time limits, so no client can hold a slot from the others: a connection that sends no request event for
`--idle-timeout` is closed (pings and other no-op events do not count); a request/response service
(ASR, TTS, handle: Home Assistant opens one connection per request) closes any connection after
`--max-connection-seconds`; a client stream (audio, streamed text) has its own deadline; a client that
stops reading what we send is dropped after `--write-timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Iterable
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

import anyio
from anyio.abc import TaskGroup
from wyoming.error import Error
from wyoming.event import Event, async_read_event
from wyoming.info import Describe
from wyoming.server import AsyncEventHandler

from wyoming_xnai.server.encode import encode_all
from wyoming_xnai.server.listen import peer_host
from wyoming_xnai.server.memory import heap
from wyoming_xnai.server.metrics import CONNECTIONS, ERRORS
from wyoming_xnai.server.sanitize import MAX_DEPTH, clean_data, nesting
from wyoming_xnai.server.service import Service

_LOGGER = logging.getLogger(__name__)
Ending = tuple[str, str]  # (error code, text) a connection is closed with
CLOSE_LINGER = 1.0  # seconds a client closed with an error gets to read it and hang up


class ClientError(Exception):
    """Something a client sent that the server refuses: sent back as an `error` event with `code`."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


class FrameError(ClientError):
    """The client sent something that is not a valid Wyoming frame (the connection is closed)."""


class StreamDeadline(NamedTuple):
    what: str  # "the utterance's audio", "the streamed text"
    until: float  # anyio clock
    seconds: float


class ClientStalled(ConnectionError):
    """The client left what we sent unread for longer than the write timeout: it is dropped."""


def _json_object(raw: bytes, what: str) -> Any:
    try:
        value = json.loads(raw)
    except RecursionError:
        raise FrameError("bad-request", f"{what} is nested too deeply") from None
    except ValueError:
        raise FrameError(f"malformed-{what.split()[-1]}", f"{what} is not valid UTF-8 JSON") from None
    if not isinstance(value, dict):
        raise FrameError(f"malformed-{what.split()[-1]}", f"{what} must be a JSON object")
    if nesting(value) > MAX_DEPTH:
        raise FrameError("bad-request", f"{what} is nested deeper than {MAX_DEPTH} levels")
    return value


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
        header = _json_object(line, "event header")
        if not isinstance(header.get("type"), str):
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
            _json_object(block, "event data")
        return block


S = TypeVar("S", bound=Service)


class ServiceHandler(AsyncEventHandler, Generic[S]):
    """One client connection of service `svc`. Subclasses implement `handle` for their events."""

    # The event types that are this service's requests. Set: a request/response service, whose
    # connections live at most --max-connection-seconds and whose idle timer only these events reset.
    # None: a service that keeps one long connection (the Home Assistant satellite): every event counts.
    request_events: ClassVar[frozenset[str] | None] = None

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, svc: S) -> None:
        super().__init__(reader, writer)
        self.svc = svc
        self.settings = svc.settings
        self.service = svc.name  # the metrics label and log prefix
        self.info = svc.info()
        self.peer = peer_host(writer)
        self.stopping = False  # SIGTERM: finish the work at hand (TTS: the piece), start nothing new
        self._guarded = GuardedReader(reader, svc.settings.max_payload_bytes)
        self._tasks: TaskGroup | None = None
        self._scope = anyio.CancelScope()  # the whole connection; given a deadline on shutdown
        self._stop_reading = asyncio.Event()
        self._client_stream: StreamDeadline | None = None
        self._requests = 0  # request events handled: a connection that had some may leave free memory behind

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
        return await self.handle(Event(event.type, clean_data(event.data), event.payload))

    async def write_event(self, event: Event) -> None:
        """Send one event. A client that leaves it unread for --write-timeout is dropped (ClientStalled),
        and what was buffered for it is freed at once."""
        await self.write_events((event,))

    async def write_events(self, events: Iterable[Event]) -> None:
        """Send events in one write (a piece's audio chunks), with the same --write-timeout rule."""
        if self.writer.transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        self.writer.write(encode_all(events))
        with anyio.move_on_after(self.settings.write_timeout) as scope:
            await self.writer.drain()
        if scope.cancelled_caught:
            self.writer.transport.abort()
            raise ClientStalled(f"the client read nothing for {self.settings.write_timeout:g} s")

    async def send_error(self, code: str, text: str, log: int | None = 0) -> None:
        """Tell the client what went wrong; a client that already left is not an error of ours.
        `log`: None leaves it out of the log; N > 0 says that N more were left out before it."""
        ERRORS.labels(self.service, code).inc()
        if log is not None:
            _LOGGER.info("%s: %s (%s)%s", self.service, text, code, f"; {log} more not logged" if log else "")
        try:
            await self.write_event(Error(text=text, code=code).event())
        except (ConnectionError, RuntimeError):
            pass

    def working(self) -> bool:
        """True while this connection has a request in progress that may answer later (the client
        is then silent by right, so the idle timeout waits); handlers that answer in the background
        override it."""
        return False

    def open_stream(self, what: str, seconds: float) -> None:
        """A client stream (an utterance's audio, a streamed text) began: it must end within `seconds`,
        or the connection is closed with a `timeout` error."""
        if self._client_stream is None:
            self._client_stream = StreamDeadline(what, anyio.current_time() + seconds, seconds)

    def close_stream(self) -> None:
        self._client_stream = None

    def shutdown(self, grace: float) -> None:
        """SIGTERM: read no more; the work in progress gets `grace` seconds, then the client is told."""
        self.stopping = True
        self._stop_reading.set()
        self._scope.deadline = min(self._scope.deadline, anyio.current_time() + grace)

    # --- the connection ----------------------------------------------------------------------

    async def run(self) -> None:
        limits = self.svc.connections
        refusal = limits.admit(self.peer)
        if refusal is not None:
            await self.send_error("busy", f"{self.service} has {refusal}", log=self.svc.refusals_due.due())
            await self._close_told()
            return
        CONNECTIONS.labels(self.service).inc()
        lifetime = self.settings.max_connection_seconds
        if self.request_events is not None:
            self._scope.deadline = min(self._scope.deadline, anyio.current_time() + lifetime)
        ending: Ending | None = None
        try:
            with self._scope:  # its deadline ends the work in progress too (TTS closes its audio block)
                async with anyio.create_task_group() as tasks:
                    self._tasks = tasks
                    ending = await self._serve()
                    if not self.stopping:
                        tasks.cancel_scope.cancel()  # the client is done or gone: so is its work
            if self.stopping:
                ending = ("shutting-down", f"{self.service} is shutting down")
            elif self._scope.cancelled_caught:
                ending = ("timeout", f"connection open for {lifetime:g} s, the limit")
            if ending is not None:
                with anyio.move_on_after(1, shield=True):
                    await self.send_error(*ending)
        finally:
            try:
                await self.disconnect()
            finally:
                if ending is None:
                    self.writer.close()
                else:  # the slot stays taken while the client reads why
                    with anyio.CancelScope(shield=True):
                        await self._close_told()
                CONNECTIONS.labels(self.service).dec()
                limits.release(self.peer)
        if self._requests and self.request_events is not None:
            await heap.after_request()  # the client has all it gets: give what the request freed back

    async def _close_told(self) -> None:
        """Close a connection we ended with an error so that the client can read why: closing with its
        events still unread would reset the connection, and a reset throws away the error just sent."""
        with contextlib.suppress(OSError, RuntimeError):
            self.writer.write_eof()
            with anyio.move_on_after(CLOSE_LINGER):
                while await self.reader.read(65536):
                    pass
        self.writer.transport.abort()

    async def _serve(self) -> Ending | None:
        """Handle events until the client is done; returns the error to close the connection with."""
        try:
            return await self._read_loop()
        except FrameError as err:
            return err.code, err.text
        except (ConnectionError, asyncio.IncompleteReadError):
            _LOGGER.debug("%s: client went away", self.service)
        except Exception as err:  # a bug in one connection must not take the server down
            _LOGGER.exception("%s: unexpected error", self.service)
            return "internal-error", f"internal error: {type(err).__name__}"
        return None

    async def _read_loop(self) -> Ending | None:
        idle_timeout = self.settings.idle_timeout
        idle_end = anyio.current_time() + idle_timeout
        read: asyncio.Future[Event | None] | None = None
        stop = asyncio.ensure_future(self._stop_reading.wait())
        try:
            while not self.stopping:
                now = anyio.current_time()
                stream = self._client_stream
                if stream is not None and now >= stream.until:
                    return "timeout", f"{stream.what} took longer than {stream.seconds:g} s"
                if now >= idle_end:
                    if not self.working():
                        return "timeout", f"no request for {idle_timeout:g} s: closing"
                    idle_end = now + idle_timeout  # silent by right: we owe it an answer
                if read is None:  # one read per event, never cancelled mid-frame while the client talks
                    read = asyncio.ensure_future(async_read_event(self._guarded))  # type: ignore[arg-type]
                until = min(idle_end, stream.until if stream is not None else math.inf)
                await asyncio.wait({read, stop}, timeout=max(until - now, 0), return_when=asyncio.FIRST_COMPLETED)
                if not read.done():
                    continue
                event, read = read.result(), None
                if event is None:
                    return None
                request = self.request_events is None or event.type in self.request_events
                self._requests += request
                if not await self.handle_event(event):
                    return None
                if request:  # the idle time starts once the request is handled (a synthesis may take minutes)
                    idle_end = anyio.current_time() + idle_timeout
            return None
        finally:
            for future in (read, stop):
                if future is not None and not future.done():
                    future.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await future


def event_data(event: Event, key: str, expected: type, default: Any = None) -> Any:
    """A data field of the expected type, or `default`: clients send all sorts of JSON."""
    value = event.data.get(key, default)
    return value if isinstance(value, expected) else default
