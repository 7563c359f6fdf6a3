"""xnai: private, local Wyoming voice services for Home Assistant."""

import os
from importlib.metadata import PackageNotFoundError, version

# onnxruntime (Piper, MiniLM, Silero VAD) ships Microsoft's 1DS telemetry, on Linux too since 1.2x: its
# native threads resolve mobile.events.data.microsoft.com. Nothing may leave the machine, so it is off
# before any onnxruntime session exists (tests/test_security.py watches the syscalls).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

try:
    __version__ = version("wyoming-xnai")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"
