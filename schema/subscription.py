"""The root Subscription type: fields that delegate to ``resolvers.live`` and show what its
streams yield."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import TypeVar

import strawberry

from resolvers import live
from schema.enums import JobStatus
from schema.types import Info, Job, LogBatch, LogLine

T = TypeVar("T")
U = TypeVar("U")


async def _shown(
    stream: AsyncGenerator[T, None], show: Callable[[T], U]
) -> AsyncGenerator[U, None]:
    try:
        async for item in stream:
            yield show(item)
    finally:
        await stream.aclose()  # the resolver's stream releases its broker subscription


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The job's current state at once, then every change; completes after a "
        "terminal state. `tail` sizes logTail as in job(id, tail)."
    )
    async def job_updated(
        self, info: Info, id: strawberry.ID, tail: int | None = None
    ) -> AsyncGenerator[Job, None]:
        return _shown(await live.job_updated(info.context, id=id, tail=tail), Job.from_read)

    @strawberry.subscription(
        description="The last `tail` lines (or every line with seq > `after`), then new lines "
        "as they are appended; completes once the job is terminal and every line was sent. "
        "After a disconnect, subscribe again with `after` = the last seq received."
    )
    async def job_logs(
        self, info: Info, id: strawberry.ID, tail: int | None = None, after: int | None = None
    ) -> AsyncGenerator[LogLine, None]:
        stream = await live.job_logs(info.context, id=id, tail=tail, after=after)
        return _shown(stream, LogLine.from_record)

    @strawberry.subscription(
        description="jobLogs in batches: each message carries every line since the previous "
        "one, in seq order, at most `maxLines` (more lines go in several messages), the "
        "backfill too. Resume with `after` = the last message's lastSeq; completes like jobLogs."
    )
    async def job_log_batches(
        self,
        info: Info,
        id: strawberry.ID,
        tail: int | None = None,
        after: int | None = None,
        max_lines: int | None = 1000,
    ) -> AsyncGenerator[LogBatch, None]:
        stream = await live.job_log_batches(
            info.context,
            id=id,
            tail=tail,
            after=after,
            max_lines=1000 if max_lines is None else max_lines,
        )
        return _shown(stream, LogBatch.from_record)

    @strawberry.subscription(
        description="Every change to the jobs of the key's tenant (all tenants for admin), "
        "optionally only those whose new status is in `statuses`."
    )
    async def job_events(
        self, info: Info, statuses: list[JobStatus] | None = None, tail: int | None = 0
    ) -> AsyncGenerator[Job, None]:
        stream = await live.job_events(info.context, statuses=statuses, tail=tail)
        return _shown(stream, Job.from_read)
