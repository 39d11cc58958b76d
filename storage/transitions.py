"""The lifecycle's units of work: synchronous functions over one Connection, one transaction each.

Every function that changes a job first locks its row (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite the write runner's ``BEGIN IMMEDIATE`` already serialises writers), then
checks the state machine and the lease on what it read, so a check and its write can never be
split by another writer. They raise domain errors; the runner rolls the transaction back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, text, update

from domain.errors import NotFound
from domain.jobs import ItemStatus, JobStatus
from domain.lifecycle import (
    LEASE_EXPIRED_ERROR,
    Action,
    after_lease_expiry,
    check_lease,
    next_progress,
    transition,
)
from storage.jobs import JOB_COLUMNS, job_from_row
from storage.records import HeartbeatRecord, JobRecord
from storage.tables import job_items, jobs

# Any constant works; it only has to be the same in every jobgraph process.
_SWEEP_LOCK_ID = 0x6A6F6268


def lock_job(conn: Connection, *, job_id: str, tenant: str | None) -> tuple[JobRecord, int | None]:
    """The job row, locked until commit, and its claimed lease length; NOT_FOUND when the job
    does not exist or belongs to another tenant (never FORBIDDEN: its existence stays private)."""
    query = select(*JOB_COLUMNS, jobs.c.lease_seconds).where(jobs.c.id == job_id)
    if tenant is not None:
        query = query.where(jobs.c.tenant == tenant)
    row = conn.execute(query.with_for_update()).first()
    if row is None:
        raise NotFound(f"no job with id {job_id}")
    return job_from_row(row[:-1]), row[-1]


def update_job(conn: Connection, job_id: str, now: datetime, **values: Any) -> JobRecord:
    statement = (
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(updated_at=now, **values)
        .returning(*JOB_COLUMNS)
    )
    return job_from_row(conn.execute(statement).one())


def set_items(
    conn: Connection,
    job_id: str,
    *,
    where: tuple[ItemStatus, ...],
    status: ItemStatus,
    error: str | None = None,
) -> None:
    """Move every item of the job that is in one of ``where`` to ``status`` (and ``error``)."""
    conn.execute(
        update(job_items)
        .where(
            job_items.c.job_id == job_id,
            job_items.c.status.in_([item.value for item in where]),
        )
        .values(status=status.value, error=error)
    )


def claim(
    conn: Connection, *, tenant: str | None, worker_id: str, lease_seconds: int, now: datetime
) -> JobRecord | None:
    """Lease the oldest PENDING job to ``worker_id``; None when nothing is pending.

    SKIP LOCKED lets concurrent claimers pass over a row another claimer holds instead of
    queueing behind it, so 20 claimers take 20 different jobs at once.
    """
    query = (
        select(jobs.c.id, jobs.c.status)
        .where(jobs.c.status == JobStatus.PENDING.value)
        .order_by(jobs.c.created_at, jobs.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if tenant is not None:
        query = query.where(jobs.c.tenant == tenant)
    row = conn.execute(query).first()
    if row is None:
        return None
    return update_job(
        conn,
        row[0],
        now,
        status=transition(JobStatus(row[1]), Action.CLAIM).value,
        worker_id=worker_id,
        lease_seconds=lease_seconds,
        lease_expires_at=now + timedelta(seconds=lease_seconds),
        started_at=now,
        finished_at=None,
        progress=0,
        error=None,
        cancel_requested=False,
    )


def heartbeat(
    conn: Connection,
    *,
    job_id: str,
    tenant: str | None,
    worker_id: str,
    progress: int | None,
    now: datetime,
    default_lease_seconds: int,
) -> tuple[JobRecord, HeartbeatRecord]:
    job, lease_seconds = lock_job(conn, job_id=job_id, tenant=tenant)
    if job.status is JobStatus.CANCELLED and job.cancel_requested and job.worker_id == worker_id:
        # The one write a cancelled job still answers: how its worker learns to stop.
        return job, HeartbeatRecord(True, job.lease_expires_at or now)
    check_lease(
        status=job.status,
        holder=job.worker_id,
        lease_expires_at=job.lease_expires_at,
        worker_id=worker_id,
        now=now,
    )
    lease_end = now + timedelta(seconds=lease_seconds or default_lease_seconds)
    job = update_job(
        conn,
        job_id,
        now,
        progress=next_progress(job.progress, progress),
        lease_expires_at=lease_end,
    )
    return job, HeartbeatRecord(job.cancel_requested, lease_end)


def holding_lease(
    conn: Connection, *, job_id: str, tenant: str | None, worker_id: str, now: datetime
) -> JobRecord:
    """The locked job, after checking that ``worker_id`` holds its unexpired lease."""
    job, _ = lock_job(conn, job_id=job_id, tenant=tenant)
    check_lease(
        status=job.status,
        holder=job.worker_id,
        lease_expires_at=job.lease_expires_at,
        worker_id=worker_id,
        now=now,
    )
    return job


def any_expired(conn: Connection, *, now: datetime) -> bool:
    """A cheap read first, so an idle sweeper tick takes no write lock (SQLite has one)."""
    query = (
        select(jobs.c.id)
        .where(jobs.c.status == JobStatus.RUNNING.value, jobs.c.lease_expires_at < now)
        .limit(1)
    )
    return conn.execute(query).first() is not None


def expire_leases(
    conn: Connection, *, now: datetime, max_attempts: int, limit: int
) -> list[JobRecord]:
    """Requeue (attempt + 1) or fail the RUNNING jobs whose lease ended before ``now``."""
    if conn.dialect.name == "postgresql":
        # One process sweeps per tick; the others find the lock taken and skip this round.
        taken = conn.execute(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": _SWEEP_LOCK_ID})
        if not taken.scalar_one():
            return []
    query = (
        select(jobs.c.id, jobs.c.attempt)
        .where(jobs.c.status == JobStatus.RUNNING.value, jobs.c.lease_expires_at < now)
        .order_by(jobs.c.lease_expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    changed = []
    for job_id, attempt in conn.execute(query).all():
        action, next_attempt = after_lease_expiry(attempt, max_attempts=max_attempts)
        status = transition(JobStatus.RUNNING, action)
        if action is Action.REQUEUE:
            # The unfinished item goes back to the queue with its job; finished ones stay done.
            set_items(conn, job_id, where=(ItemStatus.RUNNING,), status=ItemStatus.PENDING)
            values: dict[str, Any] = {"started_at": None, "progress": 0}
        else:
            set_items(
                conn,
                job_id,
                where=(ItemStatus.RUNNING,),
                status=ItemStatus.FAILED,
                error=LEASE_EXPIRED_ERROR,
            )
            values = {"finished_at": now, "error": LEASE_EXPIRED_ERROR}
        changed.append(
            update_job(
                conn,
                job_id,
                now,
                status=status.value,
                attempt=next_attempt,
                worker_id=None,
                lease_expires_at=None,
                lease_seconds=None,
                **values,
            )
        )
    return changed
