"""Resolvers for reading and submitting jobs."""

from __future__ import annotations

from collections.abc import Collection

from domain.errors import BadUserInput, NotFound
from domain.principal import Scope
from domain.videos import VideoRef, parse_video
from resolvers.arguments import parse_job_id, resolve_tail
from schema.context import Context
from schema.inputs import CreateJobInput
from schema.types import Job

_MAX_IDEMPOTENCY_KEY = 200


async def job(
    context: Context, *, id: str, tail: int | None, selected: Collection[str] = ()
) -> Job:
    """``selected``: the Job fields the query asks for; items and logTail are then read with
    the job in one transaction (resolvers.lookahead)."""
    principal = context.require(Scope.READ)
    limit = resolve_tail(tail, cap=context.settings.max_tail)
    job_id = parse_job_id(id)
    snapshot = await context.store.jobs.get_job_snapshot(
        job_id=job_id,
        tenant=principal.tenant_filter,
        items="items" in selected,
        tail=limit if "logTail" in selected else None,
    )
    if snapshot is None:
        raise NotFound(f"no job with id {job_id}")
    return Job.from_record(
        snapshot.job, tail=limit, items=snapshot.items, tail_messages=snapshot.tail
    )


async def create_job(context: Context, *, input: CreateJobInput) -> Job:
    principal = context.require(Scope.SUBMIT)
    refs = video_refs(input, max_items=context.settings.max_items_per_job)
    key = input.idempotency_key
    if key is not None and not 1 <= len(key) <= _MAX_IDEMPOTENCY_KEY:
        raise BadUserInput(f"idempotencyKey must be 1 to {_MAX_IDEMPOTENCY_KEY} characters")
    record, _ = await context.store.jobs.create_job(
        tenant=principal.tenant, items=refs, idempotency_key=key
    )
    return Job.from_record(record, tail=context.settings.max_tail)


def video_refs(input: CreateJobInput, *, max_items: int) -> list[VideoRef]:
    if not 1 <= len(input.items) <= max_items:
        raise BadUserInput(f"a job has 1 to {max_items} items; got {len(input.items)}")
    refs = []
    for index, item in enumerate(input.items):
        try:
            refs.append(parse_video(platform=item.platform, code=item.code, url=item.url))
        except BadUserInput as error:
            raise BadUserInput(f"items[{index}]: {error.message}", index=index) from None
    return refs
