"""Jobs and their video items: create, read one, read many."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from domain.jobs import ItemStatus, JobStatus
from domain.videos import Platform, VideoRef
from engine.sql import Query
from storage.coltypes import job_timestamp, utc_from_stored, utcnow
from storage.database import Database
from storage.events import EventPublisher, JobEvent
from storage.records import (
    ItemCountsRecord,
    ItemRecord,
    JobRecord,
    JobSnapshot,
    TailRequest,
    TailText,
)
from storage.tables import job_items, jobs
from storage.tails import is_big, read_tails
from storage.webhook_outbox import insert_webhook
from storage.webhook_records import WebhookSpec

JOB_COLUMNS = (
    jobs.c.id,
    jobs.c.tenant,
    jobs.c.status,
    jobs.c.progress,
    jobs.c.attempt,
    jobs.c.created_at,
    jobs.c.updated_at,
    jobs.c.started_at,
    jobs.c.finished_at,
    jobs.c.error,
    jobs.c.worker_id,
    jobs.c.lease_expires_at,
    jobs.c.cancel_requested,
    jobs.c.last_seq,
    jobs.c.item_count,
)
ITEM_COLUMNS = (
    job_items.c.job_id,
    job_items.c.position,
    job_items.c.platform,
    job_items.c.code,
    job_items.c.status,
    job_items.c.error,
)


# Stored text -> enum member by a dict lookup: calling the enum class costs far more,
# and a page of jobs converts hundreds. A value not in the map still raises, via the class.
_JOB_STATUS = {member.value: member for member in JobStatus}
_ITEM_STATUS = {member.value: member for member in ItemStatus}
_PLATFORM = {member.value: member for member in Platform}


# What NamedTuple._make does, minus its Python frame and length check: the tuples below are
# literals with one entry per field (records' tests compare them field by field).
_new_record: Any = tuple.__new__


def job_from_row(row: Any) -> JobRecord:
    # Works on processed rows and on raw SQLite rows (engine.sql): timestamps may be text.
    # Unpacked by name (a page converts 50): a column added to JOB_COLUMNS fails loudly here.
    (
        id_,
        tenant,
        status,
        progress,
        attempt,
        created_at,
        updated_at,
        started_at,
        finished_at,
        error,
        worker_id,
        lease_expires_at,
        cancel_requested,
        last_seq,
        item_count,
    ) = row
    fields = (
        id_,
        tenant,
        _JOB_STATUS.get(status) or JobStatus(status),
        progress,
        attempt,
        job_timestamp(created_at),
        job_timestamp(updated_at),
        None if started_at is None else job_timestamp(started_at),
        None if finished_at is None else job_timestamp(finished_at),
        error,
        worker_id,
        None if lease_expires_at is None else utc_from_stored(lease_expires_at),
        bool(cancel_requested),
        last_seq,
        item_count,
    )
    record: JobRecord = _new_record(JobRecord, fields)
    return record


def item_from_row(row: Any) -> ItemRecord:
    job_id, position, platform, code, status, error = row
    fields = (
        job_id,
        position,
        _PLATFORM.get(platform) or Platform(platform),
        code,
        _ITEM_STATUS.get(status) or ItemStatus(status),
        error,
    )
    record: ItemRecord = _new_record(ItemRecord, fields)
    return record


def items_of_job(job_id: str, rows: Iterable[Sequence[Any]]) -> list[ItemRecord]:
    """``item_from_row`` for one job's (position, platform, code, status, error) rows, in one
    loop (a page builds 150)."""
    platforms, statuses, new = _PLATFORM, _ITEM_STATUS, _new_record
    return [
        new(
            ItemRecord,
            (
                job_id,
                position,
                platforms.get(platform) or Platform(platform),
                code,
                statuses.get(status) or ItemStatus(status),
                error,
            ),
        )
        for position, platform, code, status, error in rows
    ]


# Built once: the job(id) hot path runs these on every request (engine.sql).
_JOB_BY_ID = Query(select(*JOB_COLUMNS).where(jobs.c.id == bindparam("job_id")))
_JOB_BY_ID_IN_TENANT = Query(
    select(*JOB_COLUMNS).where(
        jobs.c.id == bindparam("job_id"), jobs.c.tenant == bindparam("tenant")
    )
)
_ITEMS_OF_JOB = Query(
    select(*ITEM_COLUMNS)
    .where(job_items.c.job_id == bindparam("job_id"))
    .order_by(job_items.c.position)
)
_ITEMS_OF_JOBS = Query(
    select(*ITEM_COLUMNS)
    .where(job_items.c.job_id.in_(bindparam("job_ids", expanding=True)))
    .order_by(job_items.c.job_id, job_items.c.position)
)


def select_job(conn: Connection, *, job_id: str, tenant: str | None) -> JobRecord | None:
    if tenant is None:
        row = _JOB_BY_ID.first(conn, {"job_id": job_id})
    else:
        row = _JOB_BY_ID_IN_TENANT.first(conn, {"job_id": job_id, "tenant": tenant})
    return job_from_row(row) if row is not None else None


def select_items(conn: Connection, *, job_ids: Sequence[str]) -> dict[str, list[ItemRecord]]:
    by_job: dict[str, list[ItemRecord]] = {job_id: [] for job_id in job_ids}
    if len(by_job) == 1:
        # One job (job(id)): the statement without an IN list.
        (job_id,) = by_job
        by_job[job_id] = [
            item_from_row(row) for row in _ITEMS_OF_JOB.rows(conn, {"job_id": job_id})
        ]
    elif by_job:
        for row in _ITEMS_OF_JOBS.rows(conn, {"job_ids": list(by_job)}):
            by_job[row[0]].append(item_from_row(row))
    return by_job


def select_job_snapshot(
    conn: Connection,
    *,
    job_id: str,
    tenant: str | None,
    items: bool,
    tail: TailRequest | None,
    widest: int,
    big_tail: bool = True,
) -> JobSnapshot | None:
    """What job(id, tail) shows, in one transaction: one consistent snapshot (status, items and
    log agree) for one unit of work instead of three. ``tail`` None: no log read;
    ``big_tail`` False leaves a tail that ``storage.tails.is_big`` calls big unread (the
    caller reads it on a thread; it ends at the snapshot's last seq all the same)."""
    job = select_job(conn, job_id=job_id, tenant=tenant)
    if job is None:
        return None
    text = None
    if tail is not None and (big_tail or not is_big(min(tail.limit, job.last_seq))):
        text = _tail_of(conn, job, tail, widest)
    return JobSnapshot(
        job=job, items=select_items(conn, job_ids=[job_id])[job_id] if items else None, tail=text
    )


def _tail_of(conn: Connection, job: JobRecord, tail: TailRequest, widest: int) -> TailText:
    return read_tails(
        conn, ends={job.id: job.last_seq}, limit=tail.limit, allowance=tail.allowance, widest=widest
    )[job.id]


_ITEM_COUNTS_OF_JOBS = Query(
    select(job_items.c.job_id, job_items.c.status, func.count())
    .where(job_items.c.job_id.in_(bindparam("job_ids", expanding=True)))
    .group_by(job_items.c.job_id, job_items.c.status)
)


def select_item_counts(conn: Connection, *, job_ids: Sequence[str]) -> dict[str, ItemCountsRecord]:
    tallies: dict[str, dict[str, int]] = {job_id: {} for job_id in job_ids}
    if not tallies:
        return {}
    for job_id, status, count in _ITEM_COUNTS_OF_JOBS.rows(conn, {"job_ids": list(tallies)}):
        tallies[job_id][status.lower()] = count
    return {
        job_id: ItemCountsRecord(total=sum(counts.values()), **counts)
        for job_id, counts in tallies.items()
    }


def insert_job(
    conn: Connection,
    *,
    tenant: str,
    items: Sequence[VideoRef],
    idempotency_key: str | None,
    webhook: WebhookSpec | None = None,
) -> tuple[JobRecord, bool]:
    """Insert a job and its items; returns (job, created): False for an idempotency-key hit."""
    if idempotency_key is not None:
        existing = _by_idempotency_key(conn, tenant=tenant, key=idempotency_key)
        if existing is not None:
            return existing, False
    now = utcnow()
    job_id = str(uuid.uuid4())
    values = {
        "id": job_id,
        "tenant": tenant,
        "status": JobStatus.PENDING.value,
        "progress": 0,
        "attempt": 1,
        "created_at": now,
        "updated_at": now,
        "cancel_requested": False,
        "last_seq": 0,
        "item_count": len(items),
        "idempotency_key": idempotency_key,
    }
    try:
        with conn.begin_nested():
            conn.execute(insert(jobs).values(values))
    except IntegrityError:
        # Another request with the same idempotency key won the race: answer with its job.
        existing = _by_idempotency_key(conn, tenant=tenant, key=idempotency_key or "")
        if existing is None:
            raise
        return existing, False
    conn.execute(
        insert(job_items),
        [
            {
                "job_id": job_id,
                "position": position,
                "platform": ref.platform.value,
                "code": ref.code,
                "status": ItemStatus.PENDING.value,
                "error": None,
            }
            for position, ref in enumerate(items)
        ],
    )
    if webhook is not None:
        insert_webhook(conn, job_id=job_id, tenant=tenant, spec=webhook)
    job = select_job(conn, job_id=job_id, tenant=tenant)
    assert job is not None
    return job, True


def _by_idempotency_key(conn: Connection, *, tenant: str, key: str) -> JobRecord | None:
    query = select(*JOB_COLUMNS).where(jobs.c.tenant == tenant, jobs.c.idempotency_key == key)
    row = conn.execute(query).first()
    return job_from_row(row) if row is not None else None


class JobStore:
    """Reads and writes of jobs and items, scoped by tenant (``None`` means every tenant)."""

    def __init__(self, db: Database, publisher: EventPublisher) -> None:
        self._db = db
        self._publisher = publisher

    async def get_job(self, *, job_id: str, tenant: str | None) -> JobRecord | None:
        return await self._db.read(lambda conn: select_job(conn, job_id=job_id, tenant=tenant))

    async def get_job_snapshot(
        self, *, job_id: str, tenant: str | None, items: bool, tail: TailRequest | None
    ) -> JobSnapshot | None:
        """The job plus, on request, its items and log tail: one read, and on SQLite (whose
        reads run on the event loop) a big tail read on a thread after it."""
        widest = self._db.settings.max_log_message_bytes + 1
        if self._db.fast_pg:
            from storage import pg_reads  # it builds on this module's columns and rows

            if pg_reads.applies(tail, widest=widest):
                sql = pg_reads.statement(
                    items=items, tail=tail is not None and tail.limit > 0, tenant=tenant is not None
                )
                row = await self._db.pg_first(
                    sql, pg_reads.arguments(job_id=job_id, tenant=tenant, tail=tail)
                )
                if row is None:
                    return None
                found = pg_reads.parse(row, items=items, tail=tail)
                if found is not None:
                    return found
        on_loop = self._db.is_sqlite
        snapshot = await self._db.read(
            lambda conn: select_job_snapshot(
                conn,
                job_id=job_id,
                tenant=tenant,
                items=items,
                tail=tail,
                widest=widest,
                big_tail=not on_loop,
            )
        )
        if snapshot is None or tail is None or snapshot.tail is not None:
            return snapshot
        job = snapshot.job
        text = await self._db.read_statement_off_loop(
            lambda conn: _tail_of(conn, job, tail, widest)
        )
        return JobSnapshot(job=job, items=snapshot.items, tail=text)

    async def get_items(self, *, job_ids: Sequence[str]) -> dict[str, list[ItemRecord]]:
        return await self._db.read(lambda conn: select_items(conn, job_ids=job_ids))

    async def get_item_counts(self, *, job_ids: Sequence[str]) -> dict[str, ItemCountsRecord]:
        return await self._db.read(lambda conn: select_item_counts(conn, job_ids=job_ids))

    async def create_job(
        self,
        *,
        tenant: str,
        items: Sequence[VideoRef],
        idempotency_key: str | None = None,
        webhook: WebhookSpec | None = None,
    ) -> tuple[JobRecord, bool]:
        job, created = await self._db.write(
            lambda conn: insert_job(
                conn,
                tenant=tenant,
                items=items,
                idempotency_key=idempotency_key,
                webhook=webhook,
            )
        )
        if created:
            await self._publisher.publish(JobEvent.job_changed(job))
        return job, created
