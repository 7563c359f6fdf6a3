"""Helpers every test uses: start a real `xnai` server process on loopback, make real speech."""

from __future__ import annotations

import errno
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

import pytest
from wyoming.event import read_event, write_event
from wyoming.info import Describe, Info

# bench/ stands on its own; what both need is written once there
from bench.support import LOOPBACK, free_port, read_until, server_env


def describe_sync(port: int, timeout: float = 1.0) -> Info:
    """Blocking describe (usable from inside async tests, where anyio.run is not)."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock, sock.makefile("rwb") as stream:
        write_event(Describe().event(), stream)
        stream.flush()
        while (event := read_event(stream)) is not None:
            if Info.is_type(event.type):
                return Info.from_event(event)
    raise ConnectionError("closed before info")


class ServerProcess:
    """A real `xnai <command>` process; `uri` is where it listens."""

    def __init__(
        self,
        command: str,
        args: list[str],
        env: dict[str, str],
        log: Path,
        python: str = sys.executable,
        cwd: Path | None = None,
        uri_flag: str = "--uri",
        prefix: list[str] | None = None,
    ) -> None:
        self.port = free_port()
        self.uri = f"tcp://{LOOPBACK}:{self.port}"
        self.log = log
        self._log_file = open(log, "wb")
        self.proc = subprocess.Popen(
            [*(prefix or []), python, "-m", "wyoming_xnai", command, uri_flag, self.uri, *args],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )

    def wait_describe(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                describe_sync(self.port)
                return
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server did not answer describe:\n{self.output()}") from None
                time.sleep(0.1)

    def output(self) -> str:
        if not self._log_file.closed:
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


class Launcher:
    """Starts servers and stops them all at teardown."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        # Whisper tiny.en, greedy: 2-3x faster than the default (base, beam 5), which tests/test_asr_base.py covers
        self.env = {**server_env(workdir / "data"), "XNAI_ASR_MODEL": "tiny.en", "XNAI_ASR_BEAM_SIZE": "1"}
        self.started: list[ServerProcess] = []

    def __call__(
        self,
        command: str,
        *args: str,
        env: dict[str, str] | None = None,
        wait: bool = True,
        prefix: list[str] | None = None,
    ) -> ServerProcess:
        """`prefix` runs the server under another program (`strace -f ...`)."""
        log = self.workdir / f"{command}-{len(self.started)}.log"
        # The satellite's log is how tests read what it heard and said: not private there.
        own = {"XNAI_LOG_TEXT": "1"} if command == "satellite" else {}
        server = ServerProcess(command, list(args), {**self.env, **own, **(env or {})}, log, prefix=prefix)
        self.started.append(server)
        if wait:
            server.wait_describe()
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


@pytest.fixture
def xnai_env(tmp_path: Path) -> dict[str, str]:
    return server_env(tmp_path / "data")


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Launcher]:
    """`start_server("asr", "--beam-size", "1")` -> a running ServerProcess, stopped after the test."""
    launcher = Launcher(tmp_path)
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="module")
def module_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    """Like `start_server`, but the servers live for the whole test module (model loads are not free)."""
    launcher = Launcher(tmp_path_factory.mktemp("servers"))
    yield launcher
    launcher.stop_all()


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
            ["sox", "-D", str(wav), "-r", str(rate), "-c", str(channels), "-b", str(width * 8), "-e", "signed-integer",
             "-t", "raw", str(raw)],
            check=True, capture_output=True,
        )  # fmt: skip
        return raw.read_bytes()


def silence(seconds: float, rate: int = 16000, width: int = 2, channels: int = 1) -> bytes:
    return bytes(int(seconds * rate) * width * channels)


SOX_RAW = ["-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw"]
NOISES = {  # sox effects that make 3 s of each
    "hum": ["synth", "3", "sine", "50", "vol", "0.3"],
    "white-noise": ["synth", "3", "whitenoise", "vol", "0.1"],
    "pink-noise": ["synth", "3", "pinknoise", "vol", "0.3"],
    "door-knock": ["synth", "0.06", "brownnoise", "vol", "0.9", "fade", "0", "0.06", "0.05", "pad", "0.5", "0.25",
                   "repeat", "2", "pad", "0", "1.5"],
}  # fmt: skip


def noise(kind: str) -> bytes:
    """3 s of 16 kHz mono PCM without speech: silence, mains hum, noise, a knock on a door."""
    if kind == "digital-silence":
        return silence(3.0)
    return subprocess.run(["sox", "-n", *SOX_RAW, "-", *NOISES[kind]], capture_output=True, check=True).stdout


async def transcribe(
    uri: str,
    pcm: bytes,
    rate: int = 16000,
    width: int = 2,
    channels: int = 1,
    language: str | None = None,
    audio_start: bool = True,
    audio_stop: bool = True,
    chunk_bytes: int = 2048,
) -> list:
    """Send one utterance as Home Assistant does; return the events up to transcript-stop (or error)."""
    from wyoming.asr import Transcribe
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.client import AsyncClient

    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Transcribe(language=language).event())
        if audio_start:
            await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
        for i in range(0, len(pcm), chunk_bytes):
            chunk = AudioChunk(rate=rate, width=width, channels=channels, audio=pcm[i : i + chunk_bytes])
            await client.write_event(chunk.event())
        if audio_stop:
            await client.write_event(AudioStop().event())
        return await read_until(client, "transcript-stop")


async def speak_live(uri: str, pcm: bytes, speech_ends: float) -> tuple[str, float]:
    """Streams `pcm` in real time in 10 ms chunks as Home Assistant does, reading meanwhile; returns
    the transcript and how many seconds of audio after `speech_ends` had been sent when it came."""
    import anyio
    from wyoming.asr import Transcribe
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.client import AsyncClient

    chunk = 320
    sent = 0
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        async with anyio.create_task_group() as tg:

            async def upload() -> None:
                nonlocal sent
                start = anyio.current_time()
                for i in range(0, len(pcm), chunk):
                    await anyio.sleep_until(start + i / 32000)  # a microphone delivers audio in real time
                    await client.write_event(
                        AudioChunk(rate=16000, width=2, channels=1, audio=pcm[i : i + chunk]).event()
                    )
                    sent = i + chunk
                await client.write_event(AudioStop().event())

            tg.start_soon(upload)
            events = await read_until(client, "transcript")
            tg.cancel_scope.cancel()
    return transcript_text(events), sent / 32000 - speech_ends


def transcript_text(events: list) -> str:
    texts = [e.data["text"] for e in events if e.type == "transcript"]
    assert len(texts) == 1, f"expected exactly one transcript, got {[e.type for e in events]}"
    return texts[0]


def words(text: str) -> set[str]:
    return {w.strip(".,!?;:'\"").lower() for w in text.split()}


# --- raw frames and process resources (reliability tests) -----------------------------------------


class ProtocolViolation(AssertionError):
    """The server sent bytes that are not a well-formed Wyoming event stream."""


def parse_frames(blob: bytes) -> list:
    """Strictly parse what a server sent: every byte must belong to a well-formed event."""
    import json as _json

    from wyoming.event import Event

    events, pos = [], 0
    while pos < len(blob):
        end = blob.find(b"\n", pos)
        if end < 0:
            raise ProtocolViolation(f"trailing bytes without a header newline: {blob[pos : pos + 80]!r}")
        try:
            header = _json.loads(blob[pos:end])
        except ValueError as err:
            raise ProtocolViolation(f"header is not JSON: {blob[pos:end][:80]!r}") from err
        if not isinstance(header, dict) or not isinstance(header.get("type"), str):
            raise ProtocolViolation(f"header without a string type: {header!r}")
        pos = end + 1
        data = header.get("data") or {}
        data_length = header.get("data_length") or 0
        payload_length = header.get("payload_length") or 0
        if len(blob) < pos + data_length + payload_length:
            raise ProtocolViolation(f"{header['type']}: announced {data_length}+{payload_length} bytes, got fewer")
        if data_length:
            extra = _json.loads(blob[pos : pos + data_length])
            if not isinstance(extra, dict):
                raise ProtocolViolation(f"{header['type']}: data block is not an object")
            data = {**data, **extra}
            pos += data_length
        payload = blob[pos : pos + payload_length] if payload_length else None
        pos += payload_length
        events.append(Event(type=header["type"], data=data, payload=payload))
    return events


def exchange_bytes(port: int, data: bytes, timeout: float = 60.0) -> tuple[bytes, bool]:
    """Send raw bytes, half-close, read until the server closes. Returns (received, closed_cleanly).

    A server that stops reading and closes early may reset the connection; that still counts as
    closing (False), but a server that keeps the socket open past `timeout` raises TimeoutError.
    """
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError as err:  # the server answered and closed while we were still sending
            if err.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                raise
        received = bytearray()
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            return bytes(received), False
        except TimeoutError:
            raise TimeoutError(f"server kept the connection open for {timeout} s after the client finished") from None
    return bytes(received), True


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise ProcessLookupError(pid)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture(scope="session")
def llm_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models dir with the bundled GGUF assembled once per test session (pass it as --models-dir)."""
    from wyoming_xnai.models import gguf_model

    folder = tmp_path_factory.mktemp("llm-models")
    gguf_model("gemma3-270m", folder)
    return folder


@pytest.fixture(scope="session")
def whisper_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models dir with the bundled Whisper base assembled once per test session (pass it as --models-dir)."""
    from wyoming_xnai.models import whisper_model

    folder = tmp_path_factory.mktemp("whisper-models")
    whisper_model("base", folder)
    return folder
