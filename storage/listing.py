"""Pages for frontends: jobs newest first by keyset, and log lines by seq in either direction.

Job pages seek on (created_at, id) — the tail of the ``ix_jobs_tenant_created`` index — instead
of skipping an offset, so each page costs the same however deep it is and a page boundary does
not move when jobs are inserted. Log pages are range reads on the (job_id, seq) primary key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, func, or_, select

from domain.cursors import JobCursor
from domain.jobs import JobStatus
from domain.videos import Platform
from storage.database import Database
from storage.jobs import JOB_COLUMNS, job_from_row
from storage.records import JobRecord, LogLineRecord
from storage.tables import job_items, jobs, log_lines


@dataclass(frozen=True, slots=True)
class JobListFilter:
    """Which jobs a list shows; ``tenant=None`` means every tenant (admin keys)."""

    tenant: str | None
    statuses: Sequence[JobStatus] = ()
    platform: Platform | None = None
    created_after: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[JobRecord]
    has_next_page: bool
    total_count: int


@dataclass(frozen=True, slots=True)
class LogPageRecord:
    lines: list[LogLineRecord] = field(default_factory=list)
    has_more: bool = False


def _conditions(spec: JobListFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if spec.tenant is not None:
        conditions.append(jobs.c.tenant == spec.tenant)
    if spec.statuses:
        conditions.append(jobs.c.status.in_([status.value for status in spec.statuses]))
    if spec.platform is not None:
        conditions.append(
            exists().where(
                job_items.c.job_id == jobs.c.id, job_items.c.platform == spec.platform.value
            )
        )
    if spec.created_after is not None:
        conditions.append(jobs.c.created_at >= spec.created_after)
    if spec.created_before is not None:
        conditions.append(jobs.c.created_at < spec.created_before)
    return conditions


def select_job_page(
    conn: Connection, *, spec: JobListFilter, first: int, after: JobCursor | None
) -> JobPage:
    conditions = _conditions(spec)
    total = conn.execute(select(func.count()).select_from(jobs).where(*conditions)).scalar_one()
    if after is not None:
        # Spelled out rather than as a row-value comparison: both planners turn this into an
        # index range on (tenant, created_at, id).
        conditions.append(
            or_(
                jobs.c.created_at < after.created_at,
                and_(jobs.c.created_at == after.created_at, jobs.c.id < after.id),
            )
        )
    query = (
        select(*JOB_COLUMNS)
        .where(*conditions)
        .order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
        .limit(first + 1)  # one more than asked tells whether there is a next page
    )
    rows = [job_from_row(row) for row in conn.execute(query)]
    return JobPage(jobs=rows[:first], has_next_page=len(rows) > first, total_count=int(total))


def _line(row: Any) -> LogLineRecord:
    return LogLineRecord(*row)


def select_log_page(
    conn: Connection,
    *,
    job_id: str,
    after: int | None,
    before: int | None,
    limit: int,
    backward: bool,
) -> LogPageRecord:
    """Up to ``limit`` lines with after < seq < before, oldest first.

    Forward pages take the first lines of that range, backward pages its last lines;
    ``has_more`` says whether the range holds more lines beyond the page in that direction.
    """
    columns = (log_lines.c.seq, log_lines.c.timestamp, log_lines.c.level, log_lines.c.message)
    query = select(*columns).where(log_lines.c.job_id == job_id)
    if after is not None:
        query = query.where(log_lines.c.seq > after)
    if before is not None:
        query = query.where(log_lines.c.seq < before)
    order = log_lines.c.seq.desc() if backward else log_lines.c.seq.asc()
    rows = [_line(row) for row in conn.execute(query.order_by(order).limit(limit + 1))]
    has_more = len(rows) > limit
    rows = rows[:limit]
    if backward:
        rows.reverse()
    return LogPageRecord(lines=rows, has_more=has_more)


class ListingStore:
    """``store.listing``: the paged reads behind ``jobs(...)`` and ``Job.logs(...)``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def job_page(
        self, *, spec: JobListFilter, first: int, after: JobCursor | None
    ) -> JobPage:
        # One read transaction: the count and the page see the same snapshot.
        return await self._db.read(
            lambda conn: select_job_page(conn, spec=spec, first=first, after=after)
        )

    async def log_page(
        self, *, job_id: str, after: int | None, before: int | None, limit: int, backward: bool
    ) -> LogPageRecord:
        return await self._db.read(
            lambda conn: select_log_page(
                conn, job_id=job_id, after=after, before=before, limit=limit, backward=backward
            )
        )
