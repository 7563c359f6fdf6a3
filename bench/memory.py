"""Resident memory of `xnai serve` before and after large legitimate requests (issue 14, finding 7).

One process runs ASR, TTS and handle on the bundled models and the test documents. After one ordinary
request on each service (the models warm), it gets, one after the other: a 20,000-character text to
speak, a markup-heavy text of the same size, and a 10-minute utterance (the ASR keeps its first
`--max-seconds`). RSS is read from /proc after each, and the peak during each (VmHWM, restarted before
each step through /proc/PID/clear_refs).

    uv run python -m bench.memory [--python PATH] [--serve-arg=--max-connection-seconds --serve-arg=3600]

`--python` runs another checkout's interpreter (its venv), e.g. main's, to compare before and after. On
a loaded box the 20,000 characters take longer than the default connection life (300 s): raise it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import anyio
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.tts import Synthesize

from bench.support import DOCS, LOOPBACK, Server, free_port, read_until, server_env, speech

SENTENCE = "The boiler was serviced in March, and the next visit is due before the winter. "
MARKUP = '<div class="note"><p><b>Bins</b> go out on <i>Thursday</i>; <a href="https://example.com/x?y=1">see</a></p></div>\n'


def status(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


async def speak(uri: str, text: str) -> int:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Synthesize(text=text).event())
        audio = 0
        with anyio.fail_after(1800):
            while (event := await client.read_event()) is not None and event.type not in ("audio-stop", "error"):
                audio += len(event.payload or b"")
    return audio


async def utterance(uri: str, seconds: float) -> str:
    """`seconds` of speech and pauses, streamed in 100 ms chunks as fast as the server takes them."""
    phrase = speech("turn on the kitchen lights and close the garage door")
    pcm = (phrase + bytes(16000)) * int(seconds * 32000 / (len(phrase) + 16000) + 1)
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        for i in range(0, int(seconds * 32000), 3200):
            await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=pcm[i : i + 3200]).event())
        await client.write_event(AudioStop().event())
        events = await read_until(client, "transcript", timeout=1800)
    return events[-1].type


async def ask(uri: str, text: str) -> str:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Transcript(text=text).event())
        return (await read_until(client, "handled", timeout=600))[-1].type


def settled_rss(pid: int, timeout: float = 15.0) -> float:
    """RSS once it has not fallen for 2 s: the heap is trimmed after the request's connection closed."""
    deadline = time.monotonic() + timeout
    lowest, steady = status(pid, "VmRSS"), 0
    while steady < 4 and time.monotonic() < deadline:
        time.sleep(0.5)
        now = status(pid, "VmRSS")
        steady = steady + 1 if now >= lowest else 0
        lowest = min(lowest, now)
    return lowest


def wait_ready(server: Server, timeout: float = 600) -> None:
    """Until all three models are loaded (the log says so), so no request waits for a load."""
    deadline = time.monotonic() + timeout
    while server.log.read_text(errors="replace").count("loaded in") < 3:
        if time.monotonic() > deadline:
            raise RuntimeError("models did not load")
        time.sleep(0.5)


def run(python: str, work: Path, extra: list[str]) -> list[tuple[str, float, float]]:
    env = server_env(work / "data")
    subprocess.run([python, "-m", "wyoming_xnai", "ingest", str(DOCS)], env=env, check=True, capture_output=True)
    ports = {"tts": free_port(), "handle": free_port()}
    server = Server(
        [python, "-m", "wyoming_xnai", "serve", "--asr-uri", "{uri}", "--tts-uri", f"tcp://{LOOPBACK}:{ports['tts']}",
         "--handle-uri", f"tcp://{LOOPBACK}:{ports['handle']}", "--handle-llm-timeout", "300", *extra],
        "xnai-serve", env=env,
    )  # fmt: skip
    uri = {"asr": server.uri} | {name: f"tcp://{LOOPBACK}:{port}" for name, port in ports.items()}
    pid = server.proc.pid
    rows = []

    def step(what: str, request) -> None:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM restarts from the current RSS
        request()
        rows.append((what, settled_rss(pid), status(pid, "VmHWM")))

    try:
        server.wait(300)
        wait_ready(server)
        step("one ordinary request on each service", lambda: (
            anyio.run(utterance, uri["asr"], 3),
            anyio.run(speak, uri["tts"], "The kitchen lights are on."),
            anyio.run(ask, uri["handle"], "Which day is the bin collection?"),
        ))  # fmt: skip
        step("a 20,000-character text", lambda: anyio.run(speak, uri["tts"], (SENTENCE * 300)[:20_000]))
        step("a markup-heavy text", lambda: anyio.run(speak, uri["tts"], (MARKUP * 200)[:20_000]))
        step("a 10-minute utterance", lambda: anyio.run(utterance, uri["asr"], 600))
    finally:
        server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter of the checkout to measure")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a new temp dir)")
    parser.add_argument(
        "--serve-arg", action="append", default=[], help="extra `xnai serve` flag (repeatable), e.g. --serve-arg=--x"
    )
    args = parser.parse_args()
    import tempfile

    work = args.work or Path(tempfile.mkdtemp(prefix="xnai-bench-memory-"))
    rows = run(args.python, work, args.serve_arg)
    print(f"\n{args.python}\n\n| after | RSS MiB | peak during it MiB |\n|---|---:|---:|")
    for what, rss, peak in rows:
        print(f"| {what} | {rss:.0f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
