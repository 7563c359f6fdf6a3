"""The `xnai-prepare` event: the ASR tells handle, during the speaker's pause, which question is likely coming.

Data `{"text": str, "language": str}`. Handle starts answering it in the background and answers nothing
to this event (a bad one gets an `error`), so the sender writes it and closes at once. Home Assistant's
real `transcript` with the same text then gets the prepared answer (handle/prepared.py decides when that
is exactly the answer it would have computed).
"""

from __future__ import annotations

from wyoming.event import Event

from wyoming_xnai.client.connection import close, connect, write_event

PREPARE = "xnai-prepare"


def prepare_event(text: str, language: str | None) -> Event:
    data: dict[str, str] = {"text": text}
    if language:
        data["language"] = language
    return Event(PREPARE, data)


async def offer_preparation(uri: str, text: str, language: str | None, timeout: float) -> None:
    """Send one `xnai-prepare` to `uri` and close; OSError/TimeoutError when the service is not there in time."""
    client = await connect(uri, timeout)
    try:
        await write_event(client, prepare_event(text, language), timeout)
    finally:
        await close(client)
