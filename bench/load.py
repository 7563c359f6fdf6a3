"""Load: N concurrent clients per service for a bounded time; latency percentiles, errors, queueing.

Each client sends one realistic request after another (ASR: an espeak-ng utterance; TTS: a sentence;
handle: a question) until time is up. While they run, /metrics is polled for the deepest queue and
the most requests in flight, so "bounded queueing" is measured, not assumed. Only services that exist
in this checkout are run.

    uv run python -m bench.load [--quick] [--clients 8] [--seconds 30] [--services asr,tts,handle]
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from wyoming.client import AsyncClient
from wyoming.event import Event

from bench.support import LOOPBACK, Server, free_port, load_average, median, percentile, server_env, speech, table

UTTERANCES = ["turn on the kitchen lights", "what is the weather like tomorrow", "set a timer for ten minutes"]
SENTENCES = ["The kitchen lights are on.", "It will be sunny tomorrow, with a light breeze from the west."]
QUESTIONS = ["Which day is the bin collection?", "What is the router admin password?", "Where is the spare house key?"]


class RequestFailed(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


async def _read_until(client: AsyncClient, done: set[str]) -> list[Event]:
    events = []
    while True:
        event = await client.read_event()
        if event is None:
            raise RequestFailed("closed")
        events.append(event)
        if event.type == "error":
            raise RequestFailed(str(event.data.get("code", "error")))
        if event.type in done:
            return events


async def asr_request(uri: str, i: int) -> None:
    from wyoming.asr import Transcribe
    from wyoming.audio import AudioChunk, AudioStart, AudioStop

    pcm = speech(UTTERANCES[i % len(UTTERANCES)])
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        for at in range(0, len(pcm), 2048):
            await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=pcm[at : at + 2048]).event())
        await client.write_event(AudioStop().event())
        events = await _read_until(client, {"transcript"})
    if not events[-1].data.get("text"):
        raise RequestFailed("empty-transcript")


async def tts_request(uri: str, i: int) -> None:
    from wyoming.tts import Synthesize

    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Synthesize(text=SENTENCES[i % len(SENTENCES)]).event())
        events = await _read_until(client, {"audio-stop"})
    if not any(e.type == "audio-chunk" and e.payload for e in events):
        raise RequestFailed("no-audio")


async def handle_request(uri: str, i: int) -> None:
    from wyoming.asr import Transcript

    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Transcript(text=QUESTIONS[i % len(QUESTIONS)], language="en").event())
        events = await _read_until(client, {"handled", "not-handled"})
    if events[-1].type != "handled" or not events[-1].data.get("text"):
        raise RequestFailed(events[-1].type)


REQUESTS: dict[str, Callable[[str, int], Awaitable[None]]] = {
    "asr": asr_request,
    "tts": tts_request,
    "handle": handle_request,
}


def available() -> list[str]:
    """The services this checkout has (TTS and handle may not be merged yet)."""
    return [name for name in REQUESTS if importlib.util.find_spec(f"wyoming_xnai.{name}") is not None]


@dataclass
class LoadResult:
    service: str
    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    max_queue: float = 0.0
    max_in_flight: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies) + sum(self.errors.values())

    def row(self) -> list[object]:
        ms = [v * 1000 for v in self.latencies]
        return [
            self.service, self.clients, f"{self.seconds:.0f}", self.requests,
            ", ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) or "0",
            f"{median(ms):.0f}", f"{percentile(ms, 95):.0f}", f"{max(ms, default=float('nan')):.0f}",
            f"{len(self.latencies) / self.seconds:.2f}", f"{self.max_queue:.0f}", f"{self.max_in_flight:.0f}",
        ]  # fmt: skip


HEADER = ["service", "clients", "s", "requests", "errors", "p50 ms", "p95 ms", "max ms", "req/s", "max queue",
          "max in flight"]  # fmt: skip


def gauge(body: str, name: str, service: str) -> float:
    match = re.search(rf'^{name}\{{service="{service}"\}} (\S+)$', body, re.M)
    return float(match[1]) if match else 0.0


async def run_load(service: str, uri: str, clients: int, seconds: float, metrics_url: str | None = None) -> LoadResult:
    """`clients` clients send requests back to back until `seconds` have passed (the last ones finish)."""
    result = LoadResult(service, clients, seconds)
    request = REQUESTS[service]
    started_all = time.monotonic()
    deadline = started_all + seconds

    async def client(n: int) -> None:
        i = n
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                await request(uri, i)
            except RequestFailed as err:
                result.errors[err.code] += 1
            except OSError as err:
                result.errors[type(err).__name__] += 1
            else:
                result.latencies.append(time.perf_counter() - started)
            i += clients

    async def watch() -> None:
        while True:
            try:
                body = await anyio.to_thread.run_sync(_fetch, metrics_url)
            except OSError:
                body = ""
            result.max_queue = max(result.max_queue, gauge(body, "xnai_queue_depth", service))
            result.max_in_flight = max(result.max_in_flight, gauge(body, "xnai_in_flight", service))
            await anyio.sleep(0.1)

    async with anyio.create_task_group() as tg:
        if metrics_url:
            tg.start_soon(watch)
        async with anyio.create_task_group() as workers:
            for n in range(clients):
                workers.start_soon(client, n)
        tg.cancel_scope.cancel()
    result.seconds = time.monotonic() - started_all  # the last requests end after the deadline
    return result


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def documents_indexed() -> Path:
    """A data dir with the test documents indexed, so handle answers the way it does at home."""
    data = Path(tempfile.mkdtemp(prefix="xnai-bench-handle-"))
    docs = Path(__file__).resolve().parent.parent / "tests" / "data" / "docs"
    subprocess.run([sys.executable, "-m", "wyoming_xnai", "ingest", str(docs)], env=server_env(data), check=True,
                   capture_output=True)  # fmt: skip
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 s per service")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--services", default=",".join(available()), help="comma-separated (default: all present)")
    args = parser.parse_args(argv)
    seconds = 10.0 if args.quick else args.seconds
    rows, notes = [], []
    for service in [s for s in args.services.split(",") if s]:
        metrics_port = free_port()
        extra = ["--data-dir", str(documents_indexed())] if service == "handle" else []
        with Server.xnai(service, "--metrics-port", str(metrics_port), "--metrics-host", LOOPBACK, *extra) as server:
            server.wait()
            anyio.run(REQUESTS[service], server.uri, 0)  # warm-up (and proof the service works)
            rss, fds = server.rss_mb(), server.open_fds()
            result = anyio.run(
                run_load, service, server.uri, args.clients, seconds, f"http://{LOOPBACK}:{metrics_port}/metrics"
            )
            rows.append(result.row())
            notes.append(
                f"{service}: RSS {rss:.0f} -> {server.rss_mb():.0f} MiB, open fds {fds} -> {server.open_fds()}"
            )
    print(f"{args.clients} concurrent clients per service, back-to-back requests for {seconds:.0f} s; "
          "latency = whole request (connect to final event)")  # fmt: skip
    print()
    print(table(HEADER, rows))
    print()
    for note in notes:
        print(note)
    print(f"machine: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
