"""Load and soak: concurrent clients on each service, and a few hundred sequential requests.

Concurrency: 8 clients back to back for a bounded time get no errors, the queue never holds more than
the other clients, and no more requests run at once than `--max-concurrent` allows (read from /metrics
while the load runs). Soak: after a warm-up, hundreds of mixed requests (good, empty, broken,
abandoned) leave resident memory and open file descriptors where they were.
"""

from __future__ import annotations

import os
import socket
import time

import anyio
import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient

from bench.load import run_load
from tests.support import (
    LOOPBACK,
    ServerProcess,
    describe_sync,
    exchange_bytes,
    free_port,
    open_fds,
    parse_frames,
    read_until,
    rss_mb,
    speech,
    transcribe,
    transcript_text,
    words,
)

CLIENTS = 8
LOAD_SECONDS = float(os.environ.get("XNAI_TEST_LOAD_SECONDS", "15"))
SOAK_REQUESTS = int(os.environ.get("XNAI_TEST_SOAK_REQUESTS", "300"))
PHRASE = "turn on the kitchen lights"


@pytest.fixture(scope="module")
def asr(module_servers) -> tuple[ServerProcess, int]:
    metrics_port = free_port()
    server = module_servers("asr", "--metrics-port", str(metrics_port), "--metrics-host", LOOPBACK)
    return server, metrics_port


def test_concurrent_clients_get_answers_and_queueing_stays_bounded(asr) -> None:
    server, metrics_port = asr
    result = anyio.run(run_load, "asr", server.uri, CLIENTS, LOAD_SECONDS, f"http://{LOOPBACK}:{metrics_port}/metrics")
    print("\n" + " | ".join(str(c) for c in result.row()))
    assert not result.errors, result.errors
    assert len(result.latencies) >= CLIENTS  # every client finished at least one request
    assert result.max_in_flight <= 1  # --max-concurrent 1 (the default)
    assert result.max_queue <= CLIENTS - 1  # the others wait; nothing piles up beyond them
    assert result.max_queue >= 1  # the poller did see the queue (the measurement works)


async def _abandon(uri: str) -> None:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=bytes(3200)).event())


async def _empty(uri: str) -> None:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        await client.write_event(AudioStop().event())
        events = await read_until(client, "transcript-stop")
    assert transcript_text(events) == ""


def one_of_each(server: ServerProcess, i: int) -> None:
    """Request `i` of the soak: every tenth is real speech, the rest exercise the other paths."""
    kind = i % 10 if i % 10 < 6 else i % 10 - 5
    if kind == 0:
        assert {"kitchen", "lights"} <= words(transcript_text(anyio.run(transcribe, server.uri, speech(PHRASE))))
    elif kind == 1:
        describe_sync(server.port, timeout=10)
    elif kind == 2:
        anyio.run(_empty, server.uri)
    elif kind == 3:
        bad = b'{"type": "audio-chunk", "data": {"rate": 16000, "width": 7, "channels": 1}, "payload_length": 7}\n'
        events = parse_frames(exchange_bytes(server.port, bad + bytes(7))[0])
        assert [e.data.get("code") for e in events] == ["bad-audio"]
    elif kind == 4:
        anyio.run(_abandon, server.uri)
    else:
        events = parse_frames(exchange_bytes(server.port, b"{not json\n")[0])
        assert [e.data.get("code") for e in events] == ["malformed-header"]


def settled_fds(pid: int) -> int:
    """Open fds once the server has closed the sockets of clients that just left."""
    time.sleep(0.5)
    return open_fds(pid)


def test_soak_sequential_requests_do_not_grow_memory_or_fds(asr) -> None:
    server, _ = asr
    pid = server.proc.pid
    for i in range(30):  # warm-up: first calls allocate caches and thread pools
        one_of_each(server, i)
    rss_before, fds_before = rss_mb(pid), settled_fds(pid)
    for i in range(SOAK_REQUESTS):
        one_of_each(server, i)
    rss_after, fds_after = rss_mb(pid), settled_fds(pid)
    print(
        f"\nsoak: {SOAK_REQUESTS} requests, RSS {rss_before:.1f} -> {rss_after:.1f} MiB, fds {fds_before} -> {fds_after}"
    )
    assert fds_after <= fds_before
    assert rss_after - rss_before < 16, f"RSS grew from {rss_before:.1f} to {rss_after:.1f} MiB"


def test_idle_and_half_open_connections_do_not_block_others(asr) -> None:
    """Clients that connect and then say nothing (or half a header) must not starve the rest."""
    server, _ = asr
    fds_before = settled_fds(server.proc.pid)
    idle = []
    try:
        for i in range(100):
            sock = socket.create_connection((LOOPBACK, server.port), timeout=10)
            if i % 2:
                sock.sendall(b'{"type": "audio-chu')  # a header that never ends
            idle.append(sock)
        events = anyio.run(transcribe, server.uri, speech(PHRASE))
        assert {"kitchen", "lights"} <= words(transcript_text(events))
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 10
    while settled_fds(server.proc.pid) > fds_before and time.monotonic() < deadline:
        pass
    assert open_fds(server.proc.pid) <= fds_before
