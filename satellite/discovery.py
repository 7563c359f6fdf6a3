"""Which ASR, handle and TTS services exist and which of them are healthy.

Services come from `--asr-uri/--handle-uri/--tts-uri` or from zeroconf browsing of `_wyoming._tcp.local.`;
each is described to learn what it serves. A health loop describes every known service; a service that
fails (at a health check or mid-request) is retried with backoff, so one that was down at start or
restarts later comes back on its own. Requests try healthy services first, then the others.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Literal

import anyio
from anyio.abc import TaskStatus
from wyoming.info import Info
from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from wyoming_xnai.client.connection import describe
from wyoming_xnai.server.zeroconf import SERVICE_TYPE
from wyoming_xnai.settings import SatelliteSettings

_LOGGER = logging.getLogger(__name__)
Kind = Literal["asr", "handle", "tts"]
KINDS: tuple[Kind, ...] = ("asr", "handle", "tts")
DESCRIBE_TIMEOUT = 2.0
MAX_BACKOFF = 30.0


class NoService(Exception):
    """No instance of a service kind answered."""


@dataclass
class Endpoint:
    """One Wyoming service instance."""

    uri: str
    name: str
    kinds: set[str] = field(default_factory=set)
    static: bool = False
    healthy: bool = False
    failures: int = 0
    next_check: float = 0.0
    info: Info | None = None

    @property
    def tts_streaming(self) -> bool:
        if self.info is None:
            return False
        return any(p.installed and p.supports_synthesize_streaming for p in self.info.tts)


def served_kinds(info: Info) -> set[str]:
    if info.satellite is not None and info.satellite.installed:
        return set()  # another satellite (maybe ourselves): not a service to use
    kinds = set()
    for kind in KINDS:
        if any(program.installed for program in getattr(info, kind)):
            kinds.add(kind)
    return kinds


class Directory:
    """The satellite's view of the services it can use."""

    def __init__(self, settings: SatelliteSettings) -> None:
        self.settings = settings
        self.endpoints: dict[str, Endpoint] = {}
        self._changed = anyio.Event()
        self.static_kinds: set[str] = set()
        for kind, uris in (
            ("asr", settings.satellite_asr_uri),
            ("handle", settings.satellite_handle_uri),
            ("tts", settings.satellite_tts_uri),
        ):
            for uri in uris:
                endpoint = self.endpoints.setdefault(uri, Endpoint(uri=uri, name=uri, static=True))
                endpoint.kinds.add(kind)
                self.static_kinds.add(kind)
        self._found_send, self._found_recv = anyio.create_memory_object_stream[tuple[str, bool]](64)

    @property
    def browsing(self) -> bool:
        return self.settings.satellite_discover and self.static_kinds != set(KINDS)

    def candidates(self, kind: str) -> list[Endpoint]:
        """Instances to try, best first: healthy ones in the order they were given or found, then the rest."""
        found = [e for e in self.endpoints.values() if kind in e.kinds]
        return sorted(found, key=lambda e: (not e.healthy, e.failures))

    async def wait_for(self, kind: str, timeout: float) -> list[Endpoint]:
        """Candidates for `kind`, waiting up to `timeout` for the first one to be discovered."""
        with anyio.move_on_after(timeout):
            while not self.candidates(kind):
                changed = self._changed
                await changed.wait()
        found = self.candidates(kind)
        if not found:
            raise NoService(f"no {kind} service found (give --{kind}-uri or start one with --zeroconf)")
        return found

    def mark_failed(self, endpoint: Endpoint, reason: str) -> None:
        endpoint.failures += 1
        if endpoint.healthy or endpoint.failures == 1:
            _LOGGER.warning("%s %s failed: %s", "/".join(sorted(endpoint.kinds)), endpoint.uri, reason)
        endpoint.healthy = False
        endpoint.next_check = time.monotonic() + self._backoff(endpoint)

    def mark_ok(self, endpoint: Endpoint) -> None:
        if not endpoint.healthy:
            _LOGGER.info("%s %s is healthy", "/".join(sorted(endpoint.kinds)) or "service", endpoint.uri)
        endpoint.healthy = True
        endpoint.failures = 0

    def _backoff(self, endpoint: Endpoint) -> float:
        return min(MAX_BACKOFF, self.settings.satellite_health_interval * 2 ** max(0, endpoint.failures - 1))

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Health checks forever, and zeroconf browsing when some kind was not given by URI."""
        async with anyio.create_task_group() as tg:
            await self.check_all()
            if self.browsing:
                await tg.start(self._browse)
                tg.start_soon(self._resolve_found)
            task_status.started()
            while True:
                await anyio.sleep(min(1.0, self.settings.satellite_health_interval))
                await self.check_all(due_only=True)

    async def check_all(self, due_only: bool = False) -> None:
        now = time.monotonic()
        due = [e for e in self.endpoints.values() if not due_only or e.next_check <= now]
        async with anyio.create_task_group() as tg:
            for endpoint in due:
                tg.start_soon(self.check, endpoint)

    async def check(self, endpoint: Endpoint) -> None:
        try:
            info = await describe(endpoint.uri, DESCRIBE_TIMEOUT)
        except Exception as err:  # refused, timed out, garbage info: a bad service must not stop the satellite
            self.mark_failed(endpoint, f"describe failed: {type(err).__name__}: {err}")
            return
        endpoint.info = info
        if not endpoint.static:
            endpoint.kinds = served_kinds(info)
        endpoint.next_check = time.monotonic() + self.settings.satellite_health_interval
        self.mark_ok(endpoint)
        self._notify()

    # --- zeroconf ----------------------------------------------------------------------------
    async def _browse(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        interface = self.settings.satellite_discover_interface
        while True:
            try:
                aiozc = AsyncZeroconf(interfaces=[interface]) if interface else AsyncZeroconf()
                break
            except OSError as err:  # no multicast (some containers): keep the static URIs, try again later
                _LOGGER.error("zeroconf: cannot browse (%s); retrying in 30 s", err)
                task_status.started()
                task_status = anyio.TASK_STATUS_IGNORED
                await anyio.sleep(30)
        self._zc = aiozc

        def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
            try:
                self._found_send.send_nowait((name, state_change is not ServiceStateChange.Removed))
            except anyio.WouldBlock:
                _LOGGER.warning("zeroconf: too many changes at once; dropped %s", name)

        browser = AsyncServiceBrowser(aiozc.zeroconf, SERVICE_TYPE, handlers=[on_change])
        _LOGGER.info("zeroconf: browsing %s", SERVICE_TYPE)
        task_status.started()
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await browser.async_cancel()
                await aiozc.async_close()

    async def _resolve_found(self) -> None:
        prefixes = self.settings.satellite_discover_names
        async for name, present in self._found_recv:
            if prefixes and not any(name.startswith(prefix) for prefix in prefixes):
                continue
            if not present:
                self._forget(name)
                continue
            try:
                uri = await self._resolve(name)
            except Exception as err:  # a malformed record from some other device on the LAN
                _LOGGER.warning("zeroconf: cannot resolve %s: %s", name, err)
                continue
            if uri is None:
                continue
            self._forget(name, keep_uri=uri)
            endpoint = self.endpoints.get(uri)
            if endpoint is None:
                endpoint = self.endpoints[uri] = Endpoint(uri=uri, name=name)
            if endpoint.static:
                continue
            await self.check(endpoint)
            if endpoint.kinds:
                _LOGGER.info("zeroconf: found %s at %s serving %s", name, uri, ", ".join(sorted(endpoint.kinds)))

    async def _resolve(self, name: str) -> str | None:
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if not await info.async_request(self._zc.zeroconf, 3000):
            return None
        addresses = info.parsed_addresses(IPVersion.V4Only) or [
            socket.inet_ntoa(a) for a in info.addresses if len(a) == 4
        ]
        if not addresses or info.port is None:
            return None
        return f"tcp://{addresses[0]}:{info.port}"

    def _forget(self, name: str, keep_uri: str | None = None) -> None:
        for uri, endpoint in list(self.endpoints.items()):
            if endpoint.name == name and not endpoint.static and uri != keep_uri:
                _LOGGER.info("zeroconf: %s at %s is gone", name, uri)
                del self.endpoints[uri]
                self._notify()
