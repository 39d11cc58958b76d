"""The root Subscription type: one-line fields that delegate to ``resolvers.live``."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from resolvers import live
from schema.enums import JobStatus
from schema.types import Info, Job, LogLine


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The job's current state at once, then every change; completes after a "
        "terminal state. `tail` sizes logTail as in job(id, tail)."
    )
    async def job_updated(
        self, info: Info, id: strawberry.ID, tail: int | None = None
    ) -> AsyncGenerator[Job, None]:
        return await live.job_updated(info.context, id=id, tail=tail)

    @strawberry.subscription(
        description="The last `tail` lines (or every line with seq > `after`), then new lines "
        "as they are appended; completes once the job is terminal and every line was sent. "
        "After a disconnect, subscribe again with `after` = the last seq received."
    )
    async def job_logs(
        self, info: Info, id: strawberry.ID, tail: int | None = None, after: int | None = None
    ) -> AsyncGenerator[LogLine, None]:
        return await live.job_logs(info.context, id=id, tail=tail, after=after)

    @strawberry.subscription(
        description="Every change to the jobs of the key's tenant (all tenants for admin), "
        "optionally only those whose new status is in `statuses`."
    )
    async def job_events(
        self, info: Info, statuses: list[JobStatus] | None = None, tail: int | None = 0
    ) -> AsyncGenerator[Job, None]:
        return await live.job_events(info.context, statuses=statuses, tail=tail)
