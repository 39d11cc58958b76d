"""Resolvers for reading and submitting jobs."""

from __future__ import annotations

from domain.videos import VideoRef
from resolvers import job_access
from schema.context import Context
from schema.inputs import CreateJobInput
from schema.types import Job


async def job(context: Context, *, id: str, tail: int | None) -> Job:
    record, limit = await job_access.find_job(context, id=id, tail=tail)
    return Job.from_record(record, tail=limit)


async def create_job(context: Context, *, input: CreateJobInput) -> Job:
    record = await job_access.submit_job(
        context, items=input.items, idempotency_key=input.idempotency_key
    )
    return Job.from_record(record, tail=context.settings.max_tail)


# createJob's item validation, by its old name; the logic lives in job_access (shared with REST).
def video_refs(input: CreateJobInput, *, max_items: int) -> list[VideoRef]:
    return job_access.video_refs(input.items, max_items=max_items)
