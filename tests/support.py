"""Helpers every test uses: start a real `xnai` server process on loopback, make real speech."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import anyio
import pytest

from wyoming_xnai.health import describe

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A real `xnai <command>` process; `uri` is where it listens."""

    def __init__(self, command: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.uri = f"tcp://{LOOPBACK}:{self.port}"
        self.log = log
        self._log_file = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wyoming_xnai", command, "--uri", self.uri, *args],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_describe(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                anyio.run(describe, self.uri, 1.0, backend="asyncio")
                return
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server did not answer describe:\n{self.output()}") from None
                time.sleep(0.1)

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode


@pytest.fixture
def xnai_env(tmp_path: Path) -> dict[str, str]:
    """Environment for server processes: private data dir, no inherited XNAI_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XNAI_")}
    env["XNAI_DATA_DIR"] = str(tmp_path / "data")
    return env


@pytest.fixture
def start_server(tmp_path: Path, xnai_env: dict[str, str]) -> Iterator:
    """`start_server("asr", "--beam-size", "1")` -> a running ServerProcess, stopped after the test."""
    started: list[ServerProcess] = []

    def _start(command: str, *args: str, env: dict[str, str] | None = None, wait: bool = True) -> ServerProcess:
        log = tmp_path / f"{command}-{len(started)}.log"
        server = ServerProcess(command, list(args), {**xnai_env, **(env or {})}, log)
        started.append(server)
        if wait:
            server.wait_describe()
        return server

    yield _start
    for server in started:
        server.stop()


@contextmanager
def _tmpdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="xnai-speech-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@cache
def speech(text: str, rate: int = 16000, channels: int = 1, width: int = 2) -> bytes:
    """Raw PCM of `text` spoken by espeak-ng, converted by sox to the requested format."""
    if not shutil.which("espeak-ng") or not shutil.which("sox"):
        pytest.fail("espeak-ng and sox are needed to make test speech (.ci/run installs them)")
    with _tmpdir() as tmp:
        wav = tmp / "speech.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), text], check=True, capture_output=True)
        raw = tmp / "speech.raw"
        subprocess.run(
            ["sox", str(wav), "-r", str(rate), "-c", str(channels), "-b", str(width * 8), "-e", "signed-integer",
             "-t", "raw", str(raw)],
            check=True, capture_output=True,
        )  # fmt: skip
        return raw.read_bytes()


def silence(seconds: float, rate: int = 16000, width: int = 2, channels: int = 1) -> bytes:
    return bytes(int(seconds * rate) * width * channels)
