"""The one way every service starts: bind, answer describe at once, load models in the background,
advertise, expose metrics, and stop cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from urllib.parse import urlparse

import anyio
from wyoming.info import Info
from wyoming.server import AsyncServer, AsyncTcpServer

from wyoming_xnai.errors import UserError
from wyoming_xnai.server.handler import ConnectionLimit, ServiceHandler
from wyoming_xnai.server.http import serve_http
from wyoming_xnai.server.logs import setup_logging
from wyoming_xnai.server.metrics import MODEL_LOAD, MODEL_READY
from wyoming_xnai.server.tracing import setup_tracing
from wyoming_xnai.server.zeroconf import Advertiser, advertised_host, instance_name
from wyoming_xnai.settings import Settings

_LOGGER = logging.getLogger(__name__)


class ModelUnavailable(Exception):
    """The service's model failed to load; requests get an error event, describe still works."""


class Service(ABC):
    """A Wyoming service: its info, its (slow) model load and its per-connection handler."""

    name: str = "service"

    def __init__(self, settings: Settings, uri: str) -> None:
        self.settings = settings
        self.uri = uri
        self.load_error: str | None = None
        self._ready: asyncio.Event | None = None
        self.connections = ConnectionLimit(settings.max_connections, settings.idle_timeout)

    @abstractmethod
    def info(self) -> Info:
        """What describe answers; must not need the model, so it is ready before the model is."""

    @abstractmethod
    def load(self) -> None:
        """Load the model (blocking; runs in a worker thread)."""

    @abstractmethod
    def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> ServiceHandler:
        """A new handler for one connection."""

    def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> ServiceHandler:
        """The handler factory the Wyoming server calls: one handler per connection, counted."""
        handler = self.handler(reader, writer)
        handler.limit = self.connections
        return handler

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
        finally:
            self.ready.set()


def bound_port(server: AsyncServer) -> int | None:
    if isinstance(server, AsyncTcpServer) and server._server is not None:
        return server._server.sockets[0].getsockname()[1]
    return None


async def _start(service: Service) -> AsyncServer:
    try:
        server = AsyncServer.from_uri(service.uri)
    except ValueError as err:
        raise UserError(f"{service.name}: bad --uri '{service.uri}': {err}") from None
    try:
        await server.start(service.accept)
    except OSError as err:
        raise UserError(f"{service.name}: cannot listen on {service.uri}: {err.strerror or err}") from None
    _LOGGER.info("%s: listening on %s", service.name, service.uri)
    return server


async def serve(services: Sequence[Service], settings: Settings) -> None:
    servers: list[AsyncServer] = []
    advertiser: Advertiser | None = None
    try:
        for service in services:
            servers.append(await _start(service))
        async with anyio.create_task_group() as tg:
            if settings.metrics_port is not None:
                await tg.start(serve_http, settings.metrics_host, settings.metrics_port, services)
            for service in services:
                tg.start_soon(service.load_in_background)
            if settings.zeroconf is not None:
                advertiser = await _advertise(services, servers, settings)
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    _LOGGER.info("received %s, stopping", signal.Signals(signum).name)
                    break
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            for server in servers:
                await server.stop()
            if advertiser is not None:
                await advertiser.close()


async def _advertise(services: Sequence[Service], servers: list[AsyncServer], settings: Settings) -> Advertiser | None:
    tcp = [(svc, srv) for svc, srv in zip(services, servers, strict=True) if bound_port(srv) is not None]
    if not tcp:
        _LOGGER.warning("zeroconf: only tcp:// services can be advertised")
        return None
    bind_host = urlparse(tcp[0][0].uri).hostname or ""
    advertiser = Advertiser(advertised_host(bind_host, settings.zeroconf_host))
    for svc, srv in tcp:
        port = bound_port(srv)
        assert port is not None
        await advertiser.register(instance_name(settings.zeroconf or None, svc.name, len(tcp) > 1), port)
    return advertiser


def run(services: Sequence[Service], settings: Settings) -> int:
    """Entry point for the service subcommands."""
    setup_logging(settings.debug, settings.log_format)
    provider = setup_tracing(settings.otlp_endpoint)
    try:
        anyio.run(serve, services, settings, backend="asyncio")
    except* UserError as group:
        raise group.exceptions[0] from None
    finally:
        if provider is not None:
            provider.shutdown()  # flush the last spans
    _exit_if_stuck()
    return 0


def _exit_if_stuck(grace: float = 2.0) -> None:
    """A model call that never returned (abandoned after a timeout) keeps its worker thread alive, and
    Python waits for every such thread before it exits: a stuck model must not stop SIGTERM working."""
    deadline = time.monotonic() + grace
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    for thread in others:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [t for t in others if t.is_alive()]
    if stuck:
        _LOGGER.warning("%d worker thread(s) still busy (a stuck model call): exiting without them", len(stuck))
        logging.shutdown()
        os._exit(0)
