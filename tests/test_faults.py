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
from wyoming.asr import Transcript
from wyoming.client import AsyncClient

from tests.docs_facts import DOCS
from tests.support import (
    LOOPBACK,
    ServerProcess,
    describe_sync,
    free_port,
    read_until,
    server_env,
    speech,
    transcribe,
    transcript_text,
    words,
)

FAULTS = Path(__file__).parent / "faults"
PHRASE = "turn on the kitchen lights"
# the whole model call the ASR server makes in its worker thread (short utterances skip faster-whisper's
# WhisperModel.transcribe for a direct CTranslate2 decode, whose extension type cannot be patched)
ASR_CALL = "wyoming_xnai.asr.transcriber:Transcriber.transcribe"


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
        env=fault_env(switch, f"{ASR_CALL}=raise"),
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


def test_asr_model_that_hangs_times_out(start_server, switch: Path) -> None:
    """A model call that never returns: its client gets a timeout error, the server keeps answering,
    newer requests are refused or time out instead of piling up behind the stuck call, and once the
    call returns the model transcribes again. SIGTERM still stops a server whose model is stuck."""
    metrics_port = free_port()
    server: ServerProcess = start_server(
        # no early decode: the one model call per request is the one that hangs
        "asr", "--timeout", "2", "--max-queue", "1", "--early-decode", "0",
        "--metrics-port", str(metrics_port), "--metrics-host", LOOPBACK,
        env=fault_env(switch, f"{ASR_CALL}=hang"),
    )  # fmt: skip
    pcm = speech(PHRASE)
    switch.touch()
    hung = anyio.run(transcribe, server.uri, pcm)[-1]
    assert (hung.type, hung.data.get("code")) == ("error", "timeout")
    assert "transcription took longer than 2 s" in hung.data["text"]
    assert describe_sync(server.port, timeout=5).asr  # the server is not blocked
    # the stuck call still holds the only slot: one request waits its 2 s and times out, one more is busy
    outcomes = [events[-1] for events in anyio.run(at_once, 2, lambda: transcribe(server.uri, pcm))]
    assert sorted(e.data.get("code") for e in outcomes) == ["busy", "timeout"], outcomes
    waited = next(e for e in outcomes if e.data.get("code") == "timeout")
    assert "waiting for a free transcription slot" in waited.data["text"]
    assert metric(fetch_metrics(metrics_port), 'xnai_in_flight{service="asr"}') == 1  # the stuck call
    switch.unlink()  # the call returns (with an error nobody waits for); its slot is free again
    assert {"kitchen", "lights"} <= words(transcript_text(anyio.run(transcribe, server.uri, pcm)))
    body = fetch_metrics(metrics_port)
    assert metric(body, 'xnai_in_flight{service="asr"}') == 0
    assert metric(body, 'xnai_queue_depth{service="asr"}') == 0
    assert 'xnai_errors_total{code="timeout",service="asr"} 2.0' in body
    assert "abandoned model call returned" in server.output()
    # stuck again, then SIGTERM: the server exits on its own (no SIGKILL) without waiting for the call
    switch.touch()
    assert anyio.run(transcribe, server.uri, pcm)[-1].data.get("code") == "timeout"
    assert server.stop() == 0
    assert "exiting without them" in server.output()


# --- disk full while ingesting ------------------------------------------------------------------

VERIFY = """
import json, sys
from pathlib import Path
from wyoming_xnai.index.embed import OnnxMiniLM
from wyoming_xnai.index.knowledge import KnowledgeBase
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


# --- the index deleted or corrupted while handle serves -------------------------------------------


async def _ask(uri: str, text: str) -> str:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Transcript(text=text).event())
        events = await read_until(client, "handled", timeout=300)
    assert events[-1].type == "handled", [e.type for e in events]
    return events[-1].data["text"]


def test_index_deleted_or_corrupted_while_serving(start_server, tmp_path: Path, llm_models_dir: Path) -> None:
    """The index vanishes, comes back, then a corrupt version goes live: every question still gets an
    answer, and the facts of the last good index are never lost."""
    data = tmp_path / "data"

    def ingest() -> None:
        result = subprocess.run(
            [sys.executable, "-m", "wyoming_xnai", "ingest", str(DOCS)], env=server_env(data), capture_output=True
        )
        assert result.returncode == 0, result.stderr

    ingest()
    server = start_server(
        "handle", "--data-dir", str(data), "--models-dir", str(llm_models_dir), "--llm-timeout", "120"
    )  # fmt: skip
    question, fact = "Which day is the bin collection?", "thursday"
    assert fact in anyio.run(_ask, server.uri, question).lower()

    shutil.rmtree(data / "index")  # deleted while serving: the loaded index keeps answering
    assert fact in anyio.run(_ask, server.uri, question).lower()

    ingest()  # back again (a new version)
    assert fact in anyio.run(_ask, server.uri, question).lower()

    # a corrupt version goes live (a bad disk, a bad copy): the last good index keeps answering
    index = data / "index"
    live = (index / "CURRENT").read_text().strip()
    broken = index / "v-29991231T000000-broken"
    shutil.copytree(index / live, broken)
    vectors = broken / "vectors.faiss"
    vectors.write_bytes(vectors.read_bytes()[: vectors.stat().st_size // 2])
    (index / "CURRENT.tmp").write_text(broken.name)
    os.replace(index / "CURRENT.tmp", index / "CURRENT")
    assert fact in anyio.run(_ask, server.uri, question).lower()
    assert "answering from the previous index" in server.output()
    assert server.proc.poll() is None
