"""llama.cpp's log, and llama-cpp-python's, routed into our logger instead of silenced.

`Llama(verbose=False)` hides llama.cpp's chatter by dup2()ing /dev/null over fd 1 and 2 of the whole
process while the model loads: in `xnai serve` the other services' log lines of that moment vanish, and
so would a load error. Instead llama.cpp's log goes through `llama_log_set` to the `wyoming_xnai.llama`
logger (its errors and warnings as such, the rest at DEBUG), and the model is built with `verbose=True`
(no dup2) while llama-cpp-python's own prints go to the same logger at DEBUG.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
from collections.abc import Iterator

_LOGGER = logging.getLogger("wyoming_xnai.llama")
# ggml_log_level in the llama.cpp we build (include/ggml.h): 0 none, 1 debug, 2 info, 3 warn, 4 error,
# 5 continue the previous line. llama.cpp's info is detail for us: DEBUG.
_LEVELS = {0: logging.DEBUG, 1: logging.DEBUG, 2: logging.DEBUG, 3: logging.WARNING, 4: logging.ERROR}
_pending: list[str] = []  # the start of a line that llama.cpp writes in several calls
_level = [logging.DEBUG]
_callback = None  # the ctypes callback must stay referenced while llama.cpp holds it


def _on_log(level: int, text: bytes | None, _user_data: ctypes.c_void_p) -> None:
    try:
        if level != 5:
            _level[0] = _LEVELS.get(level, logging.DEBUG)
        _pending.append((text or b"").decode("utf-8", errors="replace"))
        joined = "".join(_pending)
        if "\n" not in joined:
            return
        _pending.clear()
        *lines, rest = joined.split("\n")
        if rest:
            _pending.append(rest)
        for line in lines:
            if line.strip():
                _LOGGER.log(_level[0], "%s", line.rstrip())
    except Exception:  # a log line must never raise into llama.cpp
        pass


def route_llama_log() -> None:
    """Send llama.cpp's log to our logger (after `import llama_cpp`, which installs a printer of its own)."""
    global _callback
    import llama_cpp

    if _callback is None:
        _callback = llama_cpp.llama_log_callback(_on_log)
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))


class _LogLines(io.TextIOBase):
    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                _LOGGER.debug("%s", line)
        return len(text)


@contextlib.contextmanager
def python_prints_logged() -> Iterator[None]:
    """While a model is built with verbose=True, llama-cpp-python's prints to sys.stderr go to our logger.

    sys.stderr is swapped for the whole process for that second: our log handlers keep the stream they
    were given at start, so the other services' log lines still reach the terminal."""
    with contextlib.redirect_stderr(_LogLines()):
        yield
