"""The Containerfile, checked where no container engine runs (this CI has a docker client, no daemon).

The build stage's own COPY and RUN lines are executed in a scratch folder standing in for /app, so the
install steps tested here are the image's steps, not a copy of them. The runtime stage is checked for
what it promises: a non-root user, a Wyoming describe healthcheck, and the models baked in.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
CONTAINERFILE = ROOT / "Containerfile"
# Steps that only prepare the base image (compilers, uv itself); this machine already has them.
BASE_IMAGE_STEPS = ("apt-get", "pip install")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), " ".join(rest.split())))
    return result


def stages(text: str) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            found.append([])
        found[-1].append((keyword, rest))
    return found


def test_runtime_stage_is_non_root_with_describe_healthcheck() -> None:
    runtime = stages(CONTAINERFILE.read_text())[-1]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    uid = re.search(r"--uid (\d+)", " ".join(rest for keyword, rest in runtime if keyword == "RUN"))
    assert uid and int(uid.group(1)) != 0
    healthcheck = " ".join(rest for keyword, rest in runtime if keyword == "HEALTHCHECK")
    for port in (10300, 10200, 10600):
        assert f"xnai health --uri tcp://127.0.0.1:{port}" in healthcheck
    copied = [rest for keyword, rest in runtime if keyword == "COPY"]
    assert "--from=build /app/models /app/models" in copied, "models must be baked into the image"


@pytest.mark.timeout(900)
def test_build_stage_steps_install_and_verify_models(tmp_path: Path) -> None:
    """Run the build stage's COPY/RUN lines with /app -> a scratch folder, then start the result."""
    if not shutil.which("uv"):
        pytest.fail("uv is needed (the image installs it with pip; .ci/run does the same)")
    app = tmp_path / "app"
    app.mkdir()
    build = stages(CONTAINERFILE.read_text())[0]
    env_line = " ".join(rest for keyword, rest in build if keyword == "ENV")
    env = {k: v for k, _, v in (item.partition("=") for item in shlex.split(env_line))}
    for keyword, rest in build:
        if keyword == "COPY":
            *sources, _dest = shlex.split(rest)
            for source in sources:
                src = ROOT / source
                assert src.exists(), f"Containerfile copies {source}, which the repository does not have"
                if src.is_dir():
                    shutil.copytree(src, app / source, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(src, app / source)
        elif keyword == "RUN":
            command = re.sub(r"--mount=\S+\s*", "", rest).replace("/app", str(app))
            if command.startswith(BASE_IMAGE_STEPS):
                continue
            done = subprocess.run(
                ["bash", "-c", command], cwd=app, env={**_base_env(), **env}, capture_output=True, text=True
            )
            assert done.returncode == 0, f"RUN {command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"

    xnai = app / ".venv" / "bin" / "xnai"
    assert xnai.exists(), "the build stage must install the xnai command into /app/.venv"
    assert (app / "models").is_dir() and any((app / "models").iterdir()), "models must be assembled at build time"
    assert (app / "models" / "whisper-base" / "model.bin").exists(), "Whisper base must be assembled at build time"
    # The installed (non-editable) package runs from the venv, not from the source tree.
    server = ServerProcess(
        "asr",
        [],
        {**_base_env(), "XNAI_MODELS_DIR": str(app / "models"), "XNAI_DATA_DIR": str(tmp_path / "data")},
        tmp_path / "asr.log",
        python=str(app / ".venv" / "bin" / "python"),
        cwd=tmp_path,
    )
    try:
        server.wait_describe()
        health = subprocess.run([str(xnai), "health", "--uri", server.uri], capture_output=True, text=True, timeout=60)
        assert health.returncode == 0, health.stderr
    finally:
        server.stop()


def _base_env() -> dict[str, str]:
    """This machine's environment (proxies, CA certificates, uv cache) without the user's XNAI_* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("XNAI_", "VIRTUAL_ENV"))}
