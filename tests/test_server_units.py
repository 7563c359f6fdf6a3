"""In-process unit tests of the shared server layer: the framing guard, the work queue, the circuit
breakers, connection limits, text cleaning at the edge, conversation keys and private log text."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import anyio
import pytest
from wyoming.event import async_read_event

from wyoming_xnai.handle.breakers import Breakers, OpenedState, RequestFault
from wyoming_xnai.handle.memory import ConversationMemory, conversation_key
from wyoming_xnai.server.handler import FrameError, GuardedReader
from wyoming_xnai.server.limits import ConnectionLimit
from wyoming_xnai.server.logs import private, show_text
from wyoming_xnai.server.queue import Busy, WorkQueue
from wyoming_xnai.server.sanitize import MAX_DEPTH, clean_data, clean_text, nesting

pytestmark = pytest.mark.anyio


# --- the framing guard ----------------------------------------------------------------------------


async def read_guarded(raw: bytes, max_bytes: int = 1024):
    """What wyoming's reader makes of `raw` through the guard (the fake reader is a real StreamReader)."""
    reader = asyncio.StreamReader()
    reader.feed_data(raw)
    reader.feed_eof()
    return await async_read_event(GuardedReader(reader, max_bytes))  # type: ignore[arg-type]


async def refused(raw: bytes, max_bytes: int = 1024) -> str:
    with pytest.raises(FrameError) as caught:
        await read_guarded(raw, max_bytes)
    return caught.value.code


async def test_guard_passes_a_well_formed_event_with_data_and_payload() -> None:
    data = json.dumps({"rate": 16000, "width": 2, "channels": 1}).encode()
    header = json.dumps({"type": "audio-chunk", "data_length": len(data), "payload_length": 4}).encode()
    event = await read_guarded(header + b"\n" + data + b"\x01\x02\x03\x04")
    assert event.type == "audio-chunk" and event.data["rate"] == 16000 and event.payload == b"\x01\x02\x03\x04"
    assert await read_guarded(b"") is None  # a clean end of stream


class Sink:
    """A StreamWriter's write side that keeps what it is given."""

    def __init__(self) -> None:
        self.written = bytearray()

    def writelines(self, parts) -> None:
        self.written.extend(b"".join(parts))

    def write(self, part: bytes) -> None:
        self.written.extend(part)

    async def drain(self) -> None:
        return None


async def test_events_encoded_in_one_buffer_read_back_as_the_library_writes_them() -> None:
    """`write_events` sends many events as one buffer: the bytes are the library's own framing."""
    from wyoming.audio import AudioChunk, AudioStop
    from wyoming.event import Event, async_write_event

    from wyoming_xnai.server.encode import encode, encode_all

    events = [
        AudioChunk(rate=22050, width=2, channels=1, audio=b"\x01\x02" * 8).event(),
        AudioStop().event(),
        Event("transcript", {"text": "Grüße"}),
        Event("bare", {}, b"pay"),
    ]
    for event in events:
        sink = Sink()
        await async_write_event(event, sink)  # type: ignore[arg-type]
        assert encode(event) == bytes(sink.written)
    reader = asyncio.StreamReader()
    reader.feed_data(encode_all(events))
    reader.feed_eof()
    back = [await async_read_event(reader) for _ in events]
    assert [(e.type, e.data, e.payload) for e in back] == [(e.type, e.data, e.payload or None) for e in events]
    assert await async_read_event(reader) is None


async def test_guard_refuses_bad_frames_with_a_code_each() -> None:
    assert await refused(b'{"type": "audio-chunk", "payload_length": 1025}\n') == "payload-too-large"
    assert await refused(b'{"type": "x", "data_length": -1}\n') == "malformed-header"
    assert await refused(b'{"type": "x", "data_length": true}\n') == "malformed-header"
    assert await refused(b"[1, 2]\n") == "malformed-header"
    assert await refused(b'{"type": 5}\n') == "malformed-header"
    assert await refused(b"\xff\xfe\n") == "malformed-header"
    assert await refused(b'{"type": "x", "data_length": 5}\n[1,2]') == "malformed-data"
    assert await refused(b'{"type": "x", "payload_length": 10}\nabc') == "truncated-frame"
    assert await refused(b'{"type": "x"') == "truncated-frame"
    assert await refused(b'{"type": "' + b"a" * 70_000 + b'"}\n', 1 << 20) == "header-too-large"


async def test_guard_refuses_deeply_nested_json_without_recursing() -> None:
    deep = b'{"type": "x", "data": ' + b'{"a": ' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1) + b"}\n"
    assert await refused(deep) == "bad-request"
    very_deep = b'{"type": "x", "data": ' + b"[" * 20_000 + b"]" * 20_000 + b"}\n"  # RecursionError in json
    assert await refused(very_deep, 1 << 20) == "bad-request"
    block = b"[" * 50_000 + b"]" * 50_000
    assert await refused(b'{"type": "x", "data_length": %d}\n' % len(block) + block, 1 << 20) == "bad-request"


# --- text cleaned at the edge ---------------------------------------------------------------------


def test_clean_text_drops_lone_surrogates_and_blanks_control_characters() -> None:
    assert clean_text("what is\ud800 the code?") == "what is the code?"
    assert clean_text("a\x00b\x1bc\x7fd\x85e") == "a b c d e"
    assert clean_text("tab\tnew\nline\r") == "tab\tnew\nline\r"  # whitespace stays
    assert clean_text("naïve café 😀 日本") == "naïve café 😀 日本"  # real text is untouched
    assert clean_text("plain") == "plain"
    cleaned = clean_data({"text": "x\udfff", "context": {"k\x00": ["\ud800y", 1, None]}})
    assert cleaned == {"text": "x", "context": {"k ": ["y", 1, None]}}
    json.dumps(cleaned, ensure_ascii=False).encode("utf-8")  # encodable again: our reply can echo it


def test_nesting() -> None:
    assert nesting(1) == 0
    assert nesting({"a": [1, {"b": 2}]}) == 3
    assert nesting([[[[]]]]) == 4


# --- connection limits ------------------------------------------------------------------------


def test_connection_limit_per_client_address_below_the_service_cap() -> None:
    limit = ConnectionLimit(limit=5, per_peer=2)
    assert limit.admit("10.0.0.2") is None and limit.admit("10.0.0.2") is None
    assert "per client" in (limit.admit("10.0.0.2") or "")  # that device is at its cap...
    assert limit.admit("10.0.0.3") is None  # ...another one is still served
    assert limit.admit(None) is None and limit.admit(None) is None  # local sockets count only in all
    assert "its limit" in (limit.admit("10.0.0.4") or "")  # the service cap
    limit.release("10.0.0.2")
    assert limit.admit("10.0.0.2") is None
    assert limit.from_peer("10.0.0.2") == 2
    assert ConnectionLimit(limit=3, per_peer=10).per_peer == 3


# --- the work queue ---------------------------------------------------------------------------


async def test_work_queue_runs_a_few_queues_a_few_and_refuses_the_rest() -> None:
    queue = WorkQueue("unit", max_running=1, max_waiting=1)
    release = anyio.Event()
    entered: list[str] = []
    outcomes: dict[str, str] = {}

    async def request(name: str, admitted: bool = False) -> None:
        try:
            async with queue.slot(admitted=admitted):
                entered.append(name)
                await release.wait()
            outcomes[name] = "ran"
        except Busy:
            outcomes[name] = "busy"

    async with anyio.create_task_group() as tg:
        tg.start_soon(request, "first")
        await wait_for(lambda: entered == ["first"])
        tg.start_soon(request, "second")  # waits
        await wait_for(lambda: queue.waiting == 1)
        tg.start_soon(request, "third")  # the line is full
        await wait_for(lambda: "third" in outcomes)
        tg.start_soon(request, "piece", True)  # a later step of an admitted request waits, never busy
        await wait_for(lambda: queue.waiting == 2)
        release.set()
    assert outcomes == {"first": "ran", "second": "ran", "third": "busy", "piece": "ran"}
    assert entered[0] == "first" and set(entered) == {"first", "second", "piece"}
    assert queue.waiting == 0


async def test_an_abandoned_model_call_keeps_its_slot_until_it_returns() -> None:
    queue = WorkQueue("unit-abandon", max_running=1, max_waiting=4)
    returned = threading.Event()
    go_on = threading.Event()

    def stuck_model_call() -> str:
        go_on.wait(10)
        returned.set()
        return "late"

    with anyio.move_on_after(0.2):  # the request's deadline
        async with queue.slot() as slot:
            await slot.run_sync(stuck_model_call)
    assert not returned.is_set()  # the call still runs in its thread...
    got_slot = anyio.Event()

    async def next_request() -> None:
        async with queue.slot():
            got_slot.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(next_request)
        await wait_for(lambda: queue.waiting == 1)
        assert not got_slot.is_set()  # ...and holds the slot: nothing piles onto a stuck model
        go_on.set()
        with anyio.fail_after(10):
            await got_slot.wait()  # once it returns, the slot is free again
    assert returned.is_set()


async def wait_for(condition, timeout: float = 10.0) -> None:
    """Poll a condition; the timeout is only a safety net."""
    deadline = anyio.current_time() + timeout
    while not condition():
        if anyio.current_time() > deadline:
            raise AssertionError("condition not reached")
        await anyio.sleep(0.01)


# --- circuit breakers -------------------------------------------------------------------------


class StageBroke(Exception):
    pass


async def guarded(breakers: Breakers, name: str, error: BaseException | None) -> str:
    try:
        async with breakers.guard(name):
            if error is not None:
                raise error
    except OpenedState:
        return "open"
    except (StageBroke, RequestFault):
        return "failed"
    return "ok"


async def test_breaker_opens_on_stage_faults_only_and_retries_after_its_reset() -> None:
    breakers = Breakers(["unit-llm"], failures=2, reset_seconds=0.2)
    for _ in range(5):  # a request's own fault, however often, never opens it
        assert await guarded(breakers, "unit-llm", RequestFault("question too long")) == "failed"
    with anyio.CancelScope() as scope:  # nor does a client that leaves mid-call
        scope.cancel()
        await guarded(breakers, "unit-llm", None)
    assert not await breakers.is_open("unit-llm") and breakers.states["unit-llm"] == "closed"
    assert await guarded(breakers, "unit-llm", StageBroke()) == "failed"
    assert await guarded(breakers, "unit-llm", StageBroke()) == "failed"  # the second in a row opens it
    assert await breakers.is_open("unit-llm") and breakers.states["unit-llm"] == "opened"
    assert await guarded(breakers, "unit-llm", None) == "open"  # refused at once while open
    deadline = anyio.current_time() + 5
    while await breakers.is_open("unit-llm"):  # poll the breaker's own clock until the retry is due
        assert anyio.current_time() < deadline
        await anyio.sleep(0.02)
    assert await guarded(breakers, "unit-llm", None) == "ok"  # the retry works: closed again
    assert breakers.states["unit-llm"] == "closed"


# --- conversations and logs -------------------------------------------------------------------


def test_a_conversation_is_readable_only_by_the_client_that_holds_it() -> None:
    memory = ConversationMemory()
    kitchen = conversation_key("192.168.1.20", "xnai-satellite-kitchen")
    memory.add(kitchen, "What is the alarm code?", "It is 4711.")
    assert [t.question for t in memory.history(kitchen)] == ["What is the alarm code?"]
    intruder = conversation_key("192.168.1.66", "xnai-satellite-kitchen")  # same id, another device
    assert intruder != kitchen and memory.history(intruder) == []
    assert conversation_key("192.168.1.20", None) is None and conversation_key(None, "x") == "local x"


def test_user_text_is_logged_only_when_asked_for(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("unit.private")
    try:
        show_text(False)
        with caplog.at_level(logging.INFO):
            log.info("question %r answered", private("where is the spare key?"))
        assert "spare key" not in caplog.text and "<23 chars>" in caplog.text
        caplog.clear()
        show_text(True)
        with caplog.at_level(logging.INFO):
            log.info("question %r answered", private("where is the spare key?"))
        assert "'where is the spare key?'" in caplog.text
    finally:
        show_text(False)


def test_an_expiring_map_is_bounded_and_forgets() -> None:
    from wyoming_xnai.handle.expiring import ExpiringLru

    now = [0.0]
    items: ExpiringLru[str] = ExpiringLru(size=2, ttl=10, clock=lambda: now[0])
    items.put("a", "1")
    items.put("b", "2")
    assert items.get("a") == "1"  # now the most recently used
    items.put("c", "3")
    assert items.get("b") is None and len(items) == 2  # the least recently used went
    now[0] = 5
    items.put("c", "4")  # putting again starts its time again
    now[0] = 12
    assert list(items.fresh()) == ["4"] and items.get("a") is None and len(items) == 1
