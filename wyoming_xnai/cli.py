"""`xnai` command line: one subcommand per job, flags generated from the settings sections the job reads.

Flags are built from the fields of the command's settings section so that a flag and its `XNAI_*` environment
variable can never drift apart. Flags not given on the command line fall back to the environment, `.env`, then
defaults.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from wyoming_xnai import __version__
from wyoming_xnai.errors import UserError
from wyoming_xnai.settings import (
    AsrSettings,
    HandleSettings,
    IngestSettings,
    LogSettings,
    SatelliteSettings,
    Section,
    Settings,
    TtsSettings,
    WakeSettings,
)

# The local commands get exactly the settings their code reads; the rest still come from the environment.
INGEST_SETTINGS = ("data_dir", "handle_embedder", "handle_chunk_words", "handle_chunk_overlap", "handle_hnsw_threshold")
ASK_SETTINGS = (
    "debug", "data_dir", "models_dir", "handle_model", "handle_prompt_style", "handle_embedder", "handle_threads",
    "handle_threads_after_first", "handle_context_size", "handle_max_tokens", "handle_mlock", "handle_f16_kv",
    "handle_top_k", "handle_embed_threads", "handle_llm_timeout", "handle_retrieval_timeout", "handle_closest_note",
    "handle_memory_turns",
)  # fmt: skip
MODELS_SETTINGS = (
    "data_dir", "models_dir", "asr_model", "asr_compute_type", "tts_voice", "tts_voice_dir", "handle_model",
    "wake_models",
)  # fmt: skip
# Numeric settings where 0 turns a feature off: they also get a `--no-FLAG` (the same as `--FLAG 0`)
OFF_AT_ZERO = frozenset({"asr_vad_endpointing"})

SettingsKind = type[Section] | type[Settings]


@dataclass(frozen=True)
class Command:
    help: str
    run: str  # "module:function", imported only when the command runs (keeps `--help` instant)
    settings: SettingsKind  # what the function gets: one section, or every service's (`Settings`)
    short: bool = True  # a service's own flags without its name (`asr_model` -> --model); False: --asr-model
    extra: Callable[[argparse.ArgumentParser], None] | None = None
    only: tuple[str, ...] | None = None  # of the section's settings, only these are flags (None: all of them)


def _ingest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="Files or folders to index")
    p.add_argument("--rebuild", action="store_true", help="Drop the index and build it anew")


def _ask_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("question", help="The question to answer")


def _health_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--uri", default="tcp://127.0.0.1:10300", help="Wyoming service to describe")
    p.add_argument("--timeout", type=float, default=3.0, help="Seconds to wait for the answer")


def _models_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verify", action="store_true", help="Load every model once to prove it works")


COMMANDS: dict[str, Command] = {
    "asr": Command("Run the speech-to-text server", "wyoming_xnai.asr.server:main", AsrSettings),
    "tts": Command("Run the text-to-speech server", "wyoming_xnai.tts.server:main", TtsSettings),
    "handle": Command("Run the question-answering (handle) server", "wyoming_xnai.handle.server:main", HandleSettings),
    "wake": Command("Run the wake-word server", "wyoming_xnai.wake.server:main", WakeSettings),
    "serve": Command(
        "Run ASR, TTS, handle and wake word in one process, each on its own port",
        "wyoming_xnai.serve:main",
        Settings,
        short=False,
    ),
    "satellite": Command(
        "Run a room device: microphone in, spoken answer out (also `xnai-satellite`)",
        "satellite.__main__:run",
        SatelliteSettings,
    ),
    "ingest": Command(
        "Index documents for the handle server",
        "wyoming_xnai.rag.ingest:main",
        IngestSettings,
        extra=_ingest_args,
        only=INGEST_SETTINGS,
    ),
    "ask": Command(
        "Answer a question from the indexed documents and print the sources",
        "wyoming_xnai.handle.ask:main",
        HandleSettings,
        extra=_ask_args,
        only=ASK_SETTINGS,
    ),
    "models": Command(
        "List the models xnai uses and check they are installed",
        "wyoming_xnai.models:main",
        Settings,
        short=False,
        extra=_models_args,
        only=MODELS_SETTINGS,
    ),
    "health": Command(
        "Describe a running service (exit 0 when it answers)",
        "wyoming_xnai.health:main",
        LogSettings,
        extra=_health_args,
        only=("debug",),
    ),
}


def sections(kind: SettingsKind) -> tuple[type[Section], ...]:
    return kind.sections if issubclass(kind, Settings) else (kind,)


def setting_fields(kind: SettingsKind) -> dict[str, tuple[FieldInfo, str]]:
    """Every setting the kind of settings has, with the prefix of the section it belongs to."""
    found: dict[str, tuple[FieldInfo, str]] = {}
    for section in sections(kind):
        for name, info in section.model_fields.items():
            found.setdefault(name, (info, section.prefix))
    return found


def flags(command: Command) -> Iterator[tuple[str, str, FieldInfo]]:
    """(setting, flag name, field) of each setting the command offers as a flag."""
    for name, (info, prefix) in setting_fields(command.settings).items():
        if command.only is not None and name not in command.only:
            continue
        own = prefix and name.startswith(prefix + "_")
        yield name, name.removeprefix(prefix + "_") if own and command.short else name, info


def _env_name(name: str) -> str:
    return f"XNAI_{name.upper()}"


def _add_setting(parser: argparse.ArgumentParser, name: str, flag_name: str, info: FieldInfo) -> None:
    annotation = info.annotation
    flag = "--" + flag_name.replace("_", "-")
    default = info.get_default(call_default_factory=True)
    help_text = f"{info.description or ''} [env {_env_name(name)}; default {default!r}]"
    kwargs: dict[str, typing.Any] = {"dest": name, "default": argparse.SUPPRESS, "help": help_text}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif name == "zeroconf":
        # Wyoming convention: `--zeroconf` alone uses the default name, `--zeroconf NAME` sets it.
        kwargs.update(nargs="?", const="", metavar="NAME")
    elif origin is list:
        kwargs["action"] = "append"
    elif origin is typing.Literal:
        kwargs["choices"] = list(args)
    elif origin in (typing.Union, types.UnionType) and type(None) in args:
        inner = next(a for a in args if a is not type(None))
        if typing.get_origin(inner) is typing.Literal:
            kwargs["choices"] = list(typing.get_args(inner))
    parser.add_argument(flag, **kwargs)
    if name in OFF_AT_ZERO:
        off = "--no-" + flag.removeprefix("--")
        parser.add_argument(off, dest=name, action="store_const", const=0.0, default=argparse.SUPPRESS,
                            help=f"Turn it off (the same as {flag} 0)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xnai", description="Private, local Wyoming voice services")
    parser.add_argument("--version", action="version", version=f"xnai {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for cmd_name, cmd in COMMANDS.items():
        p = sub.add_parser(cmd_name, help=cmd.help, description=cmd.help)
        for name, flag_name, info in flags(cmd):
            _add_setting(p, name, flag_name, info)
        if cmd.extra:
            cmd.extra(p)
    return parser


def load_settings(args: argparse.Namespace) -> Section | Settings:
    """The command's settings: its flags first, then the environment, `.env` and the defaults."""
    return COMMANDS[args.command].settings.load(vars(args))


def _one_line(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args)
    except ValidationError as err:
        parser.exit(2, f"xnai: invalid setting: {_one_line(err)}\n")
    module_name, func_name = COMMANDS[args.command].run.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    try:
        return int(func(settings, args) or 0)
    except KeyboardInterrupt:
        return 130
    except UserError as err:
        print(f"xnai: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
