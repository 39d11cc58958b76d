"""The webhook outbox: a delivery is written in the same transaction as the change causing it.

The lifecycle's units of work (``storage.lifecycle``) call an :class:`OutboxWrites` for every
job they change; it looks up the job's webhook (one primary-key read, a miss for most jobs) and
inserts a PENDING delivery when the webhook asks for the event. Either both commit or neither
does, so no change is announced that did not happen and none that happened is lost, whatever
happens to the process afterwards; any process's delivery worker may then send it.

PROGRESS is throttled per job: at most one call per ``webhook_progress_interval_seconds``. A
report inside the interval is held on the webhook row (its payload, and when it falls due);
the worker's sweep (:func:`queue_due_progress`) or the job's next status change queues it, so
the last progress is never lost, and it goes before the status change that follows it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, func, insert, select, update

from domain.jobs import ItemStatus, JobStatus
from domain.webhooks import EVENT_OF_STATUS, DeliveryStatus, WebhookEvent
from engine.sql import Query
from storage.coltypes import utc_from_stored
from storage.records import JobRecord
from storage.tables import job_items, job_webhooks, jobs, webhook_deliveries
from storage.webhook_records import WebhookSpec

# Locked with the job (FOR UPDATE on PostgreSQL), so that a heartbeat's throttle decision and
# the worker's sweep of due PROGRESS calls never act on the same row at once.
_WEBHOOK_OF_JOB = Query(
    select(
        job_webhooks.c.url,
        job_webhooks.c.events,
        job_webhooks.c.disabled_at,
        job_webhooks.c.progress_sent_at,
        job_webhooks.c.progress_value,
        job_webhooks.c.progress_payload,
    )
    .where(job_webhooks.c.job_id == bindparam("job_id"))
    .with_for_update()
)


def new_message_id() -> str:
    """A ``webhook-id``: unique per message, the same on every attempt to deliver it."""
    return f"msg_{uuid.uuid4().hex}"


def insert_webhook(conn: Connection, *, job_id: str, tenant: str, spec: WebhookSpec) -> None:
    conn.execute(
        insert(job_webhooks).values(
            job_id=job_id,
            tenant=tenant,
            url=spec.url,
            events=",".join(event.value for event in spec.events),
        )
    )


def event_payload(job: JobRecord, counts: dict[str, int], event: WebhookEvent, at: datetime) -> str:
    """The body of a call: thin, the job's state at the change; the receiver reads the rest."""
    body = {
        "type": event.type_name,
        "timestamp": at.isoformat(),
        "data": {
            "id": job.id,
            "status": job.status.value,
            "progress": job.progress,
            "attempt": job.attempt,
            "error": job.error,
            "itemCounts": counts,
            "createdAt": job.created_at.isoformat(),
            "updatedAt": job.updated_at.isoformat(),
            "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
        },
    }
    return orjson.dumps(body).decode()


_ITEM_COUNTS = Query(
    select(job_items.c.status, func.count())
    .where(job_items.c.job_id == bindparam("job_id"))
    .group_by(job_items.c.status)
)


def _payload(conn: Connection, job: JobRecord, event: WebhookEvent, at: datetime) -> str:
    tally = {status.value: 0 for status in ItemStatus}
    tally.update({status: count for status, count in _ITEM_COUNTS.rows(conn, {"job_id": job.id})})
    counts = {"total": sum(tally.values())}
    counts.update({status.lower(): count for status, count in tally.items()})
    return event_payload(job, counts, event, at)


def queue_delivery(
    conn: Connection,
    *,
    job_id: str,
    tenant: str,
    url: str,
    event: WebhookEvent,
    payload: str,
    now: datetime,
) -> None:
    """A message's first attempt, due at once."""
    conn.execute(
        insert(webhook_deliveries).values(
            id=str(uuid.uuid4()),
            message_id=new_message_id(),
            job_id=job_id,
            tenant=tenant,
            event=event.value,
            url=url,
            payload=payload,
            attempt=1,
            step=0,
            status=DeliveryStatus.PENDING.value,
            created_at=now,
            next_attempt_at=now,
        )
    )


def _events(text: str) -> frozenset[WebhookEvent]:
    return frozenset(WebhookEvent(name) for name in text.split(",") if name)


class Outbox:
    """Shared by a store's writers. ``notify`` is called after a commit that queued a delivery
    (the delivery worker sets it to wake itself); ``writes()`` starts one unit of work's."""

    def __init__(self, *, progress_interval: float) -> None:
        self.progress_interval = timedelta(seconds=progress_interval)
        self.notify: Callable[[], None] = lambda: None

    def writes(self) -> OutboxWrites:
        return OutboxWrites(self)


class OutboxWrites:
    """The outbox calls of one unit of work: made inside its transaction, and ``committed()``
    after it commits (nothing to do when it rolled back: its deliveries went with it)."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self.queued = 0

    def committed(self) -> None:
        if self.queued:
            self._outbox.notify()

    def status_changed(self, conn: Connection, job: JobRecord, *, now: datetime) -> None:
        """``job`` (as just updated) entered its status: queue the event it causes, after any
        PROGRESS call the throttle still holds."""
        hook = _WEBHOOK_OF_JOB.first(conn, {"job_id": job.id})
        if hook is None:
            return
        url, events, disabled_at, _, _, held = hook
        if disabled_at is not None:
            return
        values: dict[str, Any] = {"progress_value": job.progress}
        if held is not None:
            self._queue(conn, job, url, WebhookEvent.PROGRESS, held, now)
            values.update(progress_payload=None, progress_due_at=None, progress_sent_at=now)
        conn.execute(update(job_webhooks).where(job_webhooks.c.job_id == job.id).values(values))
        event = EVENT_OF_STATUS.get(job.status)
        if event is not None and event in _events(events):
            self._queue(conn, job, url, event, _payload(conn, job, event, now), now)

    def progress_reported(self, conn: Connection, job: JobRecord, *, now: datetime) -> None:
        """A heartbeat reported progress; ``job`` is the job as updated. Queue a PROGRESS call
        when the value changed and the interval allows it, else hold it for later."""
        if job.status is not JobStatus.RUNNING:
            return
        hook = _WEBHOOK_OF_JOB.first(conn, {"job_id": job.id})
        if hook is None:
            return
        url, events, disabled_at, sent_at, value, _ = hook
        if (
            disabled_at is not None
            or WebhookEvent.PROGRESS not in _events(events)
            or value == job.progress
        ):
            return
        payload = _payload(conn, job, WebhookEvent.PROGRESS, now)
        sent_at = utc_from_stored(sent_at)
        interval = self._outbox.progress_interval
        values: dict[str, Any] = {"progress_value": job.progress}
        if sent_at is None or now - sent_at >= interval:
            self._queue(conn, job, url, WebhookEvent.PROGRESS, payload, now)
            values.update(progress_sent_at=now, progress_payload=None, progress_due_at=None)
        else:
            values.update(progress_payload=payload, progress_due_at=sent_at + interval)
        conn.execute(update(job_webhooks).where(job_webhooks.c.job_id == job.id).values(values))

    def _queue(
        self,
        conn: Connection,
        job: JobRecord,
        url: str,
        event: WebhookEvent,
        payload: str,
        now: datetime,
    ) -> None:
        queue_delivery(
            conn,
            job_id=job.id,
            tenant=job.tenant,
            url=url,
            event=event,
            payload=payload,
            now=now,
        )
        self.queued += 1


def queue_due_progress(conn: Connection, *, now: datetime, limit: int = 200) -> int:
    """Queue the held PROGRESS calls whose interval has passed; returns how many.

    Locks are taken in the order every job write takes them: the job's row, then its webhook
    row. A heartbeat updates the job and then locks the webhook row; queueing inserts a
    delivery whose foreign key locks the job's row. Locking the webhook row first here would
    let the two wait on each other (PostgreSQL would break the tie by failing the heartbeat).
    """
    candidates = (
        select(job_webhooks.c.job_id)
        .where(job_webhooks.c.progress_due_at <= now)
        .order_by(job_webhooks.c.progress_due_at)
        .limit(limit)
    )
    queued = 0
    for (job_id,) in conn.execute(candidates).all():
        if conn.dialect.name == "postgresql":
            # What the delivery's foreign key takes, taken before the webhook row: waits for
            # a heartbeat or transition of this job to commit, holding nothing it needs.
            conn.execute(
                select(jobs.c.id).where(jobs.c.id == job_id).with_for_update(key_share=True)
            )
        held = conn.execute(
            select(job_webhooks.c.tenant, job_webhooks.c.url, job_webhooks.c.progress_payload)
            .where(job_webhooks.c.job_id == job_id, job_webhooks.c.progress_due_at <= now)
            .with_for_update(skip_locked=True)
        ).first()
        if held is None:
            continue  # sent meanwhile by the job's own transition, or taken by another process
        tenant, url, payload = held
        if payload is not None:
            queue_delivery(
                conn,
                job_id=job_id,
                tenant=tenant,
                url=url,
                event=WebhookEvent.PROGRESS,
                payload=payload,
                now=now,
            )
        conn.execute(
            update(job_webhooks)
            .where(job_webhooks.c.job_id == job_id)
            .values(progress_payload=None, progress_due_at=None, progress_sent_at=now)
        )
        queued += 1
    return queued
