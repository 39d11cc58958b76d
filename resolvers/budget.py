"""The response budget: how much log text one operation may still answer.

Every GraphQL operation and REST request gets ``JOBGRAPH_MAX_RESPONSE_BYTES`` of log text and
``JOBGRAPH_MAX_RESPONSE_LINES`` lines (a subscription, that much per event). Each log read —
``logTail``, ``logTailTruncated``, ``logs``, REST ``log_tail`` — asks the store for no more
than what is left, and spends what it got. What does not fit is cut, with a signal in the
answer (``logTailTruncated``, ``hasMore``, ``log_truncated``), never an error.

Reads take turns, in the order the fields ask for them, so what each field gets depends on
the document, not on which database read happens to return first (on PostgreSQL two root
fields' reads overlap; on SQLite they do not).
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from storage.records import Allowance


class ResponseBudget:
    """Lines and bytes left for one operation.

    >>> budget = ResponseBudget(lines=10, bytes=100)
    >>> budget.spend(lines=3, bytes=40)
    >>> budget.allowance()
    Allowance(lines=7, bytes=60)
    """

    __slots__ = ("_bytes", "_lines", "_max_bytes", "_max_lines", "_turn")

    def __init__(self, *, lines: int, bytes: int) -> None:
        self._max_lines = self._lines = lines
        self._max_bytes = self._bytes = bytes
        self._turn: asyncio.Lock | None = None

    def allowance(self) -> Allowance:
        return Allowance(self._lines, self._bytes)

    def spend(self, *, lines: int, bytes: int) -> None:
        self._lines = max(0, self._lines - lines)
        self._bytes = max(0, self._bytes - bytes)

    def refill(self) -> None:
        """A full budget again: a subscription's next event is a response of its own."""
        self._lines, self._bytes = self._max_lines, self._max_bytes

    async def __aenter__(self) -> Allowance:
        """``async with budget as allowance``: this read's turn, and what is left for it."""
        turn = self._turn
        if turn is None:
            turn = self._turn = asyncio.Lock()
        await turn.acquire()
        return Allowance(self._lines, self._bytes)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._turn is not None
        self._turn.release()
