"""Giving memory back after large requests, so one long utterance or text does not keep the process big.

glibc keeps freed heap memory for reuse rather than returning it to the system: after a 2-minute
utterance the ASR's ~130 MiB of buffers stay resident although nothing uses them. `HeapTrimmer` asks
glibc to return what is free (`malloc_trim`) after each connection that carried requests, in a worker
thread.

onnxruntime keeps an arena of its own that grows to the largest run and never shrinks: Piper on one
300-character piece of text keeps ~330 MiB more for good. `ArenaBounded` wraps a session so that a run
with inputs bigger than usual hands its extra arena back when it ends; usual runs keep the arena (and
its speed).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

import anyio


def _malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


class HeapTrimmer:
    def __init__(self) -> None:
        self._trim = _malloc_trim()
        self._running = False

    async def after_request(self) -> None:
        """Return free heap memory to the system (a few ms; the first after a big request ~60 ms, in a
        worker thread), unless a trim is running already: it returns what this request freed too."""
        if self._trim is None or self._running:
            return
        self._running = True
        try:
            await anyio.to_thread.run_sync(self._trim, 0)
        finally:
            self._running = False

    def now(self) -> None:
        """Trim from the calling (worker) thread, for memory freed after its request's trim ran: a model
        call abandoned by its client returns later, with the request long closed."""
        if self._trim is not None:
            self._trim(0)


heap = HeapTrimmer()


class ArenaBounded:
    """An onnxruntime InferenceSession whose runs on inputs over `max_elements` shrink the arena back."""

    def __init__(self, session: Any, max_elements: int) -> None:
        import onnxruntime

        self._session = session
        self._max_elements = max_elements
        self._shrink = onnxruntime.RunOptions()
        self._shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def run(self, output_names: Any, input_feed: dict[str, Any], run_options: Any = None) -> Any:
        if any(getattr(value, "size", 0) > self._max_elements for value in input_feed.values()):
            run_options = self._shrink
        return self._session.run(output_names, input_feed, run_options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)
