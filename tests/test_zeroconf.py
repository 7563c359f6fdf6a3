"""Zeroconf advertising on loopback, browsed the way Home Assistant discovers Wyoming services."""

from __future__ import annotations

import socket

import anyio
import pytest
from zeroconf import ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from tests.support import LOOPBACK, describe_sync
from wyoming_xnai.server.zeroconf import SERVICE_TYPE, advertised_host, instance_name

pytestmark = pytest.mark.anyio


async def browse(name: str, timeout: float = 20.0) -> AsyncServiceInfo:
    found = anyio.Event()
    names: list[str] = []

    def on_change(zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Added:
            names.append(name)
            found.set()

    aiozc = AsyncZeroconf(interfaces=[LOOPBACK])
    browser = AsyncServiceBrowser(aiozc.zeroconf, SERVICE_TYPE, handlers=[on_change])
    try:
        with anyio.fail_after(timeout):
            while f"{name}.{SERVICE_TYPE}" not in names:
                await found.wait()
                found = anyio.Event()
        info = AsyncServiceInfo(SERVICE_TYPE, f"{name}.{SERVICE_TYPE}")
        assert await info.async_request(aiozc.zeroconf, 3000)
        return info
    finally:
        await browser.async_cancel()
        await aiozc.async_close()


async def test_asr_is_discoverable_and_describable(start_server) -> None:
    server = start_server("asr", "--zeroconf", "xnai-test-asr", "--zeroconf-host", LOOPBACK)
    info = await browse("xnai-test-asr")
    assert info.port == server.port
    assert [socket.inet_ntoa(a) for a in info.addresses] == [LOOPBACK]
    # what HA does next: describe the discovered host/port
    described = describe_sync(info.port)
    assert described.asr[0].name == "xnai-asr"
    server.stop()
    assert "zeroconf: advertising xnai-test-asr at 127.0.0.1" in server.output()


def test_never_advertises_a_wildcard_address() -> None:
    assert advertised_host("0.0.0.0", None) != "0.0.0.0"
    assert advertised_host("0.0.0.0", "192.0.2.7") == "192.0.2.7"
    assert advertised_host("127.0.0.1", None) == "127.0.0.1"


def test_instance_names_differ_per_service() -> None:
    assert instance_name("kitchen", "asr", several=True) != instance_name("kitchen", "tts", several=True)
    assert instance_name("kitchen", "asr", several=False) == "kitchen"
    assert instance_name(None, "asr", several=False).endswith("-asr")
