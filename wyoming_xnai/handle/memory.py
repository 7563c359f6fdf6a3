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
from collections import OrderedDict, deque
from collections.abc import Callable

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
        self._max_conversations = max_conversations
        self._max_turns = max_turns
        self._ttl = ttl
        self._clock = clock
        self._conversations: OrderedDict[str, tuple[float, deque[Turn]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._conversations)

    def history(self, conversation_id: str | None) -> list[Turn]:
        if not conversation_id:
            return []
        entry = self._conversations.get(conversation_id)
        if entry is None:
            return []
        last_seen, turns = entry
        if self._clock() - last_seen > self._ttl:
            del self._conversations[conversation_id]
            return []
        return list(turns)

    def add(self, conversation_id: str | None, question: str, answer: str) -> None:
        if not conversation_id:
            return
        _, turns = self._conversations.pop(conversation_id, (0.0, deque(maxlen=self._max_turns)))
        turns.append(Turn(question, answer))
        self._conversations[conversation_id] = (self._clock(), turns)
        while len(self._conversations) > self._max_conversations:
            self._conversations.popitem(last=False)
