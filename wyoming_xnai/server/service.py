"""A Wyoming service as bootstrap runs it: what describe answers, the slow model load, the open connections."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from abc import ABC, abstractmethod
from typing import Any, Protocol

import anyio
from wyoming.info import Attribution, Info

from wyoming_xnai import __version__
from wyoming_xnai.server.limits import ConnectionLimit
from wyoming_xnai.server.logs import Throttle
from wyoming_xnai.server.metrics import MODEL_LOAD, MODEL_READY
from wyoming_xnai.settings import ServerSettings

_LOGGER = logging.getLogger(__name__)
XNAI = Attribution(name="xnai", url="")


def program_fields(name: str, description: str) -> dict[str, Any]:
    """The fields every xnai program in `info` shares (its attribution, version, installed)."""
    return {"name": name, "description": description, "attribution": XNAI, "installed": True, "version": __version__}


def model_fields(name: str, description: str, attribution: Attribution, languages: list[str]) -> dict[str, Any]:
    """The fields every model in `info` shares: a bundled or local model, installed, without a version."""
    return {
        "name": name,
        "description": description,
        "attribution": attribution,
        "installed": True,
        "version": None,
        "languages": languages,
    }


class ModelUnavailable(Exception):
    """The service's model failed to load; requests get an error event, describe still works."""


class Connection(Protocol):
    """One client connection's handler, as the service runs it and bootstrap stops it."""

    async def run(self) -> None: ...

    def shutdown(self, grace: float) -> None: ...


class Service(ABC):
    """A Wyoming service: its info, its (slow) model load and its per-connection handler."""

    name: str = "service"

    def __init__(self, settings: ServerSettings, uri: str) -> None:
        self.settings = settings
        self.uri = uri
        self.load_error: str | None = None
        self._ready: asyncio.Event | None = None
        self.connections = ConnectionLimit(settings.max_connections, settings.max_connections_per_peer)
        self.refusals_due = Throttle(10.0)  # a flood of clients over the caps is logged once in a while
        self.live: set[Connection] = set()  # the connections being served, told to finish on SIGTERM

    @abstractmethod
    def info(self) -> Info:
        """What describe answers; must not need the model, so it is ready before the model is."""

    @abstractmethod
    def load(self) -> None:
        """Load the model (blocking; runs in a worker thread)."""

    @abstractmethod
    def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Connection:
        """A new handler for one connection."""

    async def background(self) -> None:
        """Work of the service itself, not of one connection, for as long as it runs (none by default);
        bootstrap runs it beside the listeners and cancels it at shutdown."""
        return

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one accepted connection to its end."""
        connection = self.handler(reader, writer)
        self.live.add(connection)
        try:
            await connection.run()
        finally:
            self.live.discard(connection)

    def shutdown(self, grace: float) -> None:
        """Tell every open connection to finish what it is doing within `grace` seconds, then close."""
        for connection in list(self.live):
            connection.shutdown(grace)

    @property
    def ready(self) -> asyncio.Event:
        if self._ready is None:
            self._ready = asyncio.Event()
        return self._ready

    @property
    def model_name(self) -> str:
        return self.name

    async def wait_ready(self) -> None:
        await self.ready.wait()
        if self.load_error:
            raise ModelUnavailable(self.load_error)

    async def load_in_background(self) -> None:
        started = time.perf_counter()
        try:
            await anyio.to_thread.run_sync(self.load, abandon_on_cancel=True)
        except Exception as err:
            self.load_error = f"{self.name} model failed to load: {err}"
            _LOGGER.error("%s", self.load_error)
        else:
            elapsed = time.perf_counter() - started
            MODEL_LOAD.labels(self.name, self.model_name).set(elapsed)
            MODEL_READY.labels(self.name).set(1)
            _LOGGER.info("%s: model %s loaded in %.2f s", self.name, self.model_name, elapsed)
            # What starting and loading made lives as long as the process: frozen, the cyclic GC's
            # full collections, which stop the event loop mid-request, no longer walk it (~60 ms each).
            gc.collect()
            gc.freeze()
        finally:
            self.ready.set()
