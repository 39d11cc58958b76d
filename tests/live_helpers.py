"""Test-only writes that publish like the store's worker mutations will (appendLogs, status).

Schema-level tests use them to write without a worker lease; the end-to-end tests use the
real worker mutations (claimJob, appendLogs, completeJob) over HTTP.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, update

from domain.jobs import JobStatus
from storage.coltypes import utcnow
from storage.events import JobEvent
from storage.jobs import select_job
from storage.logs import append_lines
from storage.records import JobRecord
from storage.store import Store
from storage.tables import jobs


async def append_logs(store: Store, job_id: str, count: int, *, first: int = 1) -> int:
    """Append ``count`` lines "line {first}".."line {first+count-1}"; returns the last seq."""
    start = utcnow()
    lines = [
        (start + timedelta(microseconds=offset), "INFO", f"line {first + offset}")
        for offset in range(count)
    ]

    def work(conn: Connection) -> JobRecord:
        append_lines(conn, job_id=job_id, lines=lines)
        job = select_job(conn, job_id=job_id, tenant=None)
        assert job is not None
        return job

    job = await store.db.write(work)
    await store.publisher.publish(JobEvent.logs_appended(job))
    return job.last_seq


async def set_status(
    store: Store, job_id: str, status: JobStatus, *, progress: int | None = None
) -> JobRecord:
    values: dict[str, Any] = {"status": status.value, "updated_at": utcnow()}
    if progress is not None:
        values["progress"] = progress
    if status.is_terminal:
        values["finished_at"] = utcnow()

    def work(conn: Connection) -> JobRecord:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(values))
        job = select_job(conn, job_id=job_id, tenant=None)
        assert job is not None
        return job

    job = await store.db.write(work)
    await store.publisher.publish(JobEvent.job_changed(job))
    return job
