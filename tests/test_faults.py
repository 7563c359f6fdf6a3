"""Fault injection: a model call that raises ends in a clear error for that request, never a hung client,
and the server serves normally once the fault clears.

Faults that can be caused for real are (a model file that fails to load: test_asr.py); a model call
that raises mid-request cannot, so tests/faults/sitecustomize.py injects it into the server process.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from tests.docs_facts import DOCS
from tests.support import LOOPBACK, ServerProcess, free_port, server_env, speech, transcribe, transcript_text, words

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


# --- disk full while ingesting ------------------------------------------------------------------

VERIFY = """
import json, sys
from pathlib import Path
from wyoming_xnai.rag.embed import OnnxMiniLM
from wyoming_xnai.rag.knowledge import KnowledgeBase
index = Path(sys.argv[1])
kb = KnowledgeBase.open(index, OnnxMiniLM())
print(json.dumps({
    "version": kb.version,
    "passages": len(kb),
    "answer": kb.search("Where is the spare house key?", 1)[0].text,
    "entries": sorted(p.name for p in index.iterdir()),
}))
"""


def tmpfs_possible() -> bool:
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True, check=False
    )
    return probe.returncode == 0


@pytest.mark.skipif(not shutil.which("unshare"), reason="unshare (util-linux) is needed")
def test_disk_full_while_ingesting_keeps_the_previous_index(tmp_path: Path) -> None:
    """A real full disk: the index lives on a tmpfs just big enough for the current version, then a
    much bigger document set is ingested. Needs root for the private mount; a file-size limit
    (RLIMIT_FSIZE, the same write failure without a mount) stands in where mounting is not allowed."""
    data = tmp_path / "data"
    first = subprocess.run(
        [sys.executable, "-m", "wyoming_xnai", "ingest", str(DOCS)], env=server_env(data), capture_output=True
    )
    assert first.returncode == 0, first.stderr
    used = sum(p.stat().st_size for p in (data / "index").rglob("*") if p.is_file())
    big = tmp_path / "big"
    shutil.copytree(DOCS, big)
    for i in range(120):  # enough new passages that the next version cannot fit in the space left
        (big / f"note{i:03}.txt").write_text(
            f"Note {i}: the garage shelf number {i} holds paint tins and ladders.\n" * 8
        )
    out = tmp_path / "out"
    out.mkdir()
    env = server_env(data)
    ingest = f"{shlex.quote(sys.executable)} -m wyoming_xnai ingest {shlex.quote(str(big))}"
    verify = f"{shlex.quote(sys.executable)} -c {shlex.quote(VERIFY)} {shlex.quote(str(data / 'index'))}"
    if tmpfs_possible():
        mode = "tmpfs"
        index_copy = tmp_path / "index-before"
        shutil.copytree(data / "index", index_copy)
        script = (
            f"set -e; mount -t tmpfs -o size={used + 256 * 1024} tmpfs {data / 'index'}; "
            f"cp -a {index_copy}/. {data / 'index'}/; "
            f"set +e; {ingest} > {out}/stdout 2> {out}/stderr; echo $? > {out}/rc; "
            f"{verify} > {out}/verify.json 2> {out}/verify.err"
        )
        subprocess.run(["unshare", "-m", "sh", "-c", script], env=env, check=True, timeout=600)
    else:
        mode = "rlimit"
        limit = used + 256 * 1024
        result = subprocess.run(
            ["sh", "-c", f"ulimit -f {limit // 512}; trap '' XFSZ; exec {ingest}"],
            env=env, capture_output=True, timeout=600,
        )  # fmt: skip
        (out / "rc").write_text(str(result.returncode))
        (out / "stderr").write_bytes(result.stderr)
        (out / "verify.json").write_text(
            subprocess.run(["sh", "-c", verify], env=env, capture_output=True).stdout.decode()
        )
    stderr = (out / "stderr").read_text()
    assert int((out / "rc").read_text()) != 0, f"ingest did not notice the full disk ({mode})"
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xnai: writing the index"), stderr
    assert "previous index is unchanged" in lines[0]
    after = json.loads((out / "verify.json").read_text())
    assert "flower pot" in after["answer"]  # the previous version still opens and answers
    assert not [e for e in after["entries"] if e.startswith(".staging-")], after["entries"]  # nothing half-written left
