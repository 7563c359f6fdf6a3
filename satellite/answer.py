"""The answer to one utterance, as a task of its own: transcript -> (wake phrase) -> handle -> TTS ->
speaker. It runs while the satellite keeps listening, so the wake word can interrupt it (cancel), and
it may start before the user is done (speculation): it plays only once `commit` is set."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Literal

import anyio

from satellite.asr_stream import AsrStream, confidence
from satellite.conversation import Conversation
from satellite.discovery import NoService
from satellite.respond import Responder
from satellite.turn import Turn
from satellite.wake_phrase import strip_wake_phrase, strip_wake_tail
from wyoming_xnai.server.logs import private

_LOGGER = logging.getLogger(__name__)
Outcome = Literal["answered", "heard-nothing", "not-for-me", "awake", "interrupted"]


@dataclass
class Answer:
    """A running answer: cancel `scope` to stop it (the speaker goes silent at once)."""

    turn: Turn
    asr: AsrStream
    wake_phrase: str | None = None  # required at the start of the transcript (not after a wake word)
    spoken_wake_word: str | None = None  # the wake word's phrase, dropped if ASR heard it (pre-roll)
    commit: anyio.Event = field(default_factory=anyio.Event)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    finished: anyio.Event = field(default_factory=anyio.Event)
    outcome: Outcome | None = None

    async def stop(self) -> None:
        """Cancel it and wait until it is silent."""
        self.scope.cancel()
        await self.finished.wait()


async def run_answer(answer: Answer, responder: Responder, conversation: Conversation) -> None:
    try:
        with answer.scope:
            answer.outcome = await _answer(answer, responder, conversation)
        if answer.scope.cancelled_caught:
            answer.outcome = "interrupted"
    except Exception:  # a bug in one answer must not end the satellite
        _LOGGER.exception("the answer failed; listening again")
        answer.outcome = "heard-nothing"
    finally:
        if answer.commit.is_set() or answer.outcome != "interrupted":  # a dropped speculation leaves
            with anyio.CancelScope(shield=True):  # the stream to the listener, which goes on with it
                await answer.asr.aclose()
        answer.finished.set()


async def _answer(answer: Answer, responder: Responder, conversation: Conversation) -> Outcome:
    turn = answer.turn
    turn.asr_stop_at = time.monotonic()
    try:
        transcript = await answer.asr.finish()
    except NoService as err:
        _LOGGER.error("asr: %s", err)
        turn.errors.append(str(err))
        return "heard-nothing"
    turn.transcript = transcript.text.strip()
    turn.asr_context = confidence(transcript)
    turn.transcript_at = time.monotonic()
    turn.asr_uri = answer.asr.endpoint.uri if answer.asr.endpoint else ""
    _LOGGER.info("transcript: %r", private(turn.transcript))
    if answer.spoken_wake_word:
        turn.transcript = strip_wake_tail(turn.transcript, answer.spoken_wake_word)
    if not turn.transcript:
        return "heard-nothing"
    if answer.wake_phrase:
        request = strip_wake_phrase(turn.transcript, answer.wake_phrase)
        if request is None:
            _LOGGER.info("not for me (no wake phrase)")
            return "not-for-me"
        if not request:
            await answer.commit.wait()
            return "awake"  # "computer" ... pause ... the question
        turn.transcript = request
    turn.conversation_id = conversation.current()
    await responder.respond(turn, turn.conversation_id, answer.commit)
    await answer.commit.wait()
    turn.done_at = time.monotonic()
    _LOGGER.info("answer: %r", private(turn.answer))
    _LOGGER.info("timings: %s", ", ".join(f"{k} {v:.3f} s" for k, v in turn.stages().items()))
    turn.record()
    return "answered"
