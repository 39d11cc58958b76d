"""The in-process broker: routing, bounded queues and overflow, close."""

from __future__ import annotations

import asyncio

import pytest

from live.broker import Broker, SubscriberOverflow
from live.memory import MemoryBroker
from storage.events import EventKind, JobEvent


def event(job_id: str = "j1", tenant: str = "acme", seq: int = 1) -> JobEvent:
    return JobEvent(EventKind.LOGS, job_id, tenant, "RUNNING", seq)


async def test_routes_by_job_and_tenant() -> None:
    broker = MemoryBroker()
    assert isinstance(broker, Broker)
    one_job = broker.subscribe(job_id="j1")
    acme = broker.subscribe(tenant="acme")
    everyone = broker.subscribe()
    for item in (event("j1"), event("j2"), event("j3", tenant="umbrella")):
        await broker.publish(item)
    assert [e.job_id for e in one_job.pending()] == ["j1"]
    assert [e.job_id for e in acme.pending()] == ["j1", "j2"]
    assert [e.job_id for e in everyone.pending()] == ["j1", "j2", "j3"]


async def test_overflow_drops_only_the_slow_subscriber_and_frees_its_queue() -> None:
    broker = MemoryBroker(max_queue=3)
    slow = broker.subscribe(job_id="j1")
    fast = broker.subscribe(job_id="j1")
    received = []
    for seq in range(1, 11):
        await broker.publish(event(seq=seq))  # never waits, whoever lags
        received.append((await anext(fast)).last_seq)
    assert received == list(range(1, 11))
    assert slow.overflowed and slow.closed and slow.queued == 0
    with pytest.raises(SubscriberOverflow):
        await anext(slow)
    slow.release()
    assert broker.subscriber_count == 1


async def test_close_ends_readers_and_waits_for_them() -> None:
    broker = MemoryBroker()
    finished = []

    async def reader(name: str) -> None:
        async with broker.subscribe(job_id="j1") as subscription:
            async for _ in subscription:
                pass
        await asyncio.sleep(0.01)
        finished.append(name)

    tasks = [asyncio.create_task(reader(name)) for name in "ab"]
    while broker.subscriber_count < 2:
        await asyncio.sleep(0)
    await broker.close(grace=2)
    assert broker.subscriber_count == 0
    await asyncio.gather(*tasks)
    assert sorted(finished) == ["a", "b"]
    late = broker.subscribe(job_id="j1")
    with pytest.raises(StopAsyncIteration):
        await anext(late)  # a subscription opened while shutting down ends at once
