"""Reads for live followers: a job with its next page of log lines, in one unit of work.

The job row is read before the lines, so when it says the job is terminal with ``last_seq`` N,
every line up to N is already committed and visible to the lines read that follows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar, cast

from sqlalchemy import Connection, select

from storage.database import Database
from storage.jobs import select_job
from storage.records import JobRecord, LogLineRecord
from storage.tables import LINE_COLUMNS, log_lines

V = TypeVar("V")
# Reads kept for followers woken by the same event (insertion order: oldest dropped first).
_RECENT_READS = 256


@dataclass(frozen=True, slots=True)
class JobWithLines:
    job: JobRecord | None
    lines: list[LogLineRecord]


def lines_after(conn: Connection, *, job_id: str, after: int, limit: int) -> list[LogLineRecord]:
    """Up to ``limit`` lines with seq > ``after``, oldest first (a primary-key range scan)."""
    query = (
        select(*LINE_COLUMNS)
        .where(log_lines.c.job_id == job_id, log_lines.c.seq > after)
        .order_by(log_lines.c.seq)
        .limit(limit)
    )
    return [LogLineRecord(*row) for row in conn.execute(query)]


class SharedReads:
    """Single-flight: concurrent identical reads share one query (many followers, one job)."""

    def __init__(self) -> None:
        self._inflight: dict[object, asyncio.Future[object]] = {}

    async def run(self, key: object, read: Callable[[], Awaitable[V]]) -> V:
        while (pending := self._inflight.get(key)) is not None:
            try:
                return cast(V, await asyncio.shield(pending))
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is None or task.cancelling() or not pending.cancelled():
                    raise
                # Only the task that led the read was cancelled: read again ourselves.
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await read()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as error:
            future.set_exception(error)
            future.exception()  # marks it retrieved when nobody else shared the read
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._inflight[key]


class FollowReads:
    """``store.follow``: what jobUpdated / jobLogs / jobEvents read after each event."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._shared = SharedReads()
        self._recent: dict[object, JobWithLines] = {}

    async def job(self, *, job_id: str, tenant: str | None) -> JobRecord | None:
        return await self._shared.run(
            ("job", job_id, tenant),
            lambda: self._db.read(lambda conn: select_job(conn, job_id=job_id, tenant=tenant)),
        )

    async def tail(self, *, job_id: str, tenant: str | None, limit: int, page: int) -> JobWithLines:
        """The job and the first ``page`` lines of its last ``limit`` lines: a follower reads
        a long tail a page at a time (``after``), so no read holds more than a page."""

        def work(conn: Connection) -> JobWithLines:
            job = select_job(conn, job_id=job_id, tenant=tenant)
            if job is None:
                return JobWithLines(None, [])
            if limit <= 0 or job.last_seq == 0:
                return JobWithLines(job, [])
            start = max(0, job.last_seq - limit)  # seqs are dense: the tail is seq > start
            return JobWithLines(
                job, lines_after(conn, job_id=job_id, after=start, limit=min(limit, page))
            )

        return await self._db.read(work)

    async def after(
        self,
        *,
        job_id: str,
        tenant: str | None,
        after: int,
        limit: int,
        seen: tuple[int, str] | None = None,
    ) -> JobWithLines:
        """The job and up to ``limit`` lines after ``after``.

        ``seen`` is the (last_seq, status) of the newest event the caller woke up for. Every
        follower woken by the same event asks with the same ``seen``; a read made after that
        event committed answers all of them, so it is cached under it (one read, N followers).
        """

        def work(conn: Connection) -> JobWithLines:
            job = select_job(conn, job_id=job_id, tenant=tenant)
            if job is None:
                return JobWithLines(None, [])
            if job.last_seq <= after:
                return JobWithLines(job, [])
            return JobWithLines(job, lines_after(conn, job_id=job_id, after=after, limit=limit))

        key = ("after", job_id, tenant, after, limit, seen)
        if seen is not None and (cached := self._recent.get(key)) is not None:
            return cached
        result = await self._shared.run(key, lambda: self._db.read(work))
        if seen is not None:
            self._recent[key] = result
            if len(self._recent) > _RECENT_READS:
                del self._recent[next(iter(self._recent))]
        return result
