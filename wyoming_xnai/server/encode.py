"""Wyoming events as the bytes on the wire, so that many can go out in one write.

`wyoming.event.async_write_event` sends each event as up to three socket writes (header line, data,
payload). A piece of speech is ~30 audio chunks, and ~90 small sends with a client woken for each cost
more than the synthesis of a short sentence's last few milliseconds; one buffer costs one send.
The format is the library's: a JSON header line with `version`, `data_length` and `payload_length`,
then the data as JSON, then the payload.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from wyoming.event import Event
from wyoming.version import __version__ as WYOMING_VERSION


def encode(event: Event) -> bytes:
    """One event, framed exactly as `async_write_event` frames it."""
    header: dict = {"type": event.type, "version": WYOMING_VERSION}
    data = json.dumps(event.data, ensure_ascii=False).encode("utf-8") if event.data else b""
    if data:
        header["data_length"] = len(data)
    if event.payload:
        header["payload_length"] = len(event.payload)
    line = json.dumps(header, ensure_ascii=False).encode("utf-8")
    return b"".join((line, b"\n", data, event.payload or b""))


def encode_all(events: Iterable[Event]) -> bytes:
    return b"".join(encode(event) for event in events)
