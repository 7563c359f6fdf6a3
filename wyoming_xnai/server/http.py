"""A tiny HTTP endpoint for Prometheus (`/metrics`) and container health checks (`/healthz`).

Hand-rolled on asyncio streams so it lives in the same event loop as the services and needs no thread.
It binds 127.0.0.1 unless told otherwise, takes at most `--metrics-max-connections` at once (the rest are
closed at once) and gives each request `--metrics-timeout` seconds from first byte to last: slow clients
cannot pile up connections and eat the process's file descriptors.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import anyio
from anyio.abc import TaskStatus
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wyoming_xnai.server.listen import Listener
from wyoming_xnai.server.service import Service
from wyoming_xnai.settings import MetricsSettings

_LOGGER = logging.getLogger(__name__)
MAX_HEADER_LINES = 100


def health(services: Sequence[Service]) -> tuple[int, str]:
    """200 when every model is loaded; 503 while loading or after a failed load."""
    lines, ok = [], True
    for svc in services:
        if svc.load_error:
            ok = False
            lines.append(f"{svc.name}: failed: {svc.load_error}")
        elif not svc.ready.is_set():
            ok = False
            lines.append(f"{svc.name}: loading")
        else:
            lines.append(f"{svc.name}: ok")
    return (200 if ok else 503), "\n".join(lines) + "\n"


class MetricsEndpoint:
    def __init__(self, settings: MetricsSettings, services: Sequence[Service]) -> None:
        self.settings = settings
        self.services = services
        self.open = 0
        self.listener = Listener(f"tcp://{settings.metrics_host}:{settings.metrics_port}", "metrics")

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        _LOGGER.info("metrics: http://%s:%s/metrics", self.settings.metrics_host, self.listener.port)
        task_status.started()
        await self.listener.serve(self._connection)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.open >= self.settings.metrics_max_connections:
            writer.transport.abort()
            return
        self.open += 1
        try:
            with anyio.move_on_after(self.settings.metrics_timeout):
                await self._respond(reader, writer)
        except (ConnectionError, ValueError, IndexError):
            pass
        finally:
            self.open -= 1
            if not writer.transport.is_closing():  # timed out or failed: drop it, nothing left to say
                writer.transport.abort()

    async def _respond(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readline()
        parts = request.decode("latin-1").split()
        path = parts[1].split("?")[0] if len(parts) >= 2 else ""
        for _ in range(MAX_HEADER_LINES):
            if await reader.readline() in (b"\r\n", b"\n", b""):
                break
        if path == "/metrics":
            status, body, ctype = 200, generate_latest(), CONTENT_TYPE_LATEST
        elif path == "/healthz":
            status, text = health(self.services)
            body, ctype = text.encode(), "text/plain; charset=utf-8"
        else:
            status, body, ctype = 404, b"not found\n", "text/plain; charset=utf-8"
        reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
        writer.close()
