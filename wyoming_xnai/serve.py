"""`xnai serve`: ASR, TTS, handle and wake word in one process, each on its own port, one metrics endpoint.

One process means each model is loaded once and the services share one event loop and thread pool;
one port per service kind keeps Home Assistant's entities clean.
"""

from __future__ import annotations

import argparse
import importlib

from wyoming_xnai.server.bootstrap import Service, run
from wyoming_xnai.settings import Settings

SERVICES = {
    "asr": "wyoming_xnai.asr.server:AsrService",
    "tts": "wyoming_xnai.tts.server:TtsService",
    "handle": "wyoming_xnai.handle.server:HandleService",
    "wake": "wyoming_xnai.wake.server:WakeService",
}


def build_services(settings: Settings) -> list[Service]:
    """Each service the serve section names, built with its own section."""
    services = []
    for name in settings.serve.serve_services:
        module_name, class_name = SERVICES[name].split(":")
        service_class = getattr(importlib.import_module(module_name), class_name)
        section = getattr(settings, name)
        services.append(service_class(section, getattr(section, f"{name}_uri")))
    return services


def main(settings: Settings, args: argparse.Namespace) -> int:
    return run(build_services(settings), settings.serve)
