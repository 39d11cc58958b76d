"""Where each message of a live stream sits in its job's history, for cohorts.

A stream marks each message just before it yields it: ``mark(start, end)`` says the message
carries what lies after ``start`` up to ``end`` (log seqs for jobLogs and jobLogBatches, the
state's version for jobUpdated). ``server.cohorts`` reads the mark in the task that pulled the
message, to hand a subscriber over from its own stream to its cohort's shared one exactly
where the two meet: no gap, no duplicate. Outside a cohort nothing reads it.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

_POSITION: ContextVar[tuple[Any, Any] | None] = ContextVar("jobgraph_live_position", default=None)


def mark(start: Any, end: Any) -> None:
    """The message about to be yielded covers (start, end]."""
    _POSITION.set((start, end))


def take() -> tuple[Any, Any] | None:
    """The mark of the message just pulled in this task (then cleared)."""
    position = _POSITION.get()
    _POSITION.set(None)
    return position
