"""Resolvers for reading and submitting jobs."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from resolvers import job_access
from resolvers.context import Context
from resolvers.results import JobRead
from resolvers.webhooks import WebhookFields


async def job(
    context: Context, *, id: str, tail: int | None, selected: Collection[str] = ()
) -> JobRead:
    """``selected``: the Job fields the query asks for; items and logTail are then read with
    the job in one snapshot."""
    log_tail = "logTail" in selected or "logTailTruncated" in selected
    snapshot, limit = await job_access.find_job(
        context, id=id, tail=tail, items="items" in selected, log_tail=log_tail
    )
    return JobRead(snapshot.job, tail=limit, items=snapshot.items, tail_text=snapshot.tail)


async def create_job(
    context: Context,
    *,
    items: Sequence[job_access.VideoFields],
    idempotency_key: str | None,
    webhook: WebhookFields | None = None,
) -> JobRead:
    record = await job_access.submit_job(
        context, items=items, idempotency_key=idempotency_key, webhook=webhook
    )
    return JobRead(record, tail=context.settings.max_tail)
