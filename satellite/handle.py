"""Ask handle: the transcript goes out with the conversation id and the ASR's confidence; the answer
text comes back streamed (handled-chunk) and is passed on as it arrives."""

from __future__ import annotations

import logging
import time

from anyio.streams.memory import MemoryObjectSendStream
from wyoming.asr import Transcript
from wyoming.handle import Handled, HandledChunk, NotHandled

from satellite.discovery import Directory, Endpoint
from satellite.turn import Turn
from wyoming_xnai.client.connection import close, connect, read_event, write_event
from wyoming_xnai.client.failover import AllFailed, failover

_LOGGER = logging.getLogger(__name__)


class HandleClient:
    def __init__(self, directory: Directory, timeout: float, language: str | None) -> None:
        self.directory = directory
        self.timeout = timeout
        self.language = language

    async def answer(
        self, turn: Turn, conversation_id: str, candidates: list[Endpoint], send: MemoryObjectSendStream[str]
    ) -> None:
        """Streams the answer into `send`; the first instance that works answers. One that fails after
        some text was passed on is not replaced: the listener already heard the start."""
        pushed: list[str] = []

        async def ask(endpoint: Endpoint) -> None:
            await self._ask(endpoint, turn, conversation_id, send, pushed)

        def failed(endpoint: Endpoint, err: BaseException) -> bool:
            self.directory.mark_failed(endpoint, f"{type(err).__name__}: {err}")
            turn.errors.append(f"handle {endpoint.uri}: {err}")
            return not pushed

        async with send:
            try:
                await failover(candidates, ask, failed)
            except AllFailed as err:
                if pushed:
                    _LOGGER.warning("handle: failed mid-answer (%s); speaking what we have", err.last)
                else:
                    _LOGGER.error("handle: every instance failed")

    async def _ask(
        self,
        endpoint: Endpoint,
        turn: Turn,
        conversation_id: str,
        send: MemoryObjectSendStream[str],
        pushed: list[str],
    ) -> None:
        context: dict = {"conversation_id": conversation_id}
        if turn.asr_context is not None:
            context["asr"] = turn.asr_context
        client = await connect(endpoint.uri, self.timeout)
        try:
            request = Transcript(turn.transcript, language=self.language, context=context)
            await write_event(client, request.event(), self.timeout)
            while True:
                event = await read_event(client, self.timeout)
                if HandledChunk.is_type(event.type):
                    text = HandledChunk.from_event(event).text
                    if text:
                        pushed.append(text)
                        await _push(turn, send, text)
                elif Handled.is_type(event.type) or NotHandled.is_type(event.type):
                    final = event.data.get("text") or ""
                    if not pushed and final:
                        await _push(turn, send, final)
                    turn.answer = final or turn.answer
                    break
        finally:
            await close(client)
        turn.handle_uri = endpoint.uri
        self.directory.mark_ok(endpoint)


async def _push(turn: Turn, send: MemoryObjectSendStream[str], text: str) -> None:
    if not turn.first_text_at:
        turn.first_text_at = time.monotonic()
    if not turn.answer or not turn.answer.endswith(text):
        turn.answer += text
    await send.send(text)
