"""Where each message of a live stream sits in its job's history, for cohorts.

A stream marks each message just before it yields it: ``mark(start, end)`` says the message
carries what lies after ``start`` up to ``end`` (log seqs for jobLogs and jobLogBatches, the
state's version for jobUpdated). ``server.cohorts`` reads the mark in the task that pulled the
message, to hand a subscriber over from its own stream to its cohort's shared one exactly
where the two meet: no gap, no duplicate. Outside a cohort nothing reads it.

A log stream also says where it opened (``opened(position)``: its first message will start
there) to whoever asked (``told_when_opened``), so that a subscriber whose backfill is empty
meets its cohort before any message.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import Context, ContextVar, copy_context
from typing import Any

_POSITION: ContextVar[tuple[Any, Any] | None] = ContextVar("jobgraph_live_position", default=None)
_ON_OPEN: ContextVar[Callable[[Any], None] | None] = ContextVar(
    "jobgraph_live_on_open", default=None
)


def mark(start: Any, end: Any) -> None:
    """The message about to be yielded covers (start, end]."""
    _POSITION.set((start, end))


def take() -> tuple[Any, Any] | None:
    """The mark of the message just pulled in this task (then cleared)."""
    position = _POSITION.get()
    _POSITION.set(None)
    return position


def opened(position: Any) -> None:
    """The stream being opened has sent nothing yet: its first message starts at ``position``."""
    callback = _ON_OPEN.get()
    if callback is not None:
        callback(position)


def told_when_opened(callback: Callable[[Any], None]) -> Context:
    """A copy of the current context, in which a stream that opens tells ``callback`` where
    (run the task that first pulls the stream in it: a stream opens on its first pull)."""
    context = copy_context()
    context.run(_ON_OPEN.set, callback)
    return context
