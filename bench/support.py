"""What every benchmark needs: real server processes, speech, the test facts, timing and markdown tables.

bench/ stands on its own: it imports nothing from tests/ (the tests may change their helpers freely).
The test documents are read as files from tests/data/docs; their questions live in bench/data/docs_facts.jsonl.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from wyoming.event import read_event, write_event
from wyoming.info import Describe

LOOPBACK = "127.0.0.1"
BENCH = Path(__file__).resolve().parent
DOCS = BENCH.parent / "tests" / "data" / "docs"


@dataclass(frozen=True)
class Fact:
    """A question about the test documents, a word its answer must hold, and the file that holds it."""

    question: str
    keyword: str
    source: str


def _read_facts() -> tuple[list[Fact], list[Fact]]:
    facts, spoken = [], []
    for line in (BENCH / "data" / "docs_facts.jsonl").read_text().splitlines():
        row = json.loads(line)
        fact = Fact(row["question"], row["keyword"], row["source"])
        facts.append(fact)
        if row.get("spoken"):
            spoken.append(fact)
    return facts, spoken


FACTS, SPOKEN = _read_facts()  # SPOKEN: short questions espeak-ng says clearly enough for voice benches


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def server_env(data_dir: Path) -> dict[str, str]:
    """Environment for server processes: a private data dir, no XNAI_* settings inherited from the shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XNAI_")}
    env["XNAI_DATA_DIR"] = str(data_dir)
    return env


def answers_describe(port: int, timeout: float = 1.0) -> bool:
    """True once a Wyoming server on `port` answers describe with info (OSError while it cannot)."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock, sock.makefile("rwb") as stream:
        write_event(Describe().event(), stream)
        stream.flush()
        while (event := read_event(stream)) is not None:
            if event.type == "info":
                return True
    return False


class Server:
    """A server subprocess on a free loopback port (ours or a reference one), stopped on exit."""

    def __init__(
        self, argv: Sequence[str], name: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.name = name
        self.port = free_port()
        self.uri = f"tcp://{LOOPBACK}:{self.port}"
        self.workdir = Path(tempfile.mkdtemp(prefix=f"xnai-bench-{name}-"))
        self.log = self.workdir / "server.log"
        full_env = {**server_env(self.workdir / "data"), **(env or {})}
        argv = [a.replace("{uri}", self.uri).replace("{workdir}", str(self.workdir)) for a in argv]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=cwd)

    @classmethod
    def xnai(
        cls,
        command: str,
        *args: str,
        env: dict[str, str] | None = None,
        python: str = sys.executable,
        cwd: Path | None = None,
    ) -> Server:
        """`xnai <command>`; `python`/`cwd` run another checkout's code (its venv's interpreter, its folder)."""
        return cls([python, "-m", "wyoming_xnai", command, "--uri", "{uri}", *args], f"xnai-{command}", env, cwd)

    def wait(self, timeout: float = 120.0) -> Server:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text(errors='replace')}")
            try:
                if answers_describe(self.port):
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not answer describe")
            time.sleep(0.2)

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (all its threads), at clock-tick resolution."""
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Launcher:
    """Starts `xnai` servers that share one data dir (`env`), and stops them all in `stop_all()`."""

    def __init__(self, workdir: Path) -> None:
        self.env = server_env(workdir / "data")
        self.started: list[Server] = []

    def __call__(self, command: str, *args: str) -> Server:
        server = Server.xnai(command, *args, env=self.env)
        self.started.append(server)
        return server.wait()

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


@cache
def speech(text: str) -> bytes:
    """16 kHz mono s16 PCM of `text` spoken by espeak-ng (resampled by sox)."""
    if not shutil.which("espeak-ng") or not shutil.which("sox"):
        raise SystemExit("espeak-ng and sox are needed to make speech (apt-get install espeak-ng sox)")
    wav = subprocess.run(["espeak-ng", "-s", "150", "--stdout", text], capture_output=True, check=True).stdout
    return subprocess.run(
        ["sox", "-D", "-t", "wav", "-", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", "-"],
        input=wav, capture_output=True, check=True,
    ).stdout  # fmt: skip


async def read_until(client, *types: str, timeout: float = 60.0) -> list:
    """Read events until one of `types` (or an error) arrives; returns all events read."""
    import anyio

    events = []
    with anyio.fail_after(timeout):
        while True:
            event = await client.read_event()
            if event is None:
                raise ConnectionError(f"connection closed after {[e.type for e in events]}")
            events.append(event)
            if event.type in types or event.type == "error":
                return events


def silence(seconds: float) -> bytes:
    """16 kHz mono s16 PCM of digital silence."""
    return bytes(int(seconds * 16000) * 2)


class Collector:
    """An OTLP/HTTP span receiver on loopback: servers started with `--otlp-endpoint collector.endpoint`."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self._server = ThreadingHTTPServer((LOOPBACK, 0), self._handler())
        self.endpoint = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        spans = self.spans

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"])))
                for scope_spans in (s for r in request.resource_spans for s in r.scope_spans):
                    for span in scope_spans.spans:
                        attrs = {}
                        for attr in span.attributes:
                            kind = attr.value.WhichOneof("value")
                            attrs[attr.key] = getattr(attr.value, kind) if kind else None
                        spans.append({"name": span.name, "attributes": attrs})
                body = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def named(self, name: str) -> list[dict]:
        return [s for s in self.spans if s["name"] == name]

    def __enter__(self) -> Collector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); fine for the few hundred samples a bench takes."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("tyre", "tire")).split()


def word_errors(reference: str, heard: str) -> tuple[int, int]:
    """(substitutions + insertions + deletions, words in the reference): the parts of a word error rate."""
    ref, hyp = _words(reference), _words(heard)
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        diagonal, row[0] = row[0], i
        for j in range(1, len(hyp) + 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ref[i - 1] != hyp[j - 1]))
    return row[len(hyp)], len(ref)


def piper_speech(text: str) -> bytes:
    """16 kHz mono s16 speech by the bundled Piper voice: more natural than espeak-ng, for accuracy checks."""
    from piper import PiperVoice

    from wyoming_xnai.models import piper_voice

    global _PIPER
    if _PIPER is None:
        _PIPER = PiperVoice.load(str(piper_voice("en_US-joe-medium", []).model))
    pcm = b"".join(chunk.audio_int16_bytes for chunk in _PIPER.synthesize(text))
    rate = str(_PIPER.config.sample_rate)
    return subprocess.run(
        ["sox", "-D", "-t", "raw", "-r", rate, "-e", "signed-integer", "-b", "16", "-c", "1", "-",
         "-r", "16000", "-t", "raw", "-"],
        input=pcm, capture_output=True, check=True,
    ).stdout  # fmt: skip


_PIPER = None
