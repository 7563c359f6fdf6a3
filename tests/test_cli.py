"""`xnai` command line, in process: each command offers only the flags its code reads; the environment still works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wyoming_xnai.cli import (
    ASK_SETTINGS,
    COMMANDS,
    INGEST_SETTINGS,
    MODELS_SETTINGS,
    build_parser,
    load_settings,
    setting_fields,
)
from wyoming_xnai.settings import Settings

SERVER_ONLY = {"--uri", "--max-queue", "--breaker-failures", "--breaker-reset", "--answer-timeout",
               "--max-text-chars", "--memory-seconds", "--cache-size", "--zeroconf", "--metrics-port",
               "--idle-timeout", "--max-connections"}  # fmt: skip


def help_flags(command: str, capsys: pytest.CaptureFixture[str]) -> set[str]:
    """The flags `xnai COMMAND --help` lists (each option line starts with two spaces and its flags)."""
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    flags = set()
    for line in capsys.readouterr().out.splitlines():
        if match := re.match(r"  (-\w, )?(--[\w-]+)", line):
            flags.add(match.group(2))
    return flags - {"--help"}


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No XNAI_* variable or `.env` of the machine running the tests changes what is parsed."""
    monkeypatch.chdir(tmp_path)
    for name in setting_fields(Settings) | setting_fields(COMMANDS["satellite"].settings):
        monkeypatch.delenv(f"XNAI_{name.upper()}", raising=False)


def test_ingest_lists_only_what_ingest_reads(capsys: pytest.CaptureFixture[str]) -> None:
    flags = help_flags("ingest", capsys)
    assert flags == {"--data-dir", "--embedder", "--chunk-words", "--chunk-overlap", "--hnsw-threshold", "--rebuild"}
    assert not flags & (SERVER_ONLY | {"--llm-timeout", "--model", "--debug"})


def test_ask_lists_the_answerers_settings_and_no_server_ones(capsys: pytest.CaptureFixture[str]) -> None:
    flags = help_flags("ask", capsys)
    assert {"--model", "--llm-timeout", "--retrieval-timeout", "--top-k", "--embedder", "--models-dir"} <= flags
    assert not flags & (SERVER_ONLY | {"--chunk-words", "--chunk-overlap", "--hnsw-threshold", "--rebuild"})


def test_models_lists_model_names_and_paths_only(capsys: pytest.CaptureFixture[str]) -> None:
    flags = help_flags("models", capsys)
    assert {"--asr-model", "--tts-voice", "--tts-voice-dir", "--handle-model", "--models-dir", "--verify"} <= flags
    assert len(flags) < 15
    assert not flags & {"--asr-uri", "--handle-llm-timeout", "--tts-max-queue", "--handle-breaker-reset"}


def test_the_server_commands_list_their_server_flags_and_not_ingests(capsys: pytest.CaptureFixture[str]) -> None:
    flags = help_flags("handle", capsys)
    assert {"--uri", "--max-queue", "--breaker-reset", "--llm-timeout", "--embedder", "--data-dir"} <= flags
    assert not flags & {"--chunk-words", "--chunk-overlap", "--hnsw-threshold", "--rebuild"}
    flags = help_flags("serve", capsys)
    assert {"--asr-model", "--tts-voice", "--handle-top-k", "--wake-models", "--serve-services", "--zeroconf"} <= flags
    assert not [flag for flag in flags if flag.startswith(("--satellite-", "--handle-chunk", "--handle-hnsw"))]


FOREIGN = {"asr": {"--voice", "--top-k", "--refractory", "--mic-command"},
           "tts": {"--beam-size", "--llm-timeout", "--models", "--end-silence"},
           "wake": {"--model", "--voice", "--embedder", "--wake-word"}}  # fmt: skip


@pytest.mark.parametrize("command", sorted(FOREIGN))
def test_a_service_lists_its_own_and_the_server_flags_only(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    flags = help_flags(command, capsys)
    assert {"--uri", "--zeroconf", "--metrics-port", "--max-connections", "--debug", "--data-dir"} <= flags
    others = {"asr", "tts", "handle", "wake", "satellite", "serve"} - {command}
    assert not [flag for flag in flags if flag.removeprefix("--").split("-")[0] in others]
    assert not flags & FOREIGN[command]


def test_every_listed_setting_exists() -> None:
    for command in COMMANDS.values():
        assert set(command.only or ()) <= set(setting_fields(command.settings))
    assert {command.only for command in COMMANDS.values()} >= {INGEST_SETTINGS, ASK_SETTINGS, MODELS_SETTINGS}


def test_a_flag_another_command_owns_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["ingest", "--llm-timeout", "5", "docs"])
    assert done.value.code == 2
    assert "unrecognized arguments: --llm-timeout" in capsys.readouterr().err


def test_ingest_settings_come_from_the_environment_and_the_flag_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XNAI_HANDLE_CHUNK_WORDS", "55")
    monkeypatch.setenv("XNAI_MODELS_DIR", "/srv/models")  # not a flag of ingest, still a setting of its section
    settings = load_settings(build_parser().parse_args(["ingest", "docs"]))
    assert settings.handle_chunk_words == 55 and settings.models_dir == Path("/srv/models")
    assert not hasattr(settings, "handle_llm_timeout")  # answering's settings are not ingest's
    settings = load_settings(build_parser().parse_args(["ingest", "--chunk-words", "60", "docs"]))
    assert settings.handle_chunk_words == 60
