"""Reading and submitting jobs for the calling key: the one path GraphQL and REST share.

``job(id, tail)`` and ``GET /status/{jobId}`` both call :func:`find_job`; ``createJob`` and
``POST /process`` both call :func:`submit_job`. Scope checks, argument checks, tenancy and
video validation therefore cannot drift apart between the two APIs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from domain.errors import BadUserInput, NotFound
from domain.principal import Scope
from domain.text import NUL, NUL_MESSAGE
from domain.videos import Platform, VideoRef, parse_video
from resolvers.arguments import parse_job_id, resolve_tail
from resolvers.context import Context
from resolvers.webhooks import WebhookFields, webhook_spec
from storage.records import JobRecord, JobSnapshot, TailRequest

MAX_IDEMPOTENCY_KEY = 200


class VideoFields(Protocol):
    """One submitted video: GraphQL's ``VideoItemInput`` or a REST body item."""

    @property
    def platform(self) -> Platform | None: ...

    @property
    def code(self) -> str | None: ...

    @property
    def url(self) -> str | None: ...


async def find_job(
    context: Context, *, id: str, tail: int | None, items: bool = False, log_tail: bool = False
) -> tuple[JobSnapshot, int]:
    """The caller's job — with its items and last log lines when asked, read in one
    snapshot, the lines within what the response budget has left — and the number of log
    lines to show; or an AppError.

    FORBIDDEN without ``read``; BAD_USER_INPUT for a tail outside 0..cap; ``InvalidJobId``
    for a malformed id; NOT_FOUND for an unknown job or another tenant's.
    """
    principal = context.require(Scope.READ)
    limit = resolve_tail(tail, cap=context.settings.max_tail)
    job_id = parse_job_id(id)
    jobs = context.store.jobs
    if not log_tail:
        snapshot = await jobs.get_job_snapshot(
            job_id=job_id, tenant=principal.tenant_filter, items=items, tail=None
        )
    else:
        budget = context.budget
        async with budget as allowance:
            snapshot = await jobs.get_job_snapshot(
                job_id=job_id,
                tenant=principal.tenant_filter,
                items=items,
                tail=TailRequest(limit, allowance),
            )
            if snapshot is not None and snapshot.tail is not None:
                budget.spend(lines=snapshot.tail.lines, bytes=snapshot.tail.bytes)
    if snapshot is None:
        raise NotFound(f"no job with id {job_id}")
    return snapshot, limit


async def submit_job(
    context: Context,
    *,
    items: Sequence[VideoFields],
    idempotency_key: str | None,
    webhook: WebhookFields | None = None,
) -> JobRecord:
    """Create a job in the caller's tenant (or return the job an idempotency key names).
    Everything is checked before anything is written: a bad webhook creates no job."""
    principal = context.require(Scope.SUBMIT)
    refs = video_refs(items, max_items=context.settings.max_items_per_job)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise BadUserInput(f"idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    if idempotency_key is not None and NUL in idempotency_key:
        # The Idempotency-Key header of POST /process reaches here unchecked by the body's rules.
        raise BadUserInput(f"idempotencyKey: {NUL_MESSAGE}", field="idempotencyKey")
    spec = webhook_spec(webhook, allow_private=context.settings.webhook_allow_private)
    record, _ = await context.store.jobs.create_job(
        tenant=principal.tenant, items=refs, idempotency_key=idempotency_key, webhook=spec
    )
    return record


def video_refs(items: Sequence[VideoFields], *, max_items: int) -> list[VideoRef]:
    if not 1 <= len(items) <= max_items:
        raise BadUserInput(f"a job has 1 to {max_items} items; got {len(items)}")
    refs = []
    for index, item in enumerate(items):
        try:
            refs.append(parse_video(platform=item.platform, code=item.code, url=item.url))
        except BadUserInput as error:
            raise BadUserInput(f"items[{index}]: {error.message}", index=index) from None
    return refs
