"""Retention: delete finished jobs (with their items and log lines) older than a cutoff.

Work is cut into short transactions so that no lock is held for long: jobs are taken 500 at a
time, their log lines and items are deleted a few thousand rows per transaction, then the job
rows go. Every transaction re-checks that a job is still finished and old, so a job retried
while the purge runs is left alone (its older lines may already be gone: they were due).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, delete, func, select, tuple_

from domain.jobs import TERMINAL_STATUSES
from storage.database import Database
from storage.tables import job_items, jobs, log_lines

_AGE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_age(text: str) -> timedelta:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"3600s"`` → a positive timedelta (ValueError otherwise).

    >>> parse_age("90m")
    datetime.timedelta(seconds=5400)
    """
    match = _AGE.fullmatch(text.strip())
    if match is None or int(match.group(1)) <= 0:
        raise ValueError(f"not an age: {text!r} (use e.g. 30d, 12h, 90m, 3600s)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True, slots=True)
class PurgeReport:
    jobs: int = 0
    items: int = 0
    log_lines: int = 0

    def __add__(self, other: PurgeReport) -> PurgeReport:
        return PurgeReport(
            self.jobs + other.jobs, self.items + other.items, self.log_lines + other.log_lines
        )


def _purgeable(cutoff: datetime) -> ColumnElement[bool]:
    # finished_at is set on every terminal transition; updated_at covers any row without one.
    finished = func.coalesce(jobs.c.finished_at, jobs.c.updated_at)
    return and_(
        jobs.c.status.in_([status.value for status in TERMINAL_STATUSES]), finished < cutoff
    )


def _next_batch(conn: Connection, *, cutoff: datetime, limit: int) -> list[str]:
    query = select(jobs.c.id).where(_purgeable(cutoff)).order_by(jobs.c.id).limit(limit)
    return list(conn.execute(query).scalars())


def _delete_children(
    conn: Connection, *, table: Table, job_ids: list[str], cutoff: datetime, limit: int | None
) -> int:
    """Delete up to ``limit`` rows of ``table`` belonging to jobs that are still purgeable."""
    still = select(jobs.c.id).where(jobs.c.id.in_(job_ids), _purgeable(cutoff))
    keys = [column for column in table.primary_key.columns]
    victims = select(*keys).where(table.c.job_id.in_(still))
    if limit is None:
        statement = delete(table).where(table.c.job_id.in_(still))
    else:
        statement = delete(table).where(tuple_(*keys).in_(victims.limit(limit)))
    return int(conn.execute(statement).rowcount or 0)


def _delete_jobs(conn: Connection, *, job_ids: list[str], cutoff: datetime) -> PurgeReport:
    """The last step for a batch: lock the jobs still purgeable, then remove them for good."""
    lock: Any = select(jobs.c.id).where(jobs.c.id.in_(job_ids), _purgeable(cutoff))
    if conn.dialect.name == "postgresql":
        lock = lock.with_for_update()  # a concurrent retryJob waits, then finds no job
    locked = list(conn.execute(lock).scalars())
    if not locked:
        return PurgeReport()
    lines = _delete_children(conn, table=log_lines, job_ids=locked, cutoff=cutoff, limit=None)
    items = _delete_children(conn, table=job_items, job_ids=locked, cutoff=cutoff, limit=None)
    removed = conn.execute(delete(jobs).where(jobs.c.id.in_(locked))).rowcount or 0
    return PurgeReport(jobs=int(removed), items=items, log_lines=lines)


def _count(conn: Connection, *, cutoff: datetime) -> PurgeReport:
    purgeable = select(jobs.c.id).where(_purgeable(cutoff))
    count_jobs = select(func.count()).select_from(jobs).where(_purgeable(cutoff))
    count_items = select(func.count()).where(job_items.c.job_id.in_(purgeable))
    count_lines = select(func.count()).where(log_lines.c.job_id.in_(purgeable))
    return PurgeReport(
        jobs=int(conn.execute(count_jobs).scalar_one()),
        items=int(conn.execute(count_items).scalar_one()),
        log_lines=int(conn.execute(count_lines).scalar_one()),
    )


class RetentionStore:
    """``await store.retention.purge(cutoff=...)`` → what was (or, dry, would be) deleted."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def purge(
        self,
        *,
        cutoff: datetime,
        dry_run: bool = False,
        jobs_per_batch: int = 500,
        rows_per_transaction: int = 5000,
    ) -> PurgeReport:
        if dry_run:
            return await self._db.read(lambda conn: _count(conn, cutoff=cutoff))
        total = PurgeReport()
        while True:
            batch = await self._db.read(
                lambda conn: _next_batch(conn, cutoff=cutoff, limit=jobs_per_batch)
            )
            if not batch:
                return total
            for table in (log_lines, job_items):
                deleted = await self._delete_chunks(table, batch, cutoff, rows_per_transaction)
                total += (
                    PurgeReport(log_lines=deleted)
                    if table is log_lines
                    else PurgeReport(items=deleted)
                )
            total += await self._db.write(partial(_delete_jobs, job_ids=batch, cutoff=cutoff))

    async def _delete_chunks(
        self, table: Table, batch: list[str], cutoff: datetime, limit: int
    ) -> int:
        deleted = 0
        while True:
            count = await self._db.write(
                partial(_delete_children, table=table, job_ids=batch, cutoff=cutoff, limit=limit)
            )
            deleted += count
            if count < limit:
                return deleted
