"""What a processor is given (a :class:`WorkItem`) and how it is called, async or not."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

from jobgraph_worker.joblog import JobLog


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One video of a claimed job.

    ``platform`` is ``YOUTUBE``, ``INSTAGRAM`` or ``TIKTOK``; ``url`` is the canonical URL
    jobgraph derives from platform and code. ``job_id`` and ``attempt`` say which job and
    which of its runs (1, 2, … — a retry or a requeue is a new run) the item belongs to.
    """

    position: int
    platform: str
    code: str
    url: str
    job_id: str = ""
    attempt: int = 1


AsyncProcessor: TypeAlias = Callable[[WorkItem, JobLog], Awaitable[None]]
SyncProcessor: TypeAlias = Callable[[WorkItem, JobLog], None]
Processor: TypeAlias = AsyncProcessor | SyncProcessor
"""``async def process(item, log) -> None``, or a plain function (run in a thread of its own)."""


def is_async(process: Callable[..., Any]) -> bool:
    call = getattr(process, "__call__", None)  # noqa: B004 - an object with an async __call__
    return inspect.iscoroutinefunction(process) or inspect.iscoroutinefunction(call)


async def call_processor(process: Processor, item: WorkItem, log: JobLog) -> None:
    """Run ``process`` on ``item``: awaited when async, else in a daemon thread.

    A daemon thread rather than ``asyncio.to_thread``: when the worker stops a plain function
    it cannot interrupt, the process must still be able to exit without waiting for it.
    """
    if is_async(process):
        await cast(AsyncProcessor, process)(item, log)
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()

    def settle(error: BaseException | None, result: Any) -> None:
        if done.done():  # cancelled meanwhile: nobody waits for this any more
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)

    def target() -> None:
        try:
            result: Any = process(item, log)
        except BaseException as error:  # handed to the awaiting task, as to_thread does
            outcome: tuple[BaseException | None, Any] = (error, None)
        else:
            outcome = (None, result)
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits either
            loop.call_soon_threadsafe(settle, *outcome)

    thread = threading.Thread(target=target, name=f"process-{item.position}", daemon=True)
    thread.start()
    result = await done
    if inspect.isawaitable(result):  # a plain function that returned a coroutine
        await result
