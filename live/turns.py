"""Turns on the event loop for subscription deliveries, so requests are not starved.

On SQLite nothing in a delivery waits: a follower's reads run on the event loop and a
WebSocket send returns at once while the socket is writable. The loop polls its sockets only
between passes over its ready tasks, so whatever the followers send in one pass delays every
HTTP request (an appendLogs, a job(id) poll, /healthz) by that much, once per await the request
makes. The streams therefore ask for a turn before each message:

    pace = Pace()              # one per stream
    await pace()               # before each message

A pass of the loop sends about :data:`PASS_BUDGET` messages in all (never more than twice
that), in runs of up to :data:`QUANTUM` messages per stream: one message per turn
(``asyncio.sleep(0)`` before each) costs more server CPU per message than runs, and with the
fast paths on a run also leaves in one socket write (``engine.http``).
Streams that find the budget spent wait in one FIFO queue and are granted their run in a later
pass, in queue order; each grant sends at least one message, so every waiting stream advances.
A stream's unused credit lapses when the pass it was granted in is over.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque

# Messages all streams together may send in one pass of the event loop: a few milliseconds
# of sends, so an HTTP request waits at most that long behind the subscribers.
PASS_BUDGET = 64
# Messages one stream sends in a row once granted a turn.
QUANTUM = 16
# Subscriptions that may start in one pass of the event loop (``start_turn``).
STARTS_PER_PASS = 8
# Closed sockets whose operations may be torn down in one pass (``end_turn``).
ENDS_PER_PASS = 16


class _Turns:
    """One event loop's budget and queue of waiting streams (called on that loop only; holds
    no reference to it, so the loop's entry in ``_TURNS`` goes with the loop)."""

    def __init__(self, budget: int = PASS_BUDGET, quantum: int = QUANTUM) -> None:
        self._budget, self._quantum = budget, quantum
        self._left = budget
        self._waiting: deque[asyncio.Future[tuple[int, int]]] = deque()
        self._armed = False
        self.epoch = 0  # advanced by each refill: credit from an earlier pass is spent

    def grant_now(self) -> int:
        """Messages the caller may send at once (0: it must wait for :meth:`wait`)."""
        if self._waiting or self._left <= 0:
            return 0
        granted = min(self._quantum, self._left)
        self._left -= granted
        self._arm()
        return granted

    async def wait(self) -> tuple[int, int]:
        """Queue for a later pass; returns the messages granted (at least one) and the epoch
        they were granted in."""
        future: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self._arm()
        return await future

    def _arm(self) -> None:
        if not self._armed:
            self._armed = True
            asyncio.get_running_loop().call_soon(self._refill)

    def _refill(self) -> None:
        # Runs in the pass after the budget was first drawn on: a new pass, a new budget.
        self._armed = False
        self.epoch += 1
        self._left = self._budget
        while self._waiting and self._left > 0:
            future = self._waiting.popleft()
            if future.done():  # its stream was cancelled while it waited
                continue
            granted = min(self._quantum, self._left)
            self._left -= granted
            future.set_result((granted, self.epoch))
        if self._waiting or self._left < self._budget:
            self._arm()


_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turns] = weakref.WeakKeyDictionary()
_STARTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turns] = weakref.WeakKeyDictionary()
_ENDS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turns] = weakref.WeakKeyDictionary()


def _turns() -> _Turns:
    loop = asyncio.get_running_loop()
    turns = _TURNS.get(loop)
    if turns is None:
        turns = _TURNS[loop] = _Turns()
    return turns


async def start_turn() -> None:
    """Waits for this pass's turn to start one more subscription (:data:`STARTS_PER_PASS` in
    each pass of the loop, in arrival order).

    Starting a subscription runs straight through on the loop: the socket's admission (its
    key read again), the document, the first read of its stream, its cohort. Thousands of
    sockets subscribing at once (a dashboard fleet reconnecting) would otherwise all start in
    the same pass, and every HTTP request would wait behind all of them."""
    await _turn(_STARTS, STARTS_PER_PASS)


async def end_turn() -> None:
    """Waits for this pass's turn to tear down one more closed socket's operations
    (:data:`ENDS_PER_PASS` in each pass, in order): thousands of clients leaving at once
    (a deploy, a network blip) would otherwise end all their subscriptions in one pass."""
    await _turn(_ENDS, ENDS_PER_PASS)


async def _turn(
    table: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turns], per_pass: int
) -> None:
    loop = asyncio.get_running_loop()
    turns = table.get(loop)
    if turns is None:
        turns = table[loop] = _Turns(per_pass, 1)
    if turns.grant_now() == 0:
        await turns.wait()


class Pace:
    """A stream's turns: ``await pace()`` before each message it sends."""

    def __init__(self) -> None:
        self._turns: _Turns | None = None  # the running loop's, on first use
        self._credit = 0
        self._epoch = -1

    async def __call__(self) -> None:
        turns = self._turns
        if turns is None:
            turns = self._turns = _turns()
        if self._credit > 0 and self._epoch == turns.epoch:
            self._credit -= 1
            return
        granted, epoch = turns.grant_now(), turns.epoch
        if granted == 0:
            granted, epoch = await turns.wait()
        # A grant always covers this message, even if a refill ran before we resumed.
        self._credit = granted - 1
        self._epoch = epoch
