"""`xnai handle`: the Wyoming handle service (conversation agent for Home Assistant).

transcript{text, context.conversation_id} -> handled-start, handled-chunk per sentence, handled (the
full text: the only event Home Assistant reads), handled-stop (WYOMING_PROTOCOL.md 4.5). Each answer
runs in a task owned by its connection: when the client disconnects, the read loop ends and the
answer - including an LLM generation in progress or a place in the queue - is cancelled.

xnai-prepare{text, language} (from our ASR, during the speaker's pause) gets no reply: its answer is
computed in the service's background task, for the transcript that follows (prepared.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import anyio.lowlevel
from wyoming.asr import Transcript
from wyoming.event import Event
from wyoming.handle import Handled, HandledChunk, HandledStart, HandledStop
from wyoming.info import Attribution, HandleModel, HandleProgram, Info

from wyoming_xnai.client.prepare import PREPARE
from wyoming_xnai.handle.chain import NO_ANSWER, Answer, Answerer
from wyoming_xnai.handle.memory import conversation_key
from wyoming_xnai.handle.prepared import Preparer
from wyoming_xnai.handle.replies import Outcome
from wyoming_xnai.server.bootstrap import run
from wyoming_xnai.server.handler import ServiceHandler, event_data
from wyoming_xnai.server.metrics import LATENCY, REQUESTS
from wyoming_xnai.server.service import Service, model_fields, program_fields
from wyoming_xnai.settings import HandleSettings

_LOGGER = logging.getLogger(__name__)
MAX_PENDING = 2  # questions one connection may have in flight (Home Assistant sends one per connection)
# Prepared answers that a fresh computation might better: a stage failed, or the LLM was busy then.
NOT_KEPT = frozenset({Outcome.BUSY, Outcome.DEGRADED})
LLAMA = Attribution(name="llama.cpp via llama-cpp-python", url="https://github.com/abetlen/llama-cpp-python")


def worth_keeping(answer: Answer) -> bool:
    """A prepared answer the real request would compute again alike: no stage failed on the way (the LLM
    giving no answer that the notes bear out is its answer to this question, not a failure)."""
    failed = {stage: why for stage, why in answer.problems.items() if (stage, why) != ("llm", NO_ANSWER)}
    return not failed and answer.outcome not in NOT_KEPT


@dataclass(frozen=True)
class Prepared:
    """An answer computed ahead: the sentences in the order they were said, and the answer."""

    sentences: tuple[str, ...]
    answer: Answer


class HandleService(Service):
    name = "handle"

    def __init__(self, settings: HandleSettings, uri: str) -> None:
        super().__init__(settings, uri)
        self.answerer = Answerer(settings)
        name = self.answerer.llm.name
        model = HandleModel(**model_fields(name, f"{name} answering from your documents", LLAMA, ["en"]))
        program = HandleProgram(
            **program_fields("xnai-handle", "xnai answers from your documents (retrieval + local LLM)"),
            models=[model],
            supports_handled_streaming=True,
            supports_home_control=False,
        )
        self._info = Info(handle=[program])
        self.preparer: Preparer[Prepared] = Preparer(self._prepare)

    @property
    def model_name(self) -> str:
        return self.answerer.llm.name

    def info(self) -> Info:
        return self._info

    def load(self) -> None:
        # Never fails: a missing index or LLM degrades the answers, it does not take the service down.
        self.answerer.load()

    def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> HandleHandler:
        return HandleHandler(reader, writer, self)

    async def background(self) -> None:
        await self.preparer.run()

    async def _prepare(self, question: str) -> Prepared | None:
        """The answer a transcript of `question` gets with no history and no ASR confidence, computed
        without a conversation (memory is left alone); None if it is not worth keeping."""
        await self.ready.wait()
        sentences: list[str] = []

        async def keep(sentence: str) -> None:
            sentences.append(sentence)

        with anyio.move_on_after(self.settings.handle_answer_timeout):
            answer = await self.answerer.answer(question, None, keep, None)
            if not worth_keeping(answer):
                _LOGGER.debug("prepared answer not kept: %s (%s)", answer.outcome, ", ".join(answer.problems))
                return None
            _LOGGER.debug("answer prepared: %s by stage %s", answer.outcome, answer.stage)
            return Prepared(tuple(sentences), answer)
        return None


class HandleHandler(ServiceHandler[HandleService]):
    request_events = frozenset({"transcript", PREPARE})

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, svc: HandleService) -> None:
        super().__init__(reader, writer, svc)
        self._one_at_a_time = anyio.Lock()
        self._pending = 0  # questions of this connection not answered yet (answered in self.tasks)

    def working(self) -> bool:
        return self._pending > 0  # the client waits for an answer: not idle

    async def handle(self, event: Event) -> bool:
        if event.type == PREPARE:
            await self._on_prepare(event)
            return True
        if not Transcript.is_type(event.type):
            return True  # unknown events are dropped, as the protocol expects
        text = event_data(event, "text", str, "")
        if not await self._fits(text, "transcript"):
            return True
        context = event_data(event, "context", dict, {})
        conversation_id = context.get("conversation_id")
        if self._pending >= MAX_PENDING:
            await self.send_error("busy", f"{self._pending} questions of this connection are still being answered")
            return True
        self._pending += 1
        conversation = conversation_key(self.peer, conversation_id if isinstance(conversation_id, str) else None)
        self.tasks.start_soon(self._answer, self._fit(text), conversation, context)
        return True

    async def _fits(self, text: str, what: str) -> bool:
        """Within --max-text-chars; if not, the client is told."""
        limit = self.svc.settings.handle_max_text_chars
        if len(text) <= limit:
            return True
        await self.send_error("text-too-long", f"{what} of {len(text)} characters is over {limit}")
        return False

    async def _on_prepare(self, event: Event) -> None:
        """Start preparing the answer to a question that is likely coming; nothing is sent back but errors."""
        text, language = event.data.get("text"), event.data.get("language")
        if not isinstance(text, str) or not text.strip() or not isinstance(language, str | None):
            await self.send_error(
                "bad-request", f"{PREPARE} needs a non-empty string 'text' and an optional string 'language'"
            )
            return
        if not await self._fits(text, PREPARE):
            return
        question = self._fit(text).strip()
        if self.svc.preparer.offer(question):
            REQUESTS.labels("handle", "prepare").inc()
            _LOGGER.debug("preparing the answer to a question of %d characters", len(question))

    def _fit(self, text: str) -> str:
        """The question cut to what the LLM's context holds with the prompt around it: an over-long
        question is the client's doing and must not fail the LLM stage (nor open its breaker for all)."""
        llm = self.svc.answerer.llm
        fitted = llm.cut(text, llm.question_tokens)
        if len(fitted) < len(text):
            _LOGGER.info("question of %d characters cut to %d (%d tokens)", len(text), len(fitted), llm.question_tokens)
        return fitted

    async def _send(self, event: Event) -> None:
        try:
            await self.write_event(event)
        except (ConnectionError, RuntimeError):
            self.tasks.cancel_scope.cancel()  # client gone: cancel its generation
            await anyio.lowlevel.checkpoint()

    async def _answer_of(
        self, text: str, conversation_id: str | None, context: dict, chunk: Callable[[str], Awaitable[None]]
    ) -> tuple[Answer, bool]:
        """The answer, its sentences sent to `chunk`: the prepared one when it is exactly this request's
        (then True), else computed now."""
        answerer = self.svc.answerer
        question = text.strip()
        prepared = await self.svc.preparer.answer_for(question, answerer.memory.history(conversation_id), context)
        if prepared is not None:
            REQUESTS.labels("handle", "prepared").inc()
            _LOGGER.debug("answered with the prepared answer (%s)", prepared.answer.outcome)
            for sentence in prepared.sentences:
                await chunk(sentence)
            answerer.remember(conversation_id, question, prepared.answer)
            return prepared.answer, True
        asr = context.get("asr")
        return await answerer.answer(text, conversation_id, chunk, asr if isinstance(asr, dict) else None), False

    async def _answer(self, text: str, conversation_id: str | None, context: dict) -> None:
        REQUESTS.labels("handle", "transcript").inc()
        started = anyio.current_time()
        first: list[float] = []
        answered = False

        async def chunk(sentence: str) -> None:
            if not first:
                first.append(anyio.current_time() - started)
                LATENCY.labels("handle", "first_chunk").observe(first[0])
            # chunks concatenate to the answer; the space after each sentence tells a streaming TTS it is over
            await self._send(HandledChunk(text=sentence + " ").event())

        deadline = self.svc.settings.handle_answer_timeout
        try:
            await self.svc.ready.wait()  # a model still loading is not this question's wait
            with anyio.move_on_after(deadline):
                async with self._one_at_a_time:
                    await self._send(HandledStart(context=context).event())
                    answer, prepared = await self._answer_of(text, conversation_id, context, chunk)
                    # `handled` before `handled-stop`: Home Assistant closes the socket on `handled`.
                    # xnai_outcome (answered, not_in_notes, ask_again, ...), xnai_prepared: Home Assistant
                    # ignores them.
                    handled = {**context, "xnai_outcome": str(answer.outcome)}
                    if prepared:
                        handled["xnai_prepared"] = True
                    await self._send(Handled(text=answer.text, context=handled).event())
                    answered = True
                    await self._send(HandledStop().event())  # Home Assistant may have closed already: fine
            if not answered:
                await self.send_error("timeout", f"no answer within {deadline:g} s (--answer-timeout)")
        except anyio.get_cancelled_exc_class():
            if not answered:
                REQUESTS.labels("handle", "cancelled").inc()
                _LOGGER.info(
                    "answer to a question of %d characters cancelled (client gone or server stopping)", len(text)
                )
            raise
        except Exception as err:  # a bug must not end the connection's task group
            _LOGGER.exception("answering failed")
            await self.send_error("internal-error", f"internal error: {type(err).__name__}")
        finally:
            self._pending -= 1


def main(settings: HandleSettings, args: argparse.Namespace) -> int:
    return run([HandleService(settings, settings.handle_uri)], settings)
