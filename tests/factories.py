"""Test data factories: ``await make_job(store, items=3, lines=50)``."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from domain.principal import Scope
from domain.videos import Platform, VideoRef
from storage.coltypes import utcnow
from storage.logs import append_lines
from storage.records import JobRecord
from storage.store import Store

YOUTUBE_CODES = ["dQw4w9WgXcQ", "9bZkp7q19f0", "kJQP7kiw5Fk", "OPf0YbXqDm0", "JGwWNGJdvx8"]


def video(index: int) -> VideoRef:
    return VideoRef(Platform.YOUTUBE, f"vid{index:08d}"[-11:].rjust(11, "x"))


async def make_key(
    store: Store, *, tenant: str = "default", scopes: str = "read,submit,work", name: str = "k"
) -> str:
    _, key = await store.keys.create(name=name, tenant=tenant, scopes=Scope.parse_list(scopes))
    return key


async def make_job(
    store: Store, *, tenant: str = "default", items: int = 3, lines: int = 0, batch: int = 5000
) -> JobRecord:
    job, _ = await store.jobs.create_job(
        tenant=tenant, items=[video(index) for index in range(items)]
    )
    start = utcnow()
    written = 0
    while written < lines:
        count = min(batch, lines - written)
        batch_lines = [
            (
                start + timedelta(milliseconds=written + offset),
                "INFO",
                f"line {written + offset + 1}",
            )
            for offset in range(count)
        ]
        await store.db.write(partial(append_lines, job_id=job.id, lines=batch_lines))
        written += count
    refreshed = await store.jobs.get_job(job_id=job.id, tenant=None)
    assert refreshed is not None
    return refreshed
