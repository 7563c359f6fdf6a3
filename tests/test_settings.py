"""The settings surface users depend on: every `XNAI_*` variable with its default, and every command's flags with
the variable each one sets, as they were before settings were split per component (tests/data/cli_surface.json,
written from the flat settings model). In process, no server."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from wyoming_xnai.cli import COMMANDS, build_parser, load_settings, main, setting_fields
from wyoming_xnai.settings import (
    AsrSettings,
    EmbedSettings,
    HandleSettings,
    IngestSettings,
    LogSettings,
    MetricsSettings,
    PathSettings,
    SatelliteSettings,
    Section,
    ServerSettings,
    ServeSettings,
    Settings,
    TtsSettings,
    WakeSettings,
)

SURFACE = json.loads((Path(__file__).parent / "data" / "cli_surface.json").read_text())
EVERY_SECTION = (LogSettings, PathSettings, MetricsSettings, ServerSettings, AsrSettings, TtsSettings, EmbedSettings,
                 IngestSettings, HandleSettings, WakeSettings, SatelliteSettings, ServeSettings)  # fmt: skip
# Flags a command offered without ever reading them: the ingest settings on the servers that only read the index.
DROPPED = {
    "handle": {"--chunk-words", "--chunk-overlap", "--hnsw-threshold"},
    "serve": {"--handle-chunk-words", "--handle-chunk-overlap", "--handle-hnsw-threshold"},
}
HOME = "/home/user"


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only the variables a test sets, no `.env`, and the home the pinned defaults were written with."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", HOME)
    for name in SURFACE["env"]:
        monkeypatch.delenv(name, raising=False)


def command_flags(name: str) -> dict[str, str | None]:
    """Each flag of `xnai NAME` and the variable it sets (None for an argument that is not a setting)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    known = setting_fields(COMMANDS[name].settings)
    found = {}
    for action in sub.choices[name]._actions:
        for flag in action.option_strings:
            if flag not in ("-h", "--help"):
                found[flag] = f"XNAI_{action.dest.upper()}" if action.dest in known else None
    return found


def jsonable(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    return [jsonable(v) for v in value] if isinstance(value, list) else value


def test_every_variable_is_still_read_with_its_default() -> None:
    defaults = {}
    for section in EVERY_SECTION:
        values = section()
        for name in section.model_fields:
            defaults[f"XNAI_{name.upper()}"] = jsonable(getattr(values, name))
    assert defaults == SURFACE["env"]


def test_each_variable_belongs_to_one_section_of_its_own() -> None:
    """A field is defined once; a section that needs another's fields builds on it (AsrSettings is a ServerSettings)."""
    owner: dict[str, type[Section]] = {}
    for section in EVERY_SECTION:
        own = set(section.model_fields) - {n for base in section.__mro__[1:] for n in getattr(base, "model_fields", {})}
        for name in own:
            assert name not in owner, f"{name} in {owner.get(name)} and {section}"
            owner[name] = section
    assert {f"XNAI_{name.upper()}" for name in owner} == set(SURFACE["env"])
    for section in EVERY_SECTION:  # the variable is the field's name: XNAI_ and the name in capitals
        assert section.model_config["env_prefix"] == "XNAI_" and not section.model_config.get("case_sensitive")
        assert all(info.description for info in section.model_fields.values())  # each flag's --help line


@pytest.mark.parametrize("name", sorted(SURFACE["commands"]))
def test_every_flag_keeps_its_name_and_its_variable(name: str) -> None:
    before = SURFACE["commands"][name]
    now = command_flags(name)
    assert now == {flag: env for flag, env in before.items() if flag not in DROPPED.get(name, set())}
    assert DROPPED.get(name, set()) <= set(before)


def test_a_variable_reaches_its_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XNAI_ASR_BEAM_SIZE", "3")
    monkeypatch.setenv("XNAI_DATA_DIR", "/srv/xnai")
    monkeypatch.setenv("XNAI_HANDLE_EMBED_THREADS", "2")
    monkeypatch.setenv("XNAI_SATELLITE_MIC_RATE", "48000")
    monkeypatch.setenv("XNAI_METRICS_PORT", "9090")
    asr = load_settings(build_parser().parse_args(["asr"]))
    assert isinstance(asr, AsrSettings) and asr.asr_beam_size == 3 and asr.metrics_port == 9090
    assert asr.models_dir == Path("/srv/xnai/models")
    assert load_settings(build_parser().parse_args(["satellite"])).satellite_mic_rate == 48000
    every = load_settings(build_parser().parse_args(["serve", "--data-dir", "/data", "--handle-top-k", "2"]))
    assert isinstance(every, Settings)
    assert {s.data_dir for s in (every.serve, every.asr, every.tts, every.handle, every.wake)} == {Path("/data")}
    assert every.handle.handle_top_k == 2 and every.handle.handle_embed_threads == 2
    assert every.asr.asr_beam_size == 3


# One setting of each shared kind of value (settings/fields.py), and one bound of a field's own on top of its kind.
OUT_OF_BOUNDS = [
    (["asr"], {"XNAI_ASR_MAX_QUEUE": "-1"}, "asr_max_queue: Input should be greater than or equal to 0"),
    (["tts", "--max-concurrent", "0"], {}, "tts_max_concurrent: Input should be greater than or equal to 1"),
    (["handle"], {"XNAI_HANDLE_ANSWER_TIMEOUT": "0"}, "handle_answer_timeout: Input should be greater than 0"),
    (["wake", "--idle-timeout", "-5"], {}, "idle_timeout: Input should be greater than 0"),
    (["asr", "--vad-endpointing", "-0.1"], {}, "asr_vad_endpointing: Input should be greater than or equal to 0"),
    (["asr"], {"XNAI_ASR_WINDOW": "31"}, "asr_window: Input should be less than or equal to 30"),
    (["satellite"], {"XNAI_SATELLITE_SPECULATE": "-1"}, "satellite_speculate: Input should be greater than or equal"),
]


@pytest.mark.parametrize(("argv", "env", "message"), OUT_OF_BOUNDS)
def test_a_value_out_of_its_bounds_is_refused_in_one_line_naming_the_setting(
    argv: list[str], env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as refused:
        main(argv)  # refused before the command runs: no server starts
    assert refused.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xnai: invalid setting: ") and message in err and len(err.splitlines()) == 1


def test_the_bound_itself_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XNAI_ASR_MAX_QUEUE", "0")  # no waiting: busy at once when every slot runs
    asr = load_settings(build_parser().parse_args(["asr", "--max-concurrent", "1", "--vad-endpointing", "0"]))
    assert isinstance(asr, AsrSettings)
    assert (asr.asr_max_queue, asr.asr_max_concurrent, asr.asr_vad_endpointing) == (0, 1, 0.0)
    handle = load_settings(build_parser().parse_args(["handle", "--answer-timeout", "0.01"]))
    assert isinstance(handle, HandleSettings) and handle.handle_answer_timeout == 0.01


def test_serve_points_its_asr_at_its_own_handle_unless_told_otherwise() -> None:
    from wyoming_xnai.serve import wired

    def prepare_uri(**given: object) -> str | None:
        return wired(Settings.load(given)).asr.asr_prepare_uri

    assert prepare_uri() == "tcp://127.0.0.1:10600"  # handle listens on every address: reached on loopback
    assert prepare_uri(handle_uri="tcp://[::]:10601") == "tcp://[::1]:10601"
    assert prepare_uri(serve_prepare=False) is None
    assert prepare_uri(asr_prepare_uri="unix:///run/xnai/handle.sock") == "unix:///run/xnai/handle.sock"
    assert prepare_uri(serve_services=["asr", "tts"]) is None  # no handle of its own to prepare
    assert AsrSettings().asr_prepare_uri is None  # `xnai asr` alone: off unless given
