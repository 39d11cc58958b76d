"""``app.py purge --older-than AGE``: finished jobs older than the cutoff go, with their items
and log lines, in small transactions; everything else stays."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import Connection, func, select, update

from domain.jobs import JobStatus
from storage.coltypes import utcnow
from storage.retention import parse_age
from storage.store import Store
from storage.tables import job_items, jobs, log_lines
from tests.factories import make_job
from tests.live import cli


def _set(conn: Connection, *, job_id: str, status: JobStatus, days_ago: float | None) -> None:
    when = utcnow() - timedelta(days=days_ago) if days_ago is not None else None
    values = {"status": status.value, "finished_at": when}
    if when is not None:
        values["updated_at"] = when
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(values))


async def _job(store: Store, status: JobStatus, days_ago: float | None, lines: int = 12) -> str:
    job = await make_job(store, items=3, lines=lines)
    await store.db.write(partial(_set, job_id=job.id, status=status, days_ago=days_ago))
    return job.id


def _counts(conn: Connection) -> tuple[int, int, int]:
    return (
        conn.execute(select(func.count()).select_from(jobs)).scalar_one(),
        conn.execute(select(func.count()).select_from(job_items)).scalar_one(),
        conn.execute(select(func.count()).select_from(log_lines)).scalar_one(),
    )


async def test_purge_deletes_old_finished_jobs_only(store: Store) -> None:
    old = [
        await _job(store, JobStatus.COMPLETED, 40),
        await _job(store, JobStatus.FAILED, 31),
        await _job(store, JobStatus.CANCELLED, 90),
    ]
    kept = [
        await _job(store, JobStatus.COMPLETED, 1),
        await _job(store, JobStatus.PENDING, None),
        await _job(store, JobStatus.RUNNING, None),
    ]
    cutoff = utcnow() - parse_age("30d")

    dry = await store.retention.purge(cutoff=cutoff, dry_run=True)
    assert (dry.jobs, dry.items, dry.log_lines) == (3, 9, 36)
    assert await store.db.read(_counts) == (6, 18, 72)

    # Tiny batches so that every loop (jobs, line chunks, item chunks) turns more than once.
    report = await store.retention.purge(cutoff=cutoff, jobs_per_batch=2, rows_per_transaction=5)
    assert (report.jobs, report.items, report.log_lines) == (3, 9, 36)
    assert await store.db.read(_counts) == (3, 9, 36)
    for job_id in old:
        assert await store.jobs.get_job(job_id=job_id, tenant=None) is None
    for job_id in kept:
        assert await store.jobs.get_job(job_id=job_id, tenant=None) is not None
        assert len(await store.logs.tail_lines(job_id=job_id, limit=100)) == 12

    again = await store.retention.purge(cutoff=cutoff)
    assert (again.jobs, again.items, again.log_lines) == (0, 0, 0)


async def test_purge_of_a_job_with_many_lines_is_chunked(store: Store) -> None:
    await _job(store, JobStatus.COMPLETED, 2, lines=1203)
    report = await store.retention.purge(
        cutoff=utcnow() - timedelta(hours=1), rows_per_transaction=500
    )
    assert (report.jobs, report.items, report.log_lines) == (1, 3, 1203)
    assert await store.db.read(_counts) == (0, 0, 0)


async def test_purge_command(store: Store, database_url: str) -> None:
    await _job(store, JobStatus.COMPLETED, 2, lines=5)
    await _job(store, JobStatus.COMPLETED, 0.1, lines=5)
    dry = cli(database_url, "purge", "--older-than", "12h", "--dry-run").stdout
    assert dry.startswith("would delete 1 jobs, 3 items, 5 log lines (finished before ")
    assert await store.db.read(_counts) == (2, 6, 10)
    done = cli(database_url, "purge", "--older-than", "1d").stdout
    assert done.startswith("deleted 1 jobs, 3 items, 5 log lines (finished before ")
    assert await store.db.read(_counts) == (1, 3, 5)
    with pytest.raises(subprocess.CalledProcessError) as info:
        cli(database_url, "purge", "--older-than", "30 days")
    assert info.value.returncode == 2 and "not an age" in info.value.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("3600s", timedelta(hours=1)),
    ],
)
def test_parse_age(text: str, expected: timedelta) -> None:
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["", "0d", "-1d", "30", "1w", "1.5h", "d30"])
def test_parse_age_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not an age"):
        parse_age(text)
