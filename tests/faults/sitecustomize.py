"""Fault injection for server subprocesses, loaded by Python at start-up when this folder is on PYTHONPATH.

Only for faults a test cannot cause for real (a model call that raises or hangs). The environment says
what to break, and a switch file says when, so a test can turn a fault on and off in a running server:

    XNAI_TEST_FAULTS="wyoming_xnai.asr.transcriber:Transcriber.transcribe=raise;llama_cpp:Llama.__call__=hang"
    XNAI_TEST_FAULT_SWITCH=/tmp/x/fault-on      (fault active while this file exists)

`raise` raises RuntimeError("injected fault"); `hang` blocks until the switch file is removed, then raises.
"""

from __future__ import annotations

import functools
import importlib
import os
import time


def _active() -> bool:
    switch = os.environ.get("XNAI_TEST_FAULT_SWITCH")
    return bool(switch) and os.path.exists(switch)


def _wrap(original, mode: str):
    @functools.wraps(original)
    def faulty(*args, **kwargs):
        if _active():
            if mode == "hang":
                while _active():
                    time.sleep(0.05)
            raise RuntimeError("injected fault")
        return original(*args, **kwargs)

    return faulty


def _install(spec: str) -> None:
    target, mode = spec.split("=")
    module_name, path = target.split(":")
    owner = importlib.import_module(module_name)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    setattr(owner, name, _wrap(getattr(owner, name), mode))


for _spec in filter(None, os.environ.get("XNAI_TEST_FAULTS", "").split(";")):
    _install(_spec.strip())
