"""Client text made safe at the edge, before any service sees it.

JSON can carry what no model or encoder should get: lone surrogates (`"\\ud800"` decodes to a str that
cannot be encoded as UTF-8, so a tokenizer, a log line or our own reply raises) and control characters.
Every string in an event's data is cleaned once, here, so no stage downstream fails (and no circuit
breaker counts a failure) because of what a client typed.
"""

from __future__ import annotations

import re
from typing import Any

MAX_DEPTH = 32  # real Wyoming events nest 5 levels at most (info); deeper JSON is refused
_LONE_SURROGATES = re.compile("[\ud800-\udfff]")
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # all C0/C1 controls but tab, newline, CR


def nesting(value: Any) -> int:
    """How deep lists and objects nest in a decoded JSON value (iterative: no recursion to exhaust)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def clean_text(text: str) -> str:
    """`text` without lone surrogates, with control characters (but tab, newline, CR) as spaces."""
    if text.isascii() and text.isprintable():
        return text
    return _CONTROLS.sub(" ", _LONE_SURROGATES.sub("", text))


def clean_data(value: Any) -> Any:
    """Every string (keys too) of a decoded JSON value cleaned; callers have checked its nesting."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k): clean_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_data(v) for v in value]
    return value
