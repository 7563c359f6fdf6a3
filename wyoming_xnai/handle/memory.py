"""Conversation memory: the last few turns per `context.conversation_id`, bounded and expiring.

Home Assistant sends the same conversation_id on follow-up turns of one chat; a voice follow-up
("and what is their number?") needs the previous turn. Old conversations are forgotten after
`ttl` seconds, and only `max_conversations` are kept (least recently used go first).

A conversation is keyed by its id AND the address of the client that sent it (`conversation_key`): the
Wyoming port is open to the whole LAN, and an id can be guessed or overheard (Home Assistant's are random,
a satellite's may not be), so another device sending the same id starts a conversation of its own.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from wyoming_xnai.handle.expiring import ExpiringLru
from wyoming_xnai.handle.prompt import Turn


def conversation_key(client: str | None, conversation_id: str | None) -> str | None:
    """The memory key of a client's conversation (None: no id, nothing remembered)."""
    if not conversation_id:
        return None
    return f"{client or 'local'} {conversation_id}"


class ConversationMemory:
    def __init__(
        self,
        max_conversations: int = 256,
        max_turns: int = 3,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_turns = max_turns
        self._conversations: ExpiringLru[deque[Turn]] = ExpiringLru(max_conversations, ttl, clock)

    def __len__(self) -> int:
        return len(self._conversations)

    def history(self, conversation_id: str | None) -> list[Turn]:
        turns = self._conversations.get(conversation_id) if conversation_id else None
        return list(turns) if turns is not None else []

    def add(self, conversation_id: str | None, question: str, answer: str) -> None:
        if not conversation_id:
            return
        turns = self._conversations.get(conversation_id)
        if turns is None:
            turns = deque(maxlen=self._max_turns)
        turns.append(Turn(question, answer))
        self._conversations.put(conversation_id, turns)  # its time to expire starts again
