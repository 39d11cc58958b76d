"""The root Mutation type: one-line fields that delegate to ``resolvers``."""

from __future__ import annotations

import strawberry

from engine.fields import fast
from resolvers import jobs as job_resolvers
from resolvers import lifecycle
from resolvers import webhooks as webhook_resolvers
from schema.enums import ItemStatus
from schema.inputs import CreateJobInput
from schema.lifecycle_types import Heartbeat, LogLineInput
from schema.types import Info, Job, VideoItem
from schema.webhook_types import WebhookDelivery


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Submit a job of 1 to 1000 videos.")
    async def create_job(self, info: Info, input: CreateJobInput) -> Job:
        read = await job_resolvers.create_job(
            info.context,
            items=input.items,
            idempotency_key=input.idempotency_key,
            webhook=input.webhook,
        )
        return Job.from_read(read)

    @strawberry.mutation(
        description="Send a webhook call again, now, with the same webhook-id (one attempt; "
        "a pending attempt at it is brought forward instead)."
    )
    async def redeliver_webhook(self, info: Info, delivery_id: strawberry.ID) -> WebhookDelivery:
        record = await webhook_resolvers.redeliver(info.context, delivery_id=delivery_id)
        return WebhookDelivery.from_record(record)

    # The job lifecycle (resolvers/lifecycle.py): cancel and retry need `submit`, the worker
    # protocol below them needs `work`.
    @strawberry.mutation(description="Cancel a PENDING or RUNNING job (its worker learns it).")
    async def cancel_job(self, info: Info, id: strawberry.ID) -> Job:
        return Job.from_read(await lifecycle.cancel_job(info.context, id=id))

    @strawberry.mutation(description="Take a FAILED job back to PENDING; only failed items rerun.")
    async def retry_job(self, info: Info, id: strawberry.ID) -> Job:
        return Job.from_read(await lifecycle.retry_job(info.context, id=id))

    @strawberry.mutation(description="Lease the oldest PENDING job; null when nothing is pending.")
    async def claim_job(
        self, info: Info, worker_id: str, lease_seconds: int | None = 60
    ) -> Job | None:
        read = await lifecycle.claim_job(
            info.context, worker_id=worker_id, lease_seconds=lease_seconds
        )
        return Job.from_read(read) if read is not None else None

    @strawberry.mutation(description="Renew the lease, report progress, learn of a cancel.")
    async def heartbeat(
        self,
        info: Info,
        job_id: strawberry.ID,
        worker_id: str,
        progress: int | None = strawberry.UNSET,
    ) -> Heartbeat:
        record = await lifecycle.heartbeat(
            info.context, job_id=job_id, worker_id=worker_id, progress=progress
        )
        return Heartbeat.from_record(record)

    @strawberry.mutation(
        description="Append a batch of log lines, all or nothing; the last seq. With `afterSeq` "
        "(the last seq the worker knows), a batch resent after a lost answer is appended once: "
        "if the log already ends with it, nothing is appended and its last seq is answered; any "
        "other mismatch is CONFLICT with extensions.lastSeq.",
        metadata=fast(),
    )
    async def append_logs(
        self,
        info: Info,
        job_id: strawberry.ID,
        worker_id: str,
        lines: list[LogLineInput],
        after_seq: int | None = None,
    ) -> int:
        return await lifecycle.append_logs(
            info.context, job_id=job_id, worker_id=worker_id, lines=lines, after_seq=after_seq
        )

    @strawberry.mutation(description="Report one item's status (and error).")
    async def update_item(
        self,
        info: Info,
        job_id: strawberry.ID,
        worker_id: str,
        position: int,
        status: ItemStatus,
        error: str | None = strawberry.UNSET,
    ) -> VideoItem:
        record = await lifecycle.update_item(
            info.context,
            job_id=job_id,
            worker_id=worker_id,
            position=position,
            status=status,
            error=error,
        )
        return VideoItem.from_record(record)

    @strawberry.mutation(description="Finish the job: COMPLETED, progress 100.")
    async def complete_job(self, info: Info, job_id: strawberry.ID, worker_id: str) -> Job:
        read = await lifecycle.complete_job(info.context, job_id=job_id, worker_id=worker_id)
        return Job.from_read(read)

    @strawberry.mutation(
        description="Give up on the job: FAILED with an error; retryJob reruns it."
    )
    async def fail_job(self, info: Info, job_id: strawberry.ID, worker_id: str, error: str) -> Job:
        read = await lifecycle.fail_job(
            info.context, job_id=job_id, worker_id=worker_id, error=error
        )
        return Job.from_read(read)
