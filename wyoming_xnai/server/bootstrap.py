"""The one way every service starts: bind, answer describe at once, load models in the background, run
each service's own background work (`Service.background`), advertise, expose metrics, and stop cleanly
on SIGTERM/SIGINT (open requests get `--shutdown-grace` seconds to finish, then an error event, before
their connections close)."""

from __future__ import annotations

import logging
import os
import resource
import signal
import threading
import time
from collections.abc import Sequence
from urllib.parse import urlparse

import anyio

from wyoming_xnai.errors import UserError
from wyoming_xnai.server.http import MetricsEndpoint
from wyoming_xnai.server.listen import Listener
from wyoming_xnai.server.logs import setup_logging
from wyoming_xnai.server.service import ModelUnavailable, Service
from wyoming_xnai.server.tracing import setup_tracing
from wyoming_xnai.server.zeroconf import Advertiser, advertised_host, instance_name
from wyoming_xnai.settings import ServerSettings

__all__ = ["ModelUnavailable", "Service", "run", "serve"]

_LOGGER = logging.getLogger(__name__)
FD_LIMIT_WITHOUT_HARD_LIMIT = 1 << 20


def raise_fd_limit() -> None:
    """Raise the soft limit on open files to the hard one: the usual soft 1024 is a few hundred idle
    clients away from refusing Home Assistant, and the hard limit is there to be used."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = FD_LIMIT_WITHOUT_HARD_LIMIT if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as err:
            _LOGGER.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, err)


async def serve(services: Sequence[Service], settings: ServerSettings) -> None:
    raise_fd_limit()
    listeners = [Listener(service.uri, service.name) for service in services]
    metrics = MetricsEndpoint(settings, services) if settings.metrics_port is not None else None
    advertiser: Advertiser | None = None
    try:
        async with anyio.create_task_group() as background:
            async with anyio.create_task_group() as wyoming:
                for service, listener in zip(services, listeners, strict=True):
                    wyoming.start_soon(listener.serve, service.serve_connection)
                    _LOGGER.info("%s: listening on %s", service.name, service.uri)
                if metrics is not None:
                    await background.start(metrics.serve)
                for service in services:
                    background.start_soon(service.load_in_background)
                    background.start_soon(service.background)
                if settings.zeroconf is not None:
                    advertiser = await _advertise(services, listeners, settings)
                await _wait_for_signal()
                for listener in listeners:
                    listener.close()
                for service in services:
                    service.shutdown(settings.shutdown_grace)
                # every connection ends within the grace; the margin covers their last error events
                wyoming.cancel_scope.deadline = anyio.current_time() + settings.shutdown_grace + 2
            background.cancel_scope.cancel()
    finally:
        if advertiser is not None:
            with anyio.CancelScope(shield=True):
                await advertiser.close()


async def _wait_for_signal() -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            _LOGGER.info("received %s, stopping", signal.Signals(signum).name)
            return


async def _advertise(services: Sequence[Service], listeners: list[Listener], settings: ServerSettings) -> Advertiser | None:
    tcp = [(svc, listener.port) for svc, listener in zip(services, listeners, strict=True) if listener.port]
    if not tcp:
        _LOGGER.warning("zeroconf: only tcp:// services can be advertised")
        return None
    bind_host = urlparse(tcp[0][0].uri).hostname or ""
    advertiser = Advertiser(advertised_host(bind_host, settings.zeroconf_host))
    for svc, port in tcp:
        assert port is not None
        await advertiser.register(instance_name(settings.zeroconf or None, svc.name, len(tcp) > 1), port)
    return advertiser


def run(services: Sequence[Service], settings: ServerSettings) -> int:
    """Entry point for the service subcommands."""
    setup_logging(settings.debug, settings.log_format, settings.log_text)
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
