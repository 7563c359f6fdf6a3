"""Listening sockets and their accept loop, for the Wyoming ports and the metrics endpoint.

asyncio's own accept loop (Python 3.11) meets a full file-descriptor table by logging the error and
scheduling a retry for every connection still in the backlog, in one loop tick: a few hundred idle
connections then flood the log with megabytes a second. This loop waits instead (0.05 s, doubling to
1 s) and says so once every `REPORT_SECONDS`. Connections run as tasks of the listener's task group, so
none outlives the server.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlparse

import anyio

from wyoming_xnai.errors import UserError
from wyoming_xnai.server.logs import Throttle

_LOGGER = logging.getLogger(__name__)
OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
REPORT_SECONDS = 10.0
BACKLOG = 128

Accept = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def peer_host(writer: asyncio.StreamWriter) -> str | None:
    """The client's address (None for a local unix socket, which has none)."""
    peername = writer.get_extra_info("peername")
    if isinstance(peername, tuple) and peername:
        return str(peername[0])
    return None


class Listener:
    """One bound socket (`tcp://HOST:PORT` or `unix:///path`) that serves each connection with `accept`."""

    def __init__(self, uri: str, what: str) -> None:
        self.uri = uri
        self.what = what  # who listens, for messages
        self._sock = _bind(uri, what)
        self._path = Path(urlparse(uri).path) if self._sock.family == socket.AF_UNIX else None
        self._accepting = anyio.CancelScope()
        self._report_due = Throttle(REPORT_SECONDS)

    @property
    def port(self) -> int | None:
        """The bound TCP port (the one the OS chose for port 0); None for a unix socket."""
        if self._sock.family == socket.AF_UNIX:
            return None
        return self._sock.getsockname()[1]

    async def serve(self, accept: Accept) -> None:
        """Accept connections until `close()`, then wait for the open ones to end."""
        loop = asyncio.get_running_loop()
        try:
            async with anyio.create_task_group() as connections:
                with self._accepting:
                    backoff = 0.0
                    while True:
                        try:
                            conn, _ = await loop.sock_accept(self._sock)
                        except OSError as err:
                            if err.errno not in OUT_OF_RESOURCES:
                                raise
                            backoff = min(max(backoff * 2, 0.05), 1.0)
                            self._report(err, backoff)
                            await anyio.sleep(backoff)
                            continue
                        backoff = 0.0
                        connections.start_soon(self._connection, conn, accept)
        finally:
            self._sock.close()
            if self._path is not None:
                self._path.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop accepting; the connections already open go on until they end."""
        self._accepting.cancel()

    async def _connection(self, conn: socket.socket, accept: Accept) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=conn)
        except OSError:
            conn.close()
            return
        try:
            await accept(reader, writer)
        except Exception:  # a bug in one connection must not take the listener down
            _LOGGER.exception("%s: a connection failed", self.what)
            writer.close()

    def _report(self, err: OSError, backoff: float) -> None:
        held = self._report_due.due()
        if held is not None:
            _LOGGER.warning(
                "%s: cannot accept connections (%s; %d more times since the last report): waiting %.2f s between tries",
                self.what, os.strerror(err.errno or 0), held, backoff,
            )  # fmt: skip


def _bind(uri: str, what: str) -> socket.socket:
    parsed = urlparse(uri)
    try:
        if parsed.scheme == "tcp":
            if not parsed.hostname or parsed.port is None:
                raise ValueError("a tcp:// URI needs a host and a port")
            family = socket.AF_INET6 if ":" in parsed.hostname else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            address: str | tuple[str, int] = (parsed.hostname, parsed.port)
        elif parsed.scheme == "unix":
            if not parsed.path:
                raise ValueError("a unix:// URI needs a path")
            Path(parsed.path).unlink(missing_ok=True)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address = parsed.path
        else:
            raise ValueError("only tcp:// and unix:// are supported")
    except ValueError as err:
        raise UserError(f"{what}: bad --uri '{uri}': {err}") from None
    try:
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as err:
        sock.close()
        raise UserError(f"{what}: cannot listen on {uri}: {err.strerror or err}") from None
    sock.setblocking(False)
    return sock
