"""`xnai serve`: ASR, TTS, handle and wake word in one process, each on its own port, one metrics endpoint.

One process means each model is loaded once and the services share one event loop and thread pool;
one port per service kind keeps Home Assistant's entities clean. With `--serve-prepare` (the default)
the ASR offers its handle each question it hears complete during the pause (`--asr-prepare-uri`).
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

from wyoming_xnai.server.bootstrap import Service, run
from wyoming_xnai.settings import Settings

SERVICES = {
    "asr": "wyoming_xnai.asr.server:AsrService",
    "tts": "wyoming_xnai.tts.server:TtsService",
    "handle": "wyoming_xnai.handle.server:HandleService",
    "wake": "wyoming_xnai.wake.server:WakeService",
}
# Where a service bound to every address is reached from the same host
LOCAL = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


def local_uri(uri: str) -> str:
    """The address to reach a service listening on `uri` from this host (tcp://0.0.0.0:10600 -> 127.0.0.1)."""
    parts = urlsplit(uri)
    if parts.scheme != "tcp" or parts.hostname not in LOCAL:
        return uri
    host = LOCAL[parts.hostname or ""]
    netloc = f"[{host}]" if ":" in host else host
    return urlunsplit(parts._replace(netloc=f"{netloc}:{parts.port}" if parts.port else netloc))


def wired(settings: Settings) -> Settings:
    """The settings with the ASR's prepare URI pointed at this process's handle, when both run and it is on
    (and the user named no other)."""
    running = settings.serve.serve_services
    if not settings.serve.serve_prepare or "asr" not in running or "handle" not in running:
        return settings
    if settings.asr.asr_prepare_uri is not None:
        return settings
    asr = settings.asr.model_copy(update={"asr_prepare_uri": local_uri(settings.handle.handle_uri)})
    return replace(settings, asr=asr)


def build_services(settings: Settings) -> list[Service]:
    """Each service the serve section names, built with its own section."""
    settings = wired(settings)
    services = []
    for name in settings.serve.serve_services:
        module_name, class_name = SERVICES[name].split(":")
        service_class = getattr(importlib.import_module(module_name), class_name)
        section = getattr(settings, name)
        services.append(service_class(section, getattr(section, f"{name}_uri")))
    return services


def main(settings: Settings, args: argparse.Namespace) -> int:
    return run(build_services(settings), settings.serve)
