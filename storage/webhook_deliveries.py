"""Deliveries: claimed by a process's worker, settled with the attempt's outcome, listed, redone.

A claim marks due PENDING attempts as held (``locked_by``, ``locked_until``) in a short
transaction. On PostgreSQL the candidate rows are read ``FOR UPDATE SKIP LOCKED``, so two
processes claiming at once take different attempts and never the same one; on SQLite the write
runner's ``BEGIN IMMEDIATE`` serialises claims. A process that dies while it holds an attempt
(SIGKILL) leaves it PENDING: once ``locked_until`` passes, any process claims it again.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from domain.errors import NotFound
from domain.webhooks import (
    DeliveryStatus,
    Outcome,
    WebhookEvent,
    retry_delay,
)
from storage.coltypes import utc_from_stored, utcnow
from storage.database import Database
from storage.tables import job_webhooks, webhook_deliveries
from storage.webhook_outbox import Outbox, queue_due_progress
from storage.webhook_records import (
    ClaimedDelivery,
    DeliveryPage,
    DeliveryRecord,
    WebhookRecord,
)

_D = webhook_deliveries.c
_RECORD_COLUMNS = (
    _D.seq,
    _D.id,
    _D.message_id,
    _D.job_id,
    _D.tenant,
    _D.event,
    _D.attempt,
    _D.status,
    _D.created_at,
    _D.next_attempt_at,
    _D.attempted_at,
    _D.duration_ms,
    _D.response_status,
    _D.error,
)
GONE_ELSEWHERE = "the receiver answered 410 Gone to another delivery of this job"


def _record(row: Any) -> DeliveryRecord:
    (seq, id_, message_id, job_id, tenant, event, attempt, status) = row[:8]
    created_at, next_attempt_at, attempted_at, duration_ms, response_status, error = row[8:]
    return DeliveryRecord(
        seq=seq,
        id=id_,
        message_id=message_id,
        job_id=job_id,
        tenant=tenant,
        event=WebhookEvent(event),
        attempt=attempt,
        status=DeliveryStatus(status),
        created_at=created_at,
        next_attempt_at=next_attempt_at,
        attempted_at=attempted_at,
        duration_ms=duration_ms,
        response_status=response_status,
        error=error,
    )


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one attempt came to, as the sender saw it."""

    outcome: Outcome
    duration_ms: float
    response_status: int | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds, from a 429/503's Retry-After


@dataclass(frozen=True, slots=True)
class Settled:
    """How an attempt was recorded: its final status and, when one follows, the next attempt."""

    status: DeliveryStatus
    next_attempt_at: datetime | None = None


def claim_due(
    conn: Connection, *, now: datetime, limit: int, owner: str, lease: timedelta
) -> list[ClaimedDelivery]:
    query = (
        select(
            _D.seq,
            _D.id,
            _D.message_id,
            _D.job_id,
            _D.tenant,
            _D.event,
            _D.url,
            _D.payload,
            _D.attempt,
            _D.step,
        )
        .where(
            _D.status == DeliveryStatus.PENDING.value,
            _D.next_attempt_at <= now,
            or_(_D.locked_until.is_(None), _D.locked_until < now),
        )
        .order_by(_D.next_attempt_at, _D.seq)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = conn.execute(query).all()
    if not rows:
        return []
    conn.execute(
        update(webhook_deliveries)
        .where(_D.seq.in_([row[0] for row in rows]))
        .values(locked_by=owner, locked_until=now + lease)
    )
    return [
        ClaimedDelivery(
            id=id_,
            message_id=message_id,
            job_id=job_id,
            tenant=tenant,
            event=WebhookEvent(event),
            url=url,
            payload=payload,
            attempt=attempt,
            step=step,
            locked_by=owner,
        )
        for _, id_, message_id, job_id, tenant, event, url, payload, attempt, step in rows
    ]


def settle(
    conn: Connection,
    *,
    claimed: ClaimedDelivery,
    result: AttemptResult,
    now: datetime,
    schedule: tuple[float, ...],
    jitter: float,
    rng: random.Random | None = None,
) -> Settled | None:
    """Record the attempt's outcome and queue the next attempt when one is due; None when the
    attempt is no longer this process's (its hold ran out and another process took it)."""
    delay: float | None = None
    if result.outcome is Outcome.SUCCEEDED:
        status = DeliveryStatus.SUCCEEDED
    elif not result.outcome.retried or claimed.step is None:
        status = DeliveryStatus.GAVE_UP
    else:
        delay = retry_delay(schedule, claimed.step + 1, jitter=jitter, rng=rng)
        if delay is not None and result.retry_after is not None:
            delay = result.retry_after  # the sender caps it at the schedule's longest wait
        status = DeliveryStatus.GAVE_UP if delay is None else DeliveryStatus.FAILED
    done = conn.execute(
        update(webhook_deliveries)
        .where(
            _D.id == claimed.id,
            _D.locked_by == claimed.locked_by,
            _D.status == DeliveryStatus.PENDING.value,
        )
        .values(
            status=status.value,
            attempted_at=now,
            duration_ms=result.duration_ms,
            response_status=result.response_status,
            error=result.error,
            next_attempt_at=None,
            locked_by=None,
            locked_until=None,
        )
    )
    if done.rowcount != 1:
        return None
    if result.outcome is Outcome.GONE:
        _disable(conn, job_id=claimed.job_id, now=now)
    if delay is None:
        return Settled(status)
    when = now + timedelta(seconds=delay)
    step = None if claimed.step is None else claimed.step + 1
    _insert_attempt(
        conn, source_id=claimed.id, attempt=claimed.attempt + 1, step=step, now=now, due=when
    )
    return Settled(status, when)


def _insert_attempt(
    conn: Connection,
    *,
    source_id: str,
    attempt: int,
    step: int | None,
    now: datetime,
    due: datetime,
) -> str:
    """The next attempt at the message of delivery ``source_id``: same id, body and receiver."""
    source = conn.execute(
        select(_D.message_id, _D.job_id, _D.tenant, _D.event, _D.url, _D.payload).where(
            _D.id == source_id
        )
    ).one()
    message_id, job_id, tenant, event, url, payload = source
    delivery_id = str(uuid.uuid4())
    conn.execute(
        insert(webhook_deliveries).values(
            id=delivery_id,
            message_id=message_id,
            job_id=job_id,
            tenant=tenant,
            event=event,
            url=url,
            payload=payload,
            attempt=attempt,
            step=step,
            status=DeliveryStatus.PENDING.value,
            created_at=now,
            next_attempt_at=due,
        )
    )
    return delivery_id


def _disable(conn: Connection, *, job_id: str, now: datetime) -> None:
    """410 Gone: the receiver wants no more calls about this job."""
    conn.execute(
        update(job_webhooks)
        .where(job_webhooks.c.job_id == job_id)
        .values(disabled_at=now, progress_payload=None, progress_due_at=None)
    )
    conn.execute(
        update(webhook_deliveries)
        .where(
            _D.job_id == job_id,
            _D.status == DeliveryStatus.PENDING.value,
            or_(_D.locked_until.is_(None), _D.locked_until < now),
        )
        .values(
            status=DeliveryStatus.GAVE_UP.value,
            error=GONE_ELSEWHERE,
            next_attempt_at=None,
            locked_by=None,
            locked_until=None,
        )
    )


def release(conn: Connection, *, claimed: Sequence[ClaimedDelivery]) -> None:
    """Hand back attempts this process holds but will not send (it is stopping)."""
    for delivery in claimed:
        conn.execute(
            update(webhook_deliveries)
            .where(
                _D.id == delivery.id,
                _D.locked_by == delivery.locked_by,
                _D.status == DeliveryStatus.PENDING.value,
            )
            .values(locked_by=None, locked_until=None)
        )


def redeliver(conn: Connection, *, delivery_id: str, tenant: str | None, now: datetime) -> str:
    """One more attempt at the delivery's message, due now (the id of that attempt); when an
    attempt of it is already pending, that one, brought forward to now."""
    query = select(_D.message_id).where(_D.id == delivery_id)
    if tenant is not None:
        query = query.where(_D.tenant == tenant)
    message_id = conn.execute(query).scalar_one_or_none()
    if message_id is None:
        raise NotFound(f"no webhook delivery with id {delivery_id}")
    attempts = select(_D.id, _D.status, _D.attempt, _D.locked_until).where(
        _D.message_id == message_id
    )
    rows = conn.execute(attempts.order_by(_D.attempt.desc()).with_for_update()).all()
    for id_, status, _, _ in rows:
        if status == DeliveryStatus.PENDING.value:
            conn.execute(
                update(webhook_deliveries)
                .where(_D.id == id_, or_(_D.locked_until.is_(None), _D.locked_until < now))
                .values(next_attempt_at=now)
            )
            return str(id_)
    latest_id, _, latest_attempt, _ = rows[0]
    # A redelivery is one attempt: step None, so a failure gives up instead of rescheduling.
    return _insert_attempt(
        conn, source_id=latest_id, attempt=latest_attempt + 1, step=None, now=now, due=now
    )


def select_page(
    conn: Connection, *, job_id: str, first: int, after_seq: int | None
) -> DeliveryPage:
    query = select(*_RECORD_COLUMNS).where(_D.job_id == job_id)
    if after_seq is not None:
        query = query.where(_D.seq > after_seq)
    rows = conn.execute(query.order_by(_D.seq).limit(first + 1)).all()
    total = conn.execute(
        select(func.count()).select_from(webhook_deliveries).where(_D.job_id == job_id)
    ).scalar_one()
    return DeliveryPage(
        deliveries=[_record(row) for row in rows[:first]],
        has_next_page=len(rows) > first,
        total_count=int(total),
    )


class WebhookStore:
    """``store.webhooks``: the jobs' webhooks and their deliveries."""

    def __init__(self, db: Database, outbox: Outbox) -> None:
        self._db = db
        self.outbox = outbox
        # Swappable, so tests can move time instead of sleeping through a schedule.
        self.clock: Callable[[], datetime] = utcnow

    async def get_webhooks(self, *, job_ids: Sequence[str]) -> dict[str, WebhookRecord]:
        query = select(
            job_webhooks.c.job_id,
            job_webhooks.c.url,
            job_webhooks.c.events,
            job_webhooks.c.disabled_at,
        ).where(job_webhooks.c.job_id.in_(list(job_ids)))

        def work(conn: Connection) -> dict[str, WebhookRecord]:
            found = {}
            for job_id, url, events, disabled_at in conn.execute(query):
                chosen = {WebhookEvent(name) for name in events.split(",") if name}
                found[job_id] = WebhookRecord(
                    job_id=job_id,
                    url=url,
                    events=tuple(event for event in WebhookEvent if event in chosen),
                    disabled_at=utc_from_stored(disabled_at),
                )
            return found

        return await self._db.read(work)

    async def page(self, *, job_id: str, first: int, after_seq: int | None) -> DeliveryPage:
        return await self._db.read(
            lambda conn: select_page(conn, job_id=job_id, first=first, after_seq=after_seq)
        )

    async def get(self, *, delivery_id: str) -> DeliveryRecord | None:
        query = select(*_RECORD_COLUMNS).where(_D.id == delivery_id)
        row = await self._db.read(lambda conn: conn.execute(query).first())
        return _record(row) if row is not None else None

    async def by_message(self, *, message_id: str) -> list[DeliveryRecord]:
        query = select(*_RECORD_COLUMNS).where(_D.message_id == message_id).order_by(_D.seq)
        return await self._db.read(lambda conn: [_record(row) for row in conn.execute(query)])

    async def claim_due(
        self, *, owner: str, limit: int, lease_seconds: float
    ) -> list[ClaimedDelivery]:
        now = self.clock()
        lease = timedelta(seconds=lease_seconds)
        if not await self._db.read(lambda conn: _any_due(conn, now=now)):
            return []  # the common idle tick takes no write lock (SQLite has one)
        return await self._db.write(
            lambda conn: claim_due(conn, now=now, limit=limit, owner=owner, lease=lease)
        )

    async def settle(self, *, claimed: ClaimedDelivery, result: AttemptResult) -> Settled | None:
        settings = self._db.settings
        now = self.clock()
        settled = await self._db.write(
            lambda conn: settle(
                conn,
                claimed=claimed,
                result=result,
                now=now,
                schedule=settings.webhook_retry_schedule,
                jitter=settings.webhook_retry_jitter,
            )
        )
        if settled is not None and settled.next_attempt_at is not None:
            self.outbox.notify()
        return settled

    async def release(self, *, claimed: Sequence[ClaimedDelivery]) -> None:
        if claimed:
            await self._db.write(lambda conn: release(conn, claimed=claimed))

    async def redeliver(self, *, delivery_id: str, tenant: str | None) -> DeliveryRecord:
        now = self.clock()
        new_id = await self._db.write(
            lambda conn: redeliver(conn, delivery_id=delivery_id, tenant=tenant, now=now)
        )
        self.outbox.notify()
        record = await self.get(delivery_id=new_id)
        assert record is not None
        return record

    async def queue_due_progress(self) -> int:
        now = self.clock()
        if not await self._db.read(lambda conn: _any_progress_due(conn, now=now)):
            return 0
        queued = await self._db.write(lambda conn: queue_due_progress(conn, now=now))
        if queued:
            self.outbox.notify()
        return queued


def _any_due(conn: Connection, *, now: datetime) -> bool:
    query = (
        select(_D.seq)
        .where(
            and_(
                _D.status == DeliveryStatus.PENDING.value,
                _D.next_attempt_at <= now,
                or_(_D.locked_until.is_(None), _D.locked_until < now),
            )
        )
        .limit(1)
    )
    return conn.execute(query).first() is not None


def _any_progress_due(conn: Connection, *, now: datetime) -> bool:
    query = select(job_webhooks.c.job_id).where(job_webhooks.c.progress_due_at <= now).limit(1)
    return conn.execute(query).first() is not None
