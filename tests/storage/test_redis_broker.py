"""The Redis broker (real Redis): chosen by JOBGRAPH_BROKER_URL on either database, local
subscribers get an event at once and peers through pub/sub, a peer's own messages are
skipped, a killed or restarted connection comes back with a resync (nothing silently missed),
and events published while Redis is down are sent once it is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from live.memory import MemoryBroker
from live.pg_broker import PgBroker, new_broker
from live.redis_wire import RedisBroker
from settings import Settings
from storage.database import Database
from storage.events import EventKind, JobEvent
from storage.migrate import upgrade_to_head
from storage.store import Store
from tests.factories import make_job
from tests.live_helpers import append_logs
from tests.redis_helpers import REDIS_URL, kill_clients, private_redis, unique_channel


def test_the_broker_url_chooses_redis_on_either_database() -> None:
    for database in ("sqlite:///x.db", "postgresql://h/db"):
        settings = Settings(database_url=database, broker_url=REDIS_URL)
        assert isinstance(new_broker(settings), RedisBroker)
    assert isinstance(new_broker(Settings(database_url="sqlite:///x.db")), MemoryBroker)
    unset = Settings(database_url="sqlite:///x.db", broker_url="")  # an empty variable
    assert isinstance(new_broker(unset), MemoryBroker)
    assert isinstance(new_broker(Settings(database_url="postgresql://h/db")), PgBroker)
    with pytest.raises(ValidationError):
        Settings(database_url="sqlite:///x.db", broker_url="http://127.0.0.1:6379")


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    db = Database(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/jobgraph.db"))
    await upgrade_to_head(db)
    yield Store(db)
    await db.dispose()


async def next_event(subscription: object, timeout: float = 10) -> JobEvent:
    return await asyncio.wait_for(anext(subscription), timeout=timeout)  # type: ignore[call-overload]


async def started(url: str, channel: str, store: Store) -> RedisBroker:
    broker = RedisBroker(url, channel=channel, max_queue=1000)
    await broker.start(store)
    return broker


async def test_local_and_peer_delivery(sqlite_store: Store) -> None:
    channel = unique_channel()
    here = await started(REDIS_URL, channel, sqlite_store)
    there = await started(REDIS_URL, channel, sqlite_store)
    elsewhere = await started(REDIS_URL, unique_channel(), sqlite_store)
    try:
        job = await make_job(sqlite_store, items=1)
        mine, theirs = here.subscribe(job_id=job.id), there.subscribe(job_id=job.id)
        others = elsewhere.subscribe(job_id=job.id)
        await here.publish(JobEvent.job_changed(job))
        assert (await next_event(mine)).job_id == job.id
        assert (await next_event(theirs)).job_id == job.id
        await asyncio.sleep(0.3)
        assert mine.queued == 0  # its own message came back and was skipped
        assert others.queued == 0  # another channel hears nothing
        assert await here.healthy()
    finally:
        for broker in (here, there, elsewhere):
            await broker.close(grace=1)


async def test_a_burst_reaches_the_peer_merged_and_ending_at_the_last_seq(
    sqlite_store: Store,
) -> None:
    channel = unique_channel()
    here = await started(REDIS_URL, channel, sqlite_store)
    there = await started(REDIS_URL, channel, sqlite_store)
    try:
        job = await make_job(sqlite_store, items=1)
        theirs = there.subscribe(job_id=job.id)
        for seq in range(1, 501):
            await here.publish(JobEvent(EventKind.LOGS, job.id, job.tenant, "RUNNING", seq))
        seen: list[int] = []
        while not seen or seen[-1] < 500:
            seen.append((await next_event(theirs)).last_seq)
        assert seen == sorted(seen) and len(seen) < 50  # merged: a few per window
        assert here.outbox.added == 500 and here.outbox.sent == len(seen)
    finally:
        await here.close(grace=1)
        await there.close(grace=1)


async def test_a_killed_subscriber_connection_resyncs_what_it_missed(
    sqlite_store: Store,
) -> None:
    channel = unique_channel()
    here = await started(REDIS_URL, channel, sqlite_store)
    there = await started(REDIS_URL, channel, sqlite_store)
    try:
        job = await make_job(sqlite_store, items=1)
        theirs = there.subscribe(job_id=job.id)
        # Written and never published: only the resync after the loss can tell the
        # subscriber about it. (Written before the kill, not after it: the wire reconnects
        # within a fraction of a second, and a resync that ran before a later write could
        # not know of it.)
        await append_logs(sqlite_store, job.id, 7)
        assert kill_clients(REDIS_URL, f"jobgraph-sub-{channel}") == 2
        seqs = set()
        async with asyncio.timeout(60):  # a hang fails at the line that waits
            while 7 not in seqs:
                seqs.add((await next_event(theirs, timeout=15)).last_seq)
        assert there._wire.reconnects == 1
    finally:
        await here.close(grace=1)
        await there.close(grace=1)


async def test_a_redis_restart_loses_nothing(sqlite_store: Store, tmp_path: Path) -> None:
    channel = unique_channel()
    with private_redis(tmp_path) as server:
        here = await started(server.url, channel, sqlite_store)
        here_store = Store(sqlite_store.db, publisher=here)
        there = await started(server.url, channel, sqlite_store)
        try:
            job = await make_job(sqlite_store, items=1)
            theirs = there.subscribe(job_id=job.id)
            await append_logs(here_store, job.id, 1)
            assert (await next_event(theirs)).last_seq == 1
            server.stop()
            assert not await here.healthy()
            # Published while Redis is down: the outbox keeps it and retries; the peer, which
            # may resubscribe after the retry went out, re-reads the store on its resync.
            await append_logs(here_store, job.id, 1, first=2)
            await asyncio.sleep(0.5)
            assert here.outbox.pending == 1
            server.start()
            seqs = set()
            while 2 not in seqs:
                seqs.add((await next_event(theirs, timeout=20)).last_seq)
            # Healthy again once reconnected; the outbox's retry follows on its own backoff.
            for _ in range(300):
                if await here.healthy() and here.outbox.pending == 0:
                    break
                await asyncio.sleep(0.1)
            assert await here.healthy() and here.outbox.pending == 0
        finally:
            await here.close(grace=1)
            await there.close(grace=1)
