"""Logging set-up: plain lines for people, JSON lines for log collectors; what users said stays out.

Questions, transcripts and answers are private: a log line shows them only with `--debug` or
`--log-text`. Log them through `private(text)`, which otherwise prints as `<N chars>`; ids, lengths,
timings and outcomes are logged as they are.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time

_show_text = False


class Private:
    """User text in a log argument: itself with --log-text or --debug, else only its length."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text if _show_text else f"<{len(self.text)} chars>"

    def __repr__(self) -> str:
        return repr(self.text) if _show_text else f"<{len(self.text)} chars>"


class Throttle:
    """Says when a repeated message is due again: at most once every `seconds`, with how many were held
    back (a flood of refused clients must not become a flood of log lines)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last = -math.inf
        self._held = 0

    def due(self) -> int | None:
        """None while the message is held back; else how many were held back since it was last due."""
        now = time.monotonic()
        if now - self._last < self.seconds:
            self._held += 1
            return None
        held, self._held, self._last = self._held, 0, now
        return held


def private(text: str) -> Private:
    return Private(text)


def show_text(on: bool) -> None:
    global _show_text
    _show_text = on


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key.startswith("x_"):  # structured extras: log.info("...", extra={"x_stage": "llm"})
                entry[key[2:]] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(debug: bool, log_format: str = "text", log_text: bool = False) -> None:
    show_text(debug or log_text)
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for noisy in ("zeroconf", "faster_whisper", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not debug else logging.INFO)
