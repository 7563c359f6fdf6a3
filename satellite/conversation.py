"""The conversation id the satellite sends to handle.

Handle keeps the earlier turns of a conversation under its id, so the id must be unguessable (anyone
on the LAN may send a transcript with any id): a random 128-bit token, kept while the conversation
goes on (follow-ups keep their context) and replaced after a long quiet gap.
"""

from __future__ import annotations

import secrets
import time


class Conversation:
    """Hands out the current conversation id; a new one after `idle_seconds` without a turn."""

    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self._id = ""
        self._last_used = 0.0

    def current(self, now: float | None = None) -> str:
        """The id for a turn happening now; using it keeps the conversation alive."""
        now = time.monotonic() if now is None else now
        if not self._id or now - self._last_used > self.idle_seconds:
            self._id = secrets.token_urlsafe(16)
        self._last_used = now
        return self._id

    def end(self) -> None:
        """The next turn starts a new conversation."""
        self._id = ""
