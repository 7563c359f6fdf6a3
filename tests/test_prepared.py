"""Answers prepared during the pause (handle/prepared.py): in process, the Preparer's own rules with a
computation the test holds and releases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from wyoming_xnai.handle.chain import NO_ANSWER, Answer
from wyoming_xnai.handle.prepared import KEEP_SECONDS, UNCLAIMED, Preparer, usable
from wyoming_xnai.handle.prompt import Turn
from wyoming_xnai.handle.replies import DONT_KNOW, Outcome
from wyoming_xnai.handle.server import worth_keeping

pytestmark = pytest.mark.anyio
BOILER = [Turn("Which company services the boiler?", "Hartwell Heating services the boiler.")]


class Work:
    """A computation each text of which runs until the test releases it."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.gates: dict[str, anyio.Event] = {}

    def release(self, text: str) -> None:
        self.gates.setdefault(text, anyio.Event()).set()

    async def __call__(self, text: str) -> str:
        self.started.append(text)
        try:
            await self.gates.setdefault(text, anyio.Event()).wait()
        except anyio.get_cancelled_exc_class():
            self.cancelled.append(text)
            raise
        return f"answer to {text}"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def running() -> AsyncIterator[tuple[Preparer[str], Work, Clock]]:
    work, clock = Work(), Clock()
    preparer = Preparer(work, clock=clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(preparer.run)
        yield preparer, work, clock
        tg.cancel_scope.cancel()


async def test_a_request_takes_the_finished_preparation_once(running) -> None:
    preparer, work, _ = running
    work.release("Where is the spare key?")
    assert preparer.offer("Where is the spare key?")
    await anyio.wait_all_tasks_blocked()
    assert not preparer.offer("Where is the spare key?")  # prepared already: not computed twice
    assert await preparer.answer_for("Where is the spare key?", [], {}) == "answer to Where is the spare key?"
    assert await preparer.answer_for("Where is the spare key?", [], {}) is None  # used once
    assert work.started == ["Where is the spare key?"]


async def test_a_request_awaits_its_preparation_in_flight(running) -> None:
    preparer, work, _ = running
    preparer.offer("When do the bins go out?")
    await anyio.wait_all_tasks_blocked()
    assert work.started == ["When do the bins go out?"]
    got: list[str | None] = []

    async def request() -> None:
        got.append(await preparer.answer_for("When do the bins go out?", [], {"conversation_id": "c1"}))

    async with anyio.create_task_group() as tg:
        tg.start_soon(request)
        await anyio.wait_all_tasks_blocked()
        assert got == []  # waiting for it
        assert preparer.offer("Something else?")  # a newer guess does not cancel what a request waits for
        await anyio.wait_all_tasks_blocked()
        work.release("When do the bins go out?")
    assert got == ["answer to When do the bins go out?"]
    assert work.cancelled == []


async def test_newest_offer_wins(running) -> None:
    preparer, work, _ = running
    preparer.offer("What is the wifi password?")
    await anyio.wait_all_tasks_blocked()
    preparer.offer("What is the alarm code?")
    await anyio.wait_all_tasks_blocked()
    assert work.cancelled == ["What is the wifi password?"]
    assert work.started == ["What is the wifi password?", "What is the alarm code?"]
    work.release("What is the alarm code?")
    assert await preparer.answer_for("What is the alarm code?", [], {}) == "answer to What is the alarm code?"


async def test_only_one_waits_to_run(running) -> None:
    preparer, work, _ = running
    for text in ("one?", "two?", "three?"):  # offered faster than the loop picks them up
        preparer.offer(text)
    await anyio.wait_all_tasks_blocked()
    assert work.started == ["three?"]


async def test_a_request_for_another_question_cancels_the_preparation(running) -> None:
    preparer, work, _ = running
    preparer.offer("Who is the vet?")
    await anyio.wait_all_tasks_blocked()
    with anyio.fail_after(5):  # it does not wait behind the guess
        assert await preparer.answer_for("Where is the stopcock?", [], {}) is None
    await anyio.wait_all_tasks_blocked()
    assert work.cancelled == ["Who is the vet?"]
    assert await preparer.answer_for("Who is the vet?", [], {}) is None
    assert not preparer.offer("Where is the stopcock?")  # came after its real request: too late to help


async def test_a_request_waiting_for_a_preparation_that_fails_computes_itself() -> None:
    failing = anyio.Event()

    async def broken(text: str) -> str:
        await failing.wait()
        raise RuntimeError("index gone")

    preparer: Preparer[str] = Preparer(broken)
    got: list[str | None] = []

    async def request() -> None:
        got.append(await preparer.answer_for("Who is the vet?", [], {}))

    async with anyio.create_task_group() as tg:
        tg.start_soon(preparer.run)
        preparer.offer("Who is the vet?")
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(request)
        await anyio.wait_all_tasks_blocked()
        failing.set()
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    assert got == [None]


async def test_a_prepared_answer_expires(running) -> None:
    preparer, work, clock = running
    work.release("Who is the vet?")
    preparer.offer("Who is the vet?")
    await anyio.wait_all_tasks_blocked()
    clock.now += KEEP_SECONDS + 1
    assert await preparer.answer_for("Who is the vet?", [], {}) is None


async def test_only_an_exact_request_gets_the_prepared_answer(running) -> None:
    """The preparation is computed without history or ASR confidence: a follow-up, or a request that brings
    its ASR confidence, would compute something else, so it computes itself."""
    preparer, work, _ = running
    cases = [("What is their phone number?", BOILER, {}), ("Where is the spare key?", [], {"asr": {"avg_logprob": -0.2}})]
    for question, history, context in cases:
        work.release(question)
        assert preparer.offer(question)
        await anyio.wait_all_tasks_blocked()
        assert await preparer.answer_for(question, history, context) is None
    assert work.started == [question for question, _, _ in cases]
    assert usable("What is their phone number?", [], {"conversation_id": "x"})  # no earlier turn: stands alone
    assert usable("Where is the spare key?", BOILER, {})  # not a follow-up: history plays no part


async def test_offers_stop_while_no_real_request_could_use_them(running) -> None:
    """An ASR whose transcripts go elsewhere costs a few answers, not one per utterance."""
    preparer, work, _ = running
    questions = [f"Question number {i}?" for i in range(UNCLAIMED + 1)]
    for question in questions:
        work.release(question)
    assert all(preparer.offer(question) for question in questions[:UNCLAIMED])
    assert not preparer.offer(questions[-1])
    assert await preparer.answer_for("What is their number?", BOILER, {}) is None  # could use none: no change
    assert not preparer.offer(questions[-1])
    assert await preparer.answer_for("Where is the spare key?", [], {}) is None  # could have used one
    assert preparer.offer(questions[-1])


def test_a_prepared_answer_is_kept_only_when_no_stage_failed() -> None:
    """A stage that failed or a busy LLM may go otherwise a moment later: the real request computes anew."""
    assert worth_keeping(Answer("It is under the flower pot.", "rag"))
    assert worth_keeping(Answer(DONT_KNOW, "template", problems={"llm": NO_ANSWER}, outcome=Outcome.NOT_IN_NOTES))
    assert not worth_keeping(Answer("The note says...", "template", problems={"llm": "took longer than 20 s"},
                                    outcome=Outcome.DEGRADED))  # fmt: skip
    assert not worth_keeping(Answer("Sorry, I am busy.", "busy", outcome=Outcome.BUSY))
    assert not worth_keeping(Answer("Thursday.", "llm", problems={"retrieval": "circuit breaker open"}))
