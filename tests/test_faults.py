"""Fault injection: a model call that raises ends in a clear error for that request, never a hung client,
and the server serves normally once the fault clears.

Faults that can be caused for real are (a model file that fails to load: test_asr.py); a model call
that raises mid-request cannot, so tests/faults/sitecustomize.py injects it into the server process.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from tests.support import LOOPBACK, ServerProcess, free_port, speech, transcribe, transcript_text, words

FAULTS = Path(__file__).parent / "faults"
PHRASE = "turn on the kitchen lights"


def fault_env(switch: Path, *faults: str) -> dict[str, str]:
    """Environment that loads the fault injector into a server process."""
    path = os.pathsep.join(filter(None, [str(FAULTS), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path, "XNAI_TEST_FAULTS": ";".join(faults), "XNAI_TEST_FAULT_SWITCH": str(switch)}


def metric(body: str, line_start: str) -> float:
    return next(float(line.split()[-1]) for line in body.splitlines() if line.startswith(line_start))


def fetch_metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=10) as response:
        return response.read().decode()


async def at_once(n: int, request: Callable[[], Awaitable[object]]) -> list:
    """Run `n` copies of a request concurrently; their results in completion order."""
    results: list = []

    async def one() -> None:
        results.append(await request())

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
    return results


@pytest.fixture
def switch(tmp_path: Path) -> Path:
    return tmp_path / "fault-on"


def test_asr_model_that_raises_mid_request(start_server, switch: Path) -> None:
    metrics_port = free_port()
    server: ServerProcess = start_server(
        "asr", "--metrics-port", str(metrics_port), "--metrics-host", LOOPBACK,
        env=fault_env(switch, "faster_whisper:WhisperModel.transcribe=raise"),
    )  # fmt: skip
    pcm = speech(PHRASE)
    switch.touch()
    # several at once: each one fails on its own, none hangs
    outcomes = [events[-1] for events in anyio.run(at_once, 3, lambda: transcribe(server.uri, pcm))]
    assert [e.type for e in outcomes] == ["error"] * 3
    assert all(e.data.get("code") and e.data.get("text") for e in outcomes)
    switch.unlink()
    assert {"kitchen", "lights"} <= words(transcript_text(anyio.run(transcribe, server.uri, pcm)))
    body = fetch_metrics(metrics_port)
    assert metric(body, 'xnai_in_flight{service="asr"}') == 0  # the failed requests gave their slots back
    assert metric(body, 'xnai_queue_depth{service="asr"}') == 0
