"""Resolvers for reading and submitting jobs."""

from __future__ import annotations

from collections.abc import Collection

from domain.videos import VideoRef
from resolvers import job_access
from schema.context import Context
from schema.inputs import CreateJobInput
from schema.types import Job


async def job(
    context: Context, *, id: str, tail: int | None, selected: Collection[str] = ()
) -> Job:
    """``selected``: the Job fields the query asks for; items and logTail are then read with
    the job in one transaction (resolvers.lookahead)."""
    snapshot, limit = await job_access.find_job(
        context, id=id, tail=tail, items="items" in selected, log_tail="logTail" in selected
    )
    tail_text = "\n".join(snapshot.tail) if snapshot.tail is not None else None
    return Job.from_record(snapshot.job, tail=limit, items=snapshot.items, tail_text=tail_text)


async def create_job(context: Context, *, input: CreateJobInput) -> Job:
    record = await job_access.submit_job(
        context, items=input.items, idempotency_key=input.idempotency_key
    )
    return Job.from_record(record, tail=context.settings.max_tail)


# createJob's item validation, by its old name; the logic lives in job_access (shared with REST).
def video_refs(input: CreateJobInput, *, max_items: int) -> list[VideoRef]:
    return job_access.video_refs(input.items, max_items=max_items)
