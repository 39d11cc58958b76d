"""The job the REST endpoint's example response describes, made for real.

``make_seed_job`` writes, through the store, the job the example asks about: its id
``40a58ff2-…``, running at 50 %, created 2024-01-15T10:30:00Z, updated five minutes later, two
videos and three log lines — so the example response can be compared field by field.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from unittest import mock

from sqlalchemy import Connection, update

from domain.jobs import JobStatus
from domain.videos import Platform, VideoRef
from storage.logs import append_lines
from storage.records import JobRecord
from storage.store import Store
from storage.tables import jobs

SEED_JOB_ID = "40a58ff2-4fd0-4263-b5ae-eb3e4b482404"
# The seed shows "test123" for YouTube; jobgraph validates codes (11 characters for YouTube),
# so the seed job uses a real one. "test456" is a valid Instagram shortcode as it stands.
SEED_YOUTUBE_CODE = "dQw4w9WgXcQ"
SEED_ITEMS = [
    VideoRef(Platform.YOUTUBE, SEED_YOUTUBE_CODE),
    VideoRef(Platform.INSTAGRAM, "test456"),
]
SEED_LINES = ["Processing started", "Processing item 1", "Processing item 2"]
SEED_CREATED = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
SEED_UPDATED = datetime(2024, 1, 15, 10, 35, tzinfo=UTC)

# The seed's "Example Response", with the YouTube code above.
SEED_RESPONSE: dict[str, Any] = {
    "status": "running",
    "progress": 50,
    "createdAt": "2024-01-15T10:30:00.000Z",
    "updatedAt": "2024-01-15T10:35:00.000Z",
    "items": [
        {"platform": "youtube", "code": SEED_YOUTUBE_CODE},
        {"platform": "instagram", "code": "test456"},
    ],
    "log_tail": "Processing started\nProcessing item 1\nProcessing item 2",
    # Added to the seed's body: whether the response budget cut log_tail.
    "log_truncated": False,
}


async def make_seed_job(store: Store, *, tenant: str = "default") -> JobRecord:
    # The store picks ids with uuid4; the seed's examples name one id, so that one is chosen.
    with mock.patch.object(uuid, "uuid4", return_value=uuid.UUID(SEED_JOB_ID)):
        job, _ = await store.jobs.create_job(tenant=tenant, items=SEED_ITEMS)
    lines = [
        (SEED_CREATED + timedelta(seconds=index), "INFO", message)
        for index, message in enumerate(SEED_LINES)
    ]
    await store.db.write(partial(append_lines, job_id=job.id, lines=lines))
    await set_job(
        store,
        job.id,
        status=JobStatus.RUNNING.value,
        progress=50,
        created_at=SEED_CREATED,
        started_at=SEED_CREATED,
        updated_at=SEED_UPDATED,
    )
    refreshed = await store.jobs.get_job(job_id=job.id, tenant=None)
    assert refreshed is not None
    return refreshed


async def set_job(store: Store, job_id: str, **values: object) -> None:
    """Test set-up only: put a job in a state the worker mutations would reach."""

    def work(conn: Connection) -> None:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))

    await store.db.write(work)
