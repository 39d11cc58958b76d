"""The lease sweeper runs inside the app's lifespan and stops with it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from app import create_app
from domain.jobs import JobStatus
from settings import Settings
from storage.coltypes import utcnow
from storage.store import Store
from tests.factories import make_job


def sweeper_tasks() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == "jobgraph-lease-sweeper"]


async def test_sweeper_requeues_a_silent_workers_job(settings: Settings) -> None:
    application = create_app(settings.model_copy(update={"sweep_interval_seconds": 0.05}))
    async with application.router.lifespan_context(application):
        assert len(sweeper_tasks()) == 1
        store: Store = application.state.store
        job = await make_job(store)
        await store.lifecycle.claim_next(tenant=None, worker_id="gone", lease_seconds=1)
        # Move the store's clock past the lease instead of sleeping through it.
        store.lifecycle.clock = lambda: utcnow() + timedelta(seconds=5)
        fresh = None
        for _ in range(100):
            fresh = await store.jobs.get_job(job_id=job.id, tenant=None)
            assert fresh is not None
            if fresh.status is JobStatus.PENDING:
                break
            await asyncio.sleep(0.05)
        assert fresh is not None and fresh.status is JobStatus.PENDING and fresh.attempt == 2
    assert sweeper_tasks() == []
