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
from wyoming_xnai.settings import Settings

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
        for i in range(Settings().max_connections - 1):  # all the slots but one
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


def test_connections_beyond_the_cap_are_refused_so_memory_stays_bounded(start_server) -> None:
    """Each connection may buffer one capped payload; the connection cap bounds how many do at once."""
    server = start_server("asr", "--max-connections", "8", "--max-payload-bytes", str(1 << 20))
    rss_before = rss_mb(server.proc.pid)
    header = b'{"type": "audio-chunk", "data": {"rate": 16000, "width": 2, "channels": 1}, "payload_length": %d}\n'
    hogs = []
    try:
        for _ in range(8):  # each sends all but the last byte of a 1 MiB payload, then waits
            sock = socket.create_connection((LOOPBACK, server.port), timeout=10)
            sock.sendall(header % (1 << 20) + bytes((1 << 20) - 1))
            hogs.append(sock)
        time.sleep(0.5)
        for _ in range(20):  # the rest are turned away without buffering anything
            received, _ = exchange_bytes(server.port, header % (1 << 20) + bytes((1 << 20) - 1))
            assert [e.data.get("code") for e in parse_frames(received)] == ["busy"]
        grown = rss_mb(server.proc.pid) - rss_before
        assert grown < 8 + 24, f"RSS grew by {grown:.1f} MiB with 8 connections holding 1 MiB each"
    finally:
        for sock in hogs:
            sock.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the slots come back once the hogs are gone
        try:
            describe_sync(server.port, timeout=5)
            break
        except ConnectionError:
            time.sleep(0.2)
    else:
        pytest.fail("the server did not accept connections again after the hogs left")


def test_silent_connections_are_closed_after_the_idle_timeout(start_server) -> None:
    server = start_server("asr", "--idle-timeout", "1")
    with socket.create_connection((LOOPBACK, server.port), timeout=30) as sock:
        sock.sendall(b'{"type": "audio-chunk", "payload_length": 100}\n' + bytes(10))  # then nothing
        received = b""
        while chunk := sock.recv(65536):  # the server closes: recv returns b""
            received += chunk
    assert [e.data.get("code") for e in parse_frames(received)] == ["timeout"]
    # a client that keeps talking is not cut off, however long the whole request takes
    pcm = speech(PHRASE)
    assert {"kitchen", "lights"} <= words(transcript_text(anyio.run(_slow_transcribe, server.uri, pcm)))


async def _slow_transcribe(uri: str, pcm: bytes) -> list:
    """Real-time pace: one 64 ms chunk every 64 ms, 2 s in all, longer than the 1 s idle timeout."""
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        for at in range(0, len(pcm), 2048):
            await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=pcm[at : at + 2048]).event())
            await anyio.sleep(0.064)
        await client.write_event(AudioStop().event())
        return await read_until(client, "transcript-stop")
