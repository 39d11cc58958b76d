"""The PostgreSQL broker (PostgreSQL only): chosen for PostgreSQL URLs, local subscribers get
an event at once, peers get it through NOTIFY, and after a lost LISTEN connection the jobs
watched here are re-announced from the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from live.memory import MemoryBroker
from live.pg_broker import PgBroker, new_broker
from live.pg_notify import CHANNEL, LISTENER_NAME, asyncpg_dsn, decode
from settings import Settings
from storage.database import Database
from storage.events import EventKind, JobEvent
from storage.store import Store
from tests.conftest import _truncate
from tests.factories import make_job


def test_the_database_chooses_the_broker() -> None:
    assert isinstance(new_broker(Settings(database_url="sqlite:///x.db")), MemoryBroker)
    assert isinstance(new_broker(Settings(database_url="postgresql://h/db")), PgBroker)


@pytest.fixture
async def pg_store(pg_database: str) -> AsyncIterator[Store]:
    await _truncate(pg_database)
    db = Database(Settings(database_url=pg_database))
    yield Store(db)
    await db.dispose()


async def next_event(subscription: object) -> JobEvent:
    return await asyncio.wait_for(anext(subscription), timeout=10)  # type: ignore[call-overload]


async def test_local_and_peer_delivery_and_resync(pg_database: str, pg_store: Store) -> None:
    dsn = asyncpg_dsn(pg_database)
    here, there = PgBroker(dsn, max_queue=100), PgBroker(dsn, max_queue=100)
    await here.start(pg_store)
    await there.start(pg_store)
    try:
        job = await make_job(pg_store, items=1)
        mine, theirs = here.subscribe(job_id=job.id), there.subscribe(job_id=job.id)
        await here.publish(JobEvent.job_changed(job))
        assert (await next_event(mine)).job_id == job.id
        assert (await next_event(theirs)).job_id == job.id

        admin = await asyncpg.connect(dsn)
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1 AND datname = current_database()",
            LISTENER_NAME,
        )
        await admin.close()
        # Nothing was published (the change is unannounced); the resync finds the job anyway.
        event = await next_event(mine)
        assert event.job_id == job.id and event.status == "PENDING"
    finally:
        await here.close(grace=1)
        await there.close(grace=1)


async def test_a_burst_costs_a_few_notifications_and_ends_at_the_last_seq(
    pg_database: str, pg_store: Store
) -> None:
    dsn = asyncpg_dsn(pg_database)
    payloads: list[str] = []
    listener = await asyncpg.connect(dsn)
    await listener.add_listener(CHANNEL, lambda *args: payloads.append(args[3]))
    here = PgBroker(dsn, max_queue=1000)
    await here.start(pg_store)
    try:
        job = await make_job(pg_store, items=1)
        for seq in range(1, 1001):  # a thousand one-line appends, as fast as they come
            await here.publish(JobEvent(EventKind.LOGS, job.id, job.tenant, "RUNNING", seq))
            if seq % 100 == 0:
                await asyncio.sleep(0.01)
        await here.outbox.close()
        for _ in range(100):
            if payloads and decode(payloads[-1])[1][-1].last_seq == 1000:
                break
            await asyncio.sleep(0.05)
        seqs = [event.last_seq for payload in payloads for event in decode(payload)[1]]
        assert seqs[-1] == 1000 and seqs == sorted(seqs)
        assert len(payloads) <= 30  # one per flush (50 ms), not one per append
    finally:
        await here.close(grace=1)
        await listener.close()
