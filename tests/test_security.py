"""Security promises: documented binds, caps on by default, no outbound traffic, non-root container."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from wyoming.asr import Transcript
from wyoming.client import AsyncClient
from wyoming.tts import Synthesize

from tests.docs_facts import DOCS
from tests.support import (
    LOOPBACK,
    ServerProcess,
    describe_sync,
    exchange_bytes,
    free_port,
    parse_frames,
    read_until,
    server_env,
    speech,
    transcribe,
    transcript_text,
    words,
)
from wyoming_xnai.settings import MiB, Settings

ROOT = Path(__file__).resolve().parent.parent
PHRASE = "turn on the kitchen lights"


def documented_ports() -> dict[str, int]:
    """The service table at the top of the README: `| ASR | `xnai asr` | 10300 | ...`."""
    readme = (ROOT / "README.md").read_text()
    return {m[1]: int(m[2]) for m in re.finditer(r"^\| \w+ \| `xnai (\w+)` \| (\d+) \|", readme, re.M)}


def defaults() -> Settings:
    """Every service's settings as shipped: no `.env` of the machine running the tests."""
    return Settings(*(section(_env_file=None) for section in Settings.sections))


def test_default_binds_are_the_documented_ones() -> None:
    every = defaults()
    ports = documented_ports()
    assert {"asr", "tts", "handle"} <= ports.keys()
    for service, port in ports.items():
        # all interfaces: Home Assistant runs on another machine of the LAN
        assert getattr(getattr(every, service), f"{service}_uri") == f"tcp://0.0.0.0:{port}"
    settings = every.serve
    assert settings.metrics_port is None  # no HTTP endpoint unless asked for
    assert settings.zeroconf is None  # no multicast unless asked for
    assert settings.otlp_endpoint is None  # no traces leave the process unless asked for


def listening(pid: int) -> set[tuple[str, int]]:
    """TCP sockets in LISTEN state owned by `pid`, from /proc (no ss/netstat needed)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A = LISTEN
                continue
            addr_hex, port_hex = fields[1].split(":")
            raw = bytes.fromhex(addr_hex)
            if family == socket.AF_INET:
                addr = socket.inet_ntop(family, raw[::-1])
            else:
                addr = socket.inet_ntop(family, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))
            found.add((addr, int(port_hex, 16)))
    return found


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def test_a_server_started_without_flags_listens_where_documented(tmp_path: Path) -> None:
    port = documented_ports()["asr"]
    if not port_free(port):
        pytest.skip(f"port {port} is taken on this machine")
    proc = subprocess.Popen(
        [sys.executable, "-m", "wyoming_xnai", "asr"],
        env=server_env(tmp_path / "data"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                describe_sync(port)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert listening(proc.pid) == {("0.0.0.0", port)}  # the Wyoming port only: no metrics, nothing else
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_caps_are_on_by_default() -> None:
    every = defaults()
    assert {section.max_payload_bytes for section in (every.serve, every.asr, every.tts, every.handle)} == {4 * MiB}
    assert every.asr.asr_max_seconds == 120
    assert every.asr.asr_max_queue == 16 and every.asr.asr_max_concurrent == 1
    assert every.tts.tts_max_text_chars == 20_000
    assert every.handle.handle_max_text_chars == 2000
    assert every.handle.handle_max_queue == 8


def test_a_default_server_refuses_oversized_frames(start_server) -> None:
    server = start_server("asr")  # no cap flags: the defaults apply
    fmt = b'{"rate": 48000, "width": 2, "channels": 2}'  # 4 MiB of it is 22 s, under --max-seconds

    def chunk(size: int) -> bytes:
        return b'{"type": "audio-chunk", "data_length": %d, "payload_length": %d}\n' % (len(fmt), size) + fmt

    received, _ = exchange_bytes(server.port, chunk(4 * MiB + 1) + bytes(1024))
    assert [(e.type, e.data.get("code")) for e in parse_frames(received)] == [("error", "payload-too-large")]
    # exactly at the cap is accepted
    received, _ = exchange_bytes(server.port, chunk(4 * MiB) + bytes(4 * MiB))
    # 22 s of silence: no error; endpointing (on by default) may end the turn with an empty transcript
    events = parse_frames(received)
    assert not [e for e in events if e.type == "error"], events
    assert all(e.data.get("text", "") == "" for e in events if e.type == "transcript"), events


# --- no outbound network ------------------------------------------------------------------------

TRACED = "connect,sendto,sendmsg,accept4"
SOCKADDR = re.compile(r"(connect|sendto|sendmsg)\(\d+, .*?sa_family=(AF_\w+)(.*?)\}")


def outbound(strace_log: str) -> list[str]:
    """Every connect/sendto/sendmsg to an address that is not this machine's loopback or a unix socket."""
    bad = []
    for line in strace_log.splitlines():
        match = SOCKADDR.search(line)
        if not match:
            continue
        family, rest = match[2], match[3]
        if family in ("AF_UNIX", "AF_NETLINK", "AF_UNSPEC"):
            continue
        if family == "AF_INET" and 'inet_addr("127.' in rest:
            continue
        if family == "AF_INET6" and ('"::1"' in rest or '"::ffff:127.' in rest):
            continue
        bad.append(line.strip())
    return bad


def stop_traced(server: ServerProcess) -> None:
    """strace does not pass SIGTERM on to the program it started: signal the server itself."""
    if server.proc.poll() is None:
        children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text().split()
        for pid in children:
            subprocess.run(["kill", "-TERM", pid], check=False)
    server.stop()


async def one_request_each(uris: dict[str, str]) -> None:
    """A full request on every service: speech in, speech out, a question answered from the documents."""
    assert words(transcript_text(await transcribe(uris["asr"], speech(PHRASE)))) >= {"kitchen", "lights"}
    async with AsyncClient.from_uri(uris["tts"]) as client:
        await client.write_event(Synthesize(text="The kitchen lights are on.").event())
        assert any(e.type == "audio-chunk" for e in await read_until(client, "audio-stop"))
    async with AsyncClient.from_uri(uris["handle"]) as client:
        await client.write_event(Transcript(text="Which day is the bin collection?").event())
        assert [e for e in await read_until(client, "handled", timeout=300) if e.type == "handled"]


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is needed to watch syscalls (.ci/run installs it)")
def test_no_outbound_connection_during_full_requests(tmp_path: Path, llm_models_dir: Path) -> None:
    """Every connect/sendto/sendmsg of `xnai serve` (all three services) and all its threads, native
    code included, from start-up through one full request on each service to shutdown."""
    data = tmp_path / "data"
    env = server_env(data)
    ingest = subprocess.run([sys.executable, "-m", "wyoming_xnai", "ingest", str(DOCS)], env=env, capture_output=True)
    assert ingest.returncode == 0, ingest.stderr
    trace = tmp_path / "strace.log"
    ports = {"tts": free_port(), "handle": free_port()}
    server = ServerProcess(
        "serve",
        ["--tts-uri", f"tcp://{LOOPBACK}:{ports['tts']}", "--handle-uri", f"tcp://{LOOPBACK}:{ports['handle']}",
         "--wake-uri", f"tcp://{LOOPBACK}:{free_port()}",
         "--models-dir", str(llm_models_dir), "--handle-llm-timeout", "120"],
        env, tmp_path / "serve.log", uri_flag="--asr-uri",
        prefix=["strace", "-f", "--seccomp-bpf", "-qq", "-e", f"trace={TRACED}", "-o", str(trace)],
    )  # fmt: skip
    try:
        server.wait_describe(timeout=180)
        uris = {"asr": server.uri} | {name: f"tcp://{LOOPBACK}:{port}" for name, port in ports.items()}
        anyio.run(one_request_each, uris)
    finally:
        stop_traced(server)
    log = trace.read_text()
    assert log.count("accept4(") >= 3, "strace did not see the server accept our connections"
    assert outbound(log) == []


def test_outbound_detector_catches_a_real_connection(tmp_path: Path) -> None:
    """The watcher above is only worth something if it sees an outbound attempt when there is one."""
    if not shutil.which("strace"):
        pytest.skip("strace missing")
    trace = tmp_path / "strace.log"
    # UDP connect to TEST-NET-1 (192.0.2.0/24, never routed): the syscall happens, no packet is sent
    code = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).connect(('192.0.2.1', 53))"
    subprocess.run(
        ["strace", "-f", "--seccomp-bpf", "-qq", "-e", f"trace={TRACED}", "-o", str(trace), sys.executable, "-c", code],
        check=False,
        capture_output=True,
        timeout=60,
    )
    assert any("192.0.2.1" in line for line in outbound(trace.read_text()))


# --- container ----------------------------------------------------------------------------------


def test_compose_does_not_put_root_back() -> None:
    """The Containerfile's non-root USER is checked in test_container.py; compose must not override it."""
    compose = (ROOT / "compose.yaml").read_text()
    assert not re.search(r"^\s*user:\s*[\"']?(root|0)\b", compose, re.M), "compose.yaml runs the image as root"
    assert not re.search(r"^\s*privileged:\s*true", compose, re.M)


def test_onnxruntime_telemetry_is_off_in_every_xnai_process() -> None:
    """The cheap guard (strace may be missing): onnxruntime's 1DS telemetry is off before any session."""
    code = "import os, wyoming_xnai, onnxruntime; print(os.environ.get('ORT_DISABLE_TELEMETRY'))"
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
