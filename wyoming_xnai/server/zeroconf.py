"""Zeroconf advertising of `_wyoming._tcp.local.` with an address Home Assistant can actually reach."""

from __future__ import annotations

import logging
import socket

from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

SERVICE_TYPE = "_wyoming._tcp.local."
_LOGGER = logging.getLogger(__name__)


def lan_address() -> str:
    """The address this host uses towards the mDNS group: the one other LAN hosts can reach.

    A UDP connect sends nothing; it only asks the kernel which source address it would use.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("224.0.0.251", 5353))
            return sock.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def advertised_host(bind_host: str, zeroconf_host: str | None) -> str:
    """Never advertise a wildcard: `0.0.0.0` is what the reference servers get wrong."""
    if zeroconf_host:
        return zeroconf_host
    if bind_host not in ("", "0.0.0.0", "::"):
        return bind_host
    return lan_address()


def instance_name(name: str | None, service: str, several: bool) -> str:
    """HA keys entries on the instance name, so each service port needs its own."""
    base = name or f"xnai-{socket.gethostname()}"
    return f"{base}-{service}" if (several or not name) else base


class Advertiser:
    """Registers services on one interface and unregisters them on exit."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._zc = AsyncZeroconf(interfaces=[host])
        self._infos: list[AsyncServiceInfo] = []

    async def register(self, name: str, port: int) -> None:
        info = AsyncServiceInfo(
            SERVICE_TYPE,
            f"{name}.{SERVICE_TYPE}",
            addresses=[socket.inet_aton(self.host)],
            port=port,
            server=f"{socket.gethostname()}.local.",
        )
        await self._zc.async_register_service(info)
        self._infos.append(info)
        _LOGGER.info("zeroconf: advertising %s at %s:%s", name, self.host, port)

    async def close(self) -> None:
        for info in self._infos:
            try:
                await self._zc.async_unregister_service(info)
            except Exception:  # shutting down anyway; the TTL expires the record
                _LOGGER.debug("zeroconf: unregister failed", exc_info=True)
        await self._zc.async_close()
