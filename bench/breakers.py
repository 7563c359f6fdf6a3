"""Why handle's circuit breakers use purgatory and not pycircuitbreaker: the same failing async call, counted.

    uv run --with pycircuitbreaker==0.5.0 python -m bench.breakers

handle's model stages are coroutines. A breaker must see each one fail. pycircuitbreaker 0.5.0 wraps a plain
call: on an `async def` the call returns an un-awaited coroutine at once, the breaker records a success, and
the exception is raised later, when the caller awaits it, outside the breaker. purgatory awaits the block
inside its own `async with`, so it sees the exception, and also (our `Breakers`) leaves cancellation out.
Each breaker gets THRESHOLD + 2 calls of a coroutine that always raises; the table says what it counted.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel

from bench.support import table

THRESHOLD = 3
CALLS = THRESHOLD + 2


class ModelDown(RuntimeError):
    """What a failing model stage raises."""


async def failing_stage() -> str:
    await anyio.lowlevel.checkpoint()
    raise ModelDown("the model is down")


def count_failures(factory) -> list[str]:
    """purgatory publishes a "failed" event for every failure it counts."""
    failures: list[str] = []
    factory.add_listener(lambda name, kind, _event: failures.append(name) if kind == "failed" else None)
    return failures


async def pycircuitbreaker_row() -> list[object]:
    from pycircuitbreaker import CircuitBreaker, CircuitBreakerException

    breaker = CircuitBreaker(error_threshold=THRESHOLD, recovery_timeout=60)
    raised = refused = 0
    for _ in range(CALLS):
        try:
            await breaker.call(failing_stage)  # the call returns the coroutine; the await raises, unseen
        except ModelDown:
            raised += 1
        except CircuitBreakerException:
            refused += 1
    return ["pycircuitbreaker 0.5.0", raised, refused, breaker.error_count, breaker.success_count, breaker.state.name]


async def purgatory_row() -> list[object]:
    from purgatory import AsyncCircuitBreakerFactory
    from purgatory.domain.model import OpenedState

    factory = AsyncCircuitBreakerFactory(default_threshold=THRESHOLD, default_ttl=60)
    failures = count_failures(factory)
    raised = refused = 0
    for _ in range(CALLS):
        try:
            async with await factory.get_breaker("llm"):
                await failing_stage()
        except ModelDown:
            raised += 1
        except OpenedState:
            refused += 1
    context = (await factory.get_breaker("llm")).context
    return ["purgatory", raised, refused, len(failures), "-", context.state]


async def handle_breakers_row() -> list[object]:
    """The project's wrapper: the same, plus a cancelled call (a client that hung up) is not a failure."""
    from wyoming_xnai.handle.breakers import Breakers, OpenedState

    breakers = Breakers(["llm"], THRESHOLD, 60)
    failures = count_failures(breakers._factory)
    with anyio.move_on_after(0.01):
        async with breakers.guard("llm"):
            await anyio.sleep(10)  # cancelled by the timeout above: must not count
    raised = refused = 0
    for _ in range(CALLS):
        try:
            async with breakers.guard("llm"):
                await failing_stage()
        except ModelDown:
            raised += 1
        except OpenedState:
            refused += 1
    return ["wyoming_xnai Breakers (purgatory, 1 cancelled call first)", raised, refused, len(failures), "-",
            breakers.states["llm"]]  # fmt: skip


async def main() -> None:
    rows = [await pycircuitbreaker_row(), await purgatory_row(), await handle_breakers_row()]
    print(f"{CALLS} calls of an async stage that always raises; breakers open after {THRESHOLD} failures\n")
    print(table(["breaker", "calls that raised", "calls refused (open)", "failures counted", "successes counted",
                 "state after"], rows))  # fmt: skip


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
