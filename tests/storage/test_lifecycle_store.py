"""The lifecycle store on every backend: transitions, leases, expiry, progress, concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from domain.errors import BadUserInput, Conflict, NotFound
from domain.jobs import ItemStatus, JobStatus
from storage.coltypes import utcnow
from storage.records import JobRecord
from storage.store import Store
from tests.factories import make_job

W = "worker-1"


async def claimed(store: Store, *, items: int = 3, lease: int = 60) -> JobRecord:
    job = await make_job(store, items=items)
    got = await store.lifecycle.claim_next(tenant=None, worker_id=W, lease_seconds=lease)
    assert got is not None and got.id == job.id
    return got


def shift_clock(store: Store, seconds: float) -> None:
    store.lifecycle.clock = lambda: utcnow() + timedelta(seconds=seconds)


async def items_of(store: Store, job_id: str) -> list[ItemStatus]:
    return [item.status for item in (await store.jobs.get_items(job_ids=[job_id]))[job_id]]


async def test_claim_takes_oldest_pending_of_the_tenant(store: Store) -> None:
    first = await make_job(store, tenant="acme")
    await make_job(store, tenant="other")
    second = await make_job(store, tenant="acme")
    lifecycle = store.lifecycle
    got = await lifecycle.claim_next(tenant="acme", worker_id=W, lease_seconds=30)
    assert got is not None and got.id == first.id
    assert got.status is JobStatus.RUNNING and got.worker_id == W and got.started_at
    assert got.lease_expires_at is not None
    assert got.lease_expires_at - got.started_at == timedelta(seconds=30)
    got = await lifecycle.claim_next(tenant="acme", worker_id=W, lease_seconds=30)
    assert got is not None and got.id == second.id
    assert await lifecycle.claim_next(tenant="acme", worker_id=W, lease_seconds=30) is None
    # Admin (tenant None) claims across tenants.
    got = await lifecycle.claim_next(tenant=None, worker_id=W, lease_seconds=30)
    assert got is not None and got.tenant == "other"


async def test_full_run_progress_and_completion(store: Store) -> None:
    job = await claimed(store)
    lc = store.lifecycle
    beat = await lc.heartbeat(tenant=None, job_id=job.id, worker_id=W, progress=40)
    assert beat.cancel_requested is False and beat.lease_expires_at > utcnow()
    # A lower report is ignored; progress never goes down within a run.
    await lc.heartbeat(tenant=None, job_id=job.id, worker_id=W, progress=10)
    assert (await store.jobs.get_job(job_id=job.id, tenant=None)).progress == 40  # type: ignore[union-attr]
    for bad in (-1, 101):
        with pytest.raises(BadUserInput):
            await lc.heartbeat(tenant=None, job_id=job.id, worker_id=W, progress=bad)
    item = await lc.update_item(
        tenant=None, job_id=job.id, worker_id=W, position=1, status=ItemStatus.FAILED, error="x"
    )
    assert item.status is ItemStatus.FAILED and item.error == "x" and item.position == 1
    with pytest.raises(BadUserInput):
        await lc.update_item(
            tenant=None,
            job_id=job.id,
            worker_id=W,
            position=3,
            status=ItemStatus.FAILED,
            error=None,
        )
    last = await lc.append_logs(
        tenant=None,
        job_id=job.id,
        worker_id=W,
        lines=[(utcnow(), "INFO", "a"), (utcnow(), "WARN", "b")],
    )
    assert last == 2
    done = await lc.complete(tenant=None, job_id=job.id, worker_id=W)
    assert done.status is JobStatus.COMPLETED and done.progress == 100 and done.finished_at
    assert await items_of(store, job.id) == [
        ItemStatus.COMPLETED,
        ItemStatus.FAILED,
        ItemStatus.COMPLETED,
    ]


@pytest.mark.parametrize("action", ["complete", "fail", "heartbeat", "logs", "item"])
async def test_only_the_lease_holder_writes(store: Store, action: str) -> None:
    job = await claimed(store)
    lc = store.lifecycle
    calls: dict[str, Callable[[str], Awaitable[object]]] = {
        "complete": lambda w: lc.complete(tenant=None, job_id=job.id, worker_id=w),
        "fail": lambda w: lc.fail(tenant=None, job_id=job.id, worker_id=w, error="e"),
        "heartbeat": lambda w: lc.heartbeat(tenant=None, job_id=job.id, worker_id=w, progress=5),
        "logs": lambda w: lc.append_logs(
            tenant=None, job_id=job.id, worker_id=w, lines=[(utcnow(), "INFO", "x")]
        ),
        "item": lambda w: lc.update_item(
            tenant=None,
            job_id=job.id,
            worker_id=w,
            position=0,
            status=ItemStatus.RUNNING,
            error=None,
        ),
    }
    with pytest.raises(Conflict, match="another worker"):
        await calls[action]("intruder")
    with pytest.raises(NotFound):  # another tenant's job does not exist for that tenant
        await lc.complete(tenant="elsewhere", job_id=job.id, worker_id=W)
    # An expired lease is no lease, even before the sweeper has run.
    shift_clock(store, 120)
    with pytest.raises(Conflict, match="expired"):
        await calls[action](W)
    fresh = await store.jobs.get_job(job_id=job.id, tenant=None)
    assert fresh is not None and fresh.status is JobStatus.RUNNING and fresh.last_seq == 0


async def test_illegal_transitions_name_the_current_state(store: Store) -> None:
    job = await make_job(store)
    lc = store.lifecycle
    with pytest.raises(Conflict, match="cannot retry a job that is PENDING") as info:
        await lc.retry(tenant=None, job_id=job.id)
    assert info.value.extensions == {"code": "CONFLICT", "status": "PENDING"}
    with pytest.raises(Conflict, match="PENDING, not RUNNING"):
        await lc.complete(tenant=None, job_id=job.id, worker_id=W)
    running = await lc.claim_next(tenant=None, worker_id=W, lease_seconds=60)
    assert running is not None and running.id == job.id
    await lc.complete(tenant=None, job_id=running.id, worker_id=W)
    for call in (
        lc.cancel(tenant=None, job_id=running.id),
        lc.retry(tenant=None, job_id=running.id),
    ):
        with pytest.raises(Conflict, match="COMPLETED"):
            await call
    with pytest.raises(Conflict, match="COMPLETED, not RUNNING"):
        await lc.fail(tenant=None, job_id=running.id, worker_id=W, error="late")


async def test_cancel_pending_and_running(store: Store) -> None:
    lc = store.lifecycle
    pending = await make_job(store, items=2)
    cancelled = await lc.cancel(tenant=None, job_id=pending.id)
    assert cancelled.status is JobStatus.CANCELLED and not cancelled.cancel_requested
    assert await items_of(store, pending.id) == [ItemStatus.SKIPPED] * 2

    job = await claimed(store, items=2)
    await lc.update_item(
        tenant=None, job_id=job.id, worker_id=W, position=0, status=ItemStatus.COMPLETED, error=None
    )
    cancelled = await lc.cancel(tenant=None, job_id=job.id)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.cancel_requested
    assert cancelled.finished_at is not None
    # The worker learns it from its next heartbeat; every other write is CONFLICT.
    beat = await lc.heartbeat(tenant=None, job_id=job.id, worker_id=W, progress=90)
    assert beat.cancel_requested is True
    with pytest.raises(Conflict, match="CANCELLED"):
        await lc.append_logs(tenant=None, job_id=job.id, worker_id=W, lines=[(utcnow(), "I", "x")])
    with pytest.raises(Conflict, match="CANCELLED"):
        await lc.complete(tenant=None, job_id=job.id, worker_id=W)
    with pytest.raises(Conflict, match=r"another worker|CANCELLED"):
        await lc.heartbeat(tenant=None, job_id=job.id, worker_id="other", progress=None)
    assert await items_of(store, job.id) == [ItemStatus.COMPLETED, ItemStatus.SKIPPED]
    with pytest.raises(Conflict, match="cannot cancel a job that is CANCELLED"):
        await lc.cancel(tenant=None, job_id=job.id)


async def test_retry_resets_only_failed_items(store: Store) -> None:
    lc = store.lifecycle
    job = await claimed(store, items=4)
    for position, status in enumerate(
        [ItemStatus.COMPLETED, ItemStatus.FAILED, ItemStatus.SKIPPED]
    ):
        await lc.update_item(
            tenant=None, job_id=job.id, worker_id=W, position=position, status=status, error=None
        )
    await lc.update_item(
        tenant=None, job_id=job.id, worker_id=W, position=3, status=ItemStatus.RUNNING, error=None
    )
    await lc.heartbeat(tenant=None, job_id=job.id, worker_id=W, progress=75)
    failed = await lc.fail(tenant=None, job_id=job.id, worker_id=W, error="2 items failed")
    assert failed.status is JobStatus.FAILED and failed.error == "2 items failed"
    assert failed.status.retryable and not failed.status.cancelable
    assert await items_of(store, job.id) == [
        ItemStatus.COMPLETED,
        ItemStatus.FAILED,
        ItemStatus.SKIPPED,
        ItemStatus.FAILED,
    ]
    retried = await lc.retry(tenant=None, job_id=job.id)
    assert retried.id == job.id and retried.status is JobStatus.PENDING
    assert retried.attempt == 2 and retried.progress == 0
    assert retried.error is None and retried.finished_at is None and retried.worker_id is None
    items = (await store.jobs.get_items(job_ids=[job.id]))[job.id]
    assert [i.status for i in items] == [
        ItemStatus.COMPLETED,
        ItemStatus.PENDING,
        ItemStatus.SKIPPED,
        ItemStatus.PENDING,
    ]
    assert all(i.error is None for i in items if i.status is ItemStatus.PENDING)
    again = await lc.claim_next(tenant=None, worker_id="w2", lease_seconds=10)
    assert again is not None and again.id == job.id and again.attempt == 2


async def test_lease_expiry_requeues_then_fails(store: Store) -> None:
    lc = store.lifecycle
    job = await claimed(store, items=2, lease=1)
    await lc.update_item(
        tenant=None, job_id=job.id, worker_id=W, position=0, status=ItemStatus.RUNNING, error=None
    )
    assert await lc.expire_leases() == []  # not yet expired
    max_attempts = store.db.settings.max_attempts
    for attempt in range(2, max_attempts + 1):
        shift_clock(store, 5)
        (expired,) = await lc.expire_leases()
        assert expired.id == job.id and expired.status is JobStatus.PENDING
        assert expired.attempt == attempt and expired.worker_id is None and expired.progress == 0
        assert await items_of(store, job.id) == [ItemStatus.PENDING, ItemStatus.PENDING]
        # The old worker's lease is gone: its writes are CONFLICT, naming the state.
        with pytest.raises(Conflict, match="PENDING, not RUNNING"):
            await lc.heartbeat(tenant=None, job_id=job.id, worker_id=W, progress=None)
        store.lifecycle.clock = utcnow
        assert await lc.claim_next(tenant=None, worker_id=W, lease_seconds=1)
        await lc.update_item(
            tenant=None,
            job_id=job.id,
            worker_id=W,
            position=0,
            status=ItemStatus.RUNNING,
            error=None,
        )
    shift_clock(store, 5)
    (expired,) = await lc.expire_leases()
    assert expired.status is JobStatus.FAILED and expired.attempt == max_attempts
    assert expired.error and "lease expired" in expired.error
    assert await items_of(store, job.id) == [ItemStatus.FAILED, ItemStatus.PENDING]


async def test_heartbeat_renews_the_claimed_lease_length(store: Store) -> None:
    job = await claimed(store, lease=7)
    before = utcnow()
    beat = await store.lifecycle.heartbeat(tenant=None, job_id=job.id, worker_id=W, progress=None)
    assert timedelta(seconds=6) < beat.lease_expires_at - before <= timedelta(seconds=8)


async def test_concurrent_claimers_take_each_job_once(store: Store) -> None:
    # 20 claimers against 200 pending jobs: every job claimed exactly once.
    created = {(await make_job(store, items=1)).id for _ in range(200)}

    async def claimer(index: int) -> list[str]:
        got = []
        while (
            job := await store.lifecycle.claim_next(
                tenant=None, worker_id=f"w{index}", lease_seconds=60
            )
        ) is not None:
            got.append(job.id)
        return got

    results = await asyncio.gather(*(claimer(index) for index in range(20)))
    claimed_ids = [job_id for result in results for job_id in result]
    assert len(claimed_ids) == 200 and set(claimed_ids) == created


async def test_concurrent_appenders_get_gap_free_seqs(store: Store) -> None:
    # 8 appenders x 1000 lines on one job: seq is exactly 1..8000, every line present once.
    job = await claimed(store, items=1)

    async def appender(index: int) -> None:
        for batch in range(10):
            lines = [(utcnow(), "INFO", f"{index}:{batch * 100 + n}") for n in range(100)]
            await store.lifecycle.append_logs(tenant=None, job_id=job.id, worker_id=W, lines=lines)

    await asyncio.gather(*(appender(index) for index in range(8)))
    lines = await store.logs.tail_lines(job_id=job.id, limit=10_000)
    assert [line.seq for line in lines] == list(range(1, 8001))
    assert sorted(line.message for line in lines) == sorted(
        f"{index}:{n}" for index in range(8) for n in range(1000)
    )
    fresh = await store.jobs.get_job(job_id=job.id, tenant=None)
    assert fresh is not None and fresh.last_seq == 8000
