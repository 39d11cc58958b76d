"""The benchmark dataset, written through the real migrations and store functions.

Jobs and items go through ``storage.jobs.insert_job`` and log lines through
``storage.logs.append_lines`` (the same seq reservation the API uses), many per transaction so a
million lines take seconds. A few jobs are moved to RUNNING/COMPLETED so the answers carry
non-null timestamps and progress, like a real dashboard's.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Connection, update

from domain.jobs import JobStatus
from domain.principal import Scope
from domain.videos import Platform, VideoRef
from settings import Settings
from storage.coltypes import utcnow
from storage.database import Database
from storage.jobs import insert_job
from storage.logs import append_lines
from storage.migrate import upgrade_to_head
from storage.store import Store
from storage.tables import jobs

TENANT = "bench"
_PLATFORMS = (Platform.YOUTUBE, Platform.INSTAGRAM, Platform.TIKTOK)


@dataclass(frozen=True)
class Dataset:
    database_url: str
    key: str  # read, submit, work on tenant "bench"
    small_job_ids: list[str]  # the 50-line jobs
    big_job_id: str  # the job with ``big_lines`` lines
    big_lines: int


def _video(index: int, position: int) -> VideoRef:
    platform = _PLATFORMS[position % 3]
    if platform is Platform.TIKTOK:
        return VideoRef(platform, f"{7_000_000_000_000_000_000 + index * 3 + position}")
    return VideoRef(platform, f"v{index:06d}p{position:03d}"[:11].ljust(11, "x"))


def _lines(start: int, count: int) -> list[tuple[object, str, str]]:
    base = utcnow()
    return [
        (
            base + timedelta(milliseconds=seq),
            "INFO",
            f"[extract] item {seq % 3}: downloaded segment {seq} of the stream (1.4 MiB, 812 kB/s)",
        )
        for seq in range(start, start + count)
    ]


def _insert_jobs(conn: Connection, *, jobs_count: int, items: int, lines: int) -> list[str]:
    ids = []
    for index in range(jobs_count):
        refs = [_video(index, position) for position in range(items)]
        job, _ = insert_job(conn, tenant=TENANT, items=refs, idempotency_key=None)
        append_lines(conn, job_id=job.id, lines=_lines(1, lines))  # type: ignore[arg-type]
        ids.append(job.id)
    now = utcnow()
    # A third running, a third completed: timestamps and progress are not all null/zero.
    for index, job_id in enumerate(ids):
        if index % 3 == 1:
            values = {"status": JobStatus.RUNNING.value, "progress": 40, "started_at": now}
        elif index % 3 == 2:
            values = {
                "status": JobStatus.COMPLETED.value,
                "progress": 100,
                "started_at": now,
                "finished_at": now,
            }
        else:
            continue
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(values))
    return ids


async def build(
    directory: Path,
    *,
    jobs_count: int = 1000,
    items: int = 3,
    lines: int = 50,
    big_lines: int = 1_000_000,
    batch: int = 50_000,
    quiet: bool = False,
    database_url: str | None = None,
) -> Dataset:
    """Create ``directory/bench.db`` (or fill the empty database at ``database_url``, e.g. a
    scratch PostgreSQL database); returns ids and an API key."""
    path = directory / "bench.db"
    url = database_url or f"sqlite+aiosqlite:///{path}"
    db = Database(Settings(database_url=url, env="development"))
    store = Store(db)
    started = time.perf_counter()
    try:
        await upgrade_to_head(db)
        _, key = await store.keys.create(
            name="bench", tenant=TENANT, scopes=[Scope.READ, Scope.SUBMIT, Scope.WORK]
        )
        small = await db.write(
            lambda conn: _insert_jobs(conn, jobs_count=jobs_count, items=items, lines=lines)
        )
        big_ids = await db.write(lambda conn: _insert_jobs(conn, jobs_count=1, items=3, lines=0))
        big = big_ids[0]
        written = 0
        while written < big_lines:
            count = min(batch, big_lines - written)
            chunk = _lines(written + 1, count)
            await db.write(lambda conn, c=chunk: append_lines(conn, job_id=big, lines=c))  # type: ignore[misc]
            written += count
        await db.write(lambda conn: conn.exec_driver_sql("ANALYZE"))
    finally:
        await db.dispose()
    if not quiet:
        took = time.perf_counter() - started
        where = path if database_url is None else "PostgreSQL"
        print(
            f"dataset: {jobs_count} jobs x {items} items x {lines} lines + 1 job x "
            f"{big_lines:,} lines in {where} ({took:.1f} s)"
        )
    return Dataset(url, key, small, big, big_lines)


def build_sync(directory: Path, **kwargs: int | bool | str | None) -> Dataset:
    return asyncio.run(build(directory, **kwargs))  # type: ignore[arg-type]
