"""What every benchmark needs: start a real server process, time a request, print a markdown table."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support import LOOPBACK, describe_sync, free_port, server_env


class Server:
    """A server subprocess on a free loopback port (ours or a reference one), stopped on exit."""

    def __init__(self, argv: Sequence[str], name: str, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.port = free_port()
        self.uri = f"tcp://{LOOPBACK}:{self.port}"
        self.workdir = Path(tempfile.mkdtemp(prefix=f"xnai-bench-{name}-"))
        self.log = self.workdir / "server.log"
        full_env = {**server_env(self.workdir / "data"), **(env or {})}
        argv = [a.replace("{uri}", self.uri).replace("{workdir}", str(self.workdir)) for a in argv]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=full_env)

    @classmethod
    def xnai(cls, command: str, *args: str, env: dict[str, str] | None = None) -> Server:
        return cls([sys.executable, "-m", "wyoming_xnai", command, "--uri", "{uri}", *args], f"xnai-{command}", env)

    def wait(self, timeout: float = 120.0) -> Server:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text(errors='replace')}")
            try:
                describe_sync(self.port)
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not answer describe") from None
                time.sleep(0.2)

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

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
