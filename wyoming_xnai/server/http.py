"""A tiny HTTP endpoint for Prometheus (`/metrics`) and container health checks (`/healthz`).

Hand-rolled on asyncio streams so it lives in the same event loop as the services and needs no thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskStatus
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from wyoming_xnai.server.bootstrap import Service

_LOGGER = logging.getLogger(__name__)


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


async def _respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, services: Sequence[Service]) -> None:
    try:
        request = await asyncio.wait_for(reader.readline(), timeout=5)
        parts = request.decode("latin-1").split()
        path = parts[1].split("?")[0] if len(parts) >= 2 else ""
        while await asyncio.wait_for(reader.readline(), timeout=5) not in (b"\r\n", b"\n", b""):
            pass
        if path == "/metrics":
            status, body, ctype = 200, generate_latest(), CONTENT_TYPE_LATEST
        elif path == "/healthz":
            status, text = health(services)
            body, ctype = text.encode(), "text/plain; charset=utf-8"
        else:
            status, body, ctype = 404, b"not found\n", "text/plain; charset=utf-8"
        reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
    except (TimeoutError, ConnectionError, ValueError, IndexError):
        pass
    finally:
        writer.close()


async def serve_http(
    host: str,
    port: int,
    services: Sequence[Service],
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    server = await asyncio.start_server(lambda r, w: _respond(r, w, services), host=host, port=port)
    _LOGGER.info("metrics: http://%s:%s/metrics", host, port)
    task_status.started()
    async with server:
        await server.serve_forever()
