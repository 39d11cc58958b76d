"""Turns for subscription deliveries (live.turns): the event loop's other tasks run between
bounded runs of messages, waiting streams take turns, a cancelled one holds nobody up."""

from __future__ import annotations

import asyncio
import gc
import itertools
from collections.abc import Awaitable, Callable, Sized

import pytest

from live.turns import (
    _TURNS,
    ENDS_PER_PASS,
    PASS_BUDGET,
    QUANTUM,
    STARTS_PER_PASS,
    Pace,
    end_turn,
    start_turn,
)

STREAMS = 10
MESSAGES = 1000


async def _stream(name: str, count: int, log: list[str]) -> None:
    pace = Pace()
    for _ in range(count):
        await pace()
        log.append(name)  # "sends" a message: nothing in it waits, as on SQLite


async def _passes(counts: list[int], log: Sized, done: asyncio.Event) -> None:
    """Once per pass of the loop: how many messages were sent by then."""
    while not done.is_set():
        counts.append(len(log))
        await asyncio.sleep(0)


async def test_a_request_runs_while_streams_have_much_left_to_send() -> None:
    log: list[str] = []
    streams = [asyncio.create_task(_stream(f"s{n}", MESSAGES, log)) for n in range(STREAMS)]

    async def request() -> None:
        for _ in range(10):  # an HTTP request's awaits, each one pass of the loop
            await asyncio.sleep(0)
        log.append("request")

    await asyncio.gather(request(), *streams)
    # Without turns every stream sent its 1000 messages in one step before the request's
    # first await returned; with them each pass sends a bounded number.
    assert log.index("request") <= 11 * 2 * PASS_BUDGET
    for n in range(STREAMS):
        assert log.count(f"s{n}") == MESSAGES


async def test_a_pass_sends_a_bounded_number_and_every_stream_gets_turns() -> None:
    log: list[str] = []
    counts: list[int] = []
    done = asyncio.Event()
    counter = asyncio.create_task(_passes(counts, log, done))
    await asyncio.sleep(0)
    await asyncio.gather(*(_stream(f"s{n}", MESSAGES, log) for n in range(STREAMS)))
    done.set()
    await counter
    per_pass = [later - earlier for earlier, later in itertools.pairwise(counts)]
    assert max(per_pass) <= 2 * PASS_BUDGET
    assert sum(per_pass) >= STREAMS * MESSAGES - 2 * PASS_BUDGET
    # Every stream has its first turn before any has sent more than a pass and a quantum.
    firsts = [log.index(f"s{n}") for n in range(STREAMS)]
    assert max(firsts) < PASS_BUDGET + QUANTUM + STREAMS * QUANTUM
    for n in range(STREAMS):
        sent_before_all_started = log[: max(firsts)].count(f"s{n}")
        assert sent_before_all_started <= PASS_BUDGET + QUANTUM


async def test_a_cancelled_stream_holds_nobody_up_and_the_turns_go_idle() -> None:
    log: list[str] = []
    tasks = [asyncio.create_task(_stream(f"s{n}", 200, log)) for n in range(5)]
    await asyncio.sleep(0)  # the first stream spent this pass's budget; the others wait
    assert log and set(log) == {"s0"}
    tasks[3].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[3], asyncio.CancelledError)
    assert [log.count(f"s{n}") for n in (0, 1, 2, 4)] == [200] * 4
    assert log.count("s3") == 0
    for _ in range(3):
        await asyncio.sleep(0)
    assert not _TURNS[asyncio.get_running_loop()]._armed  # nothing left scheduled


def test_a_closed_loop_leaves_no_turns_behind() -> None:
    async def one_stream() -> None:
        await _stream("s", 3 * PASS_BUDGET, [])

    loop = asyncio.new_event_loop()
    loop.run_until_complete(one_stream())
    assert loop in _TURNS
    loop.close()
    del loop
    gc.collect()
    assert not any(key.is_closed() for key in _TURNS)


@pytest.mark.parametrize(
    ("turn", "per_pass"), [(start_turn, STARTS_PER_PASS), (end_turn, ENDS_PER_PASS)]
)
async def test_subscriptions_start_and_end_a_few_per_pass_in_arrival_order(
    turn: Callable[[], Awaitable[None]], per_pass: int
) -> None:
    """A burst of subscribes, or of closed sockets (thousands at once), starts or tears down a
    bounded number per pass of the loop, so a request waits behind a few, not all of them."""
    started: list[int] = []
    counts: list[int] = []
    done = asyncio.Event()
    counter = asyncio.create_task(_passes(counts, started, done))
    await asyncio.sleep(0)

    async def subscribe(n: int) -> None:
        await turn()
        started.append(n)

    await asyncio.gather(*(subscribe(n) for n in range(200)))
    done.set()
    await counter
    assert started == list(range(200))
    passes = [later - earlier for earlier, later in itertools.pairwise(counts)]
    assert max(passes) <= per_pass


async def test_a_cancelled_start_holds_nobody_up() -> None:
    waiting = [asyncio.create_task(start_turn()) for _ in range(3 * STARTS_PER_PASS)]
    await asyncio.sleep(0)
    for task in waiting[STARTS_PER_PASS : 2 * STARTS_PER_PASS]:
        task.cancel()
    async with asyncio.timeout(5):
        await asyncio.gather(*waiting, return_exceptions=True)
    assert sum(task.cancelled() for task in waiting) <= STARTS_PER_PASS
    assert all(task.done() for task in waiting)
