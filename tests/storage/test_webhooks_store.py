"""Store level, on SQLite and PostgreSQL: the outbox is written in the change's own transaction,
which events each change queues, the PROGRESS throttle, claims that never overlap, how an
outcome is settled, redelivery, secrets at rest, and retention."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.util import await_only

from domain.errors import NotFound
from domain.jobs import JobStatus
from domain.webhooks import DeliveryStatus, Outcome, WebhookEvent
from settings import Settings
from storage import webhook_outbox
from storage.coltypes import utcnow
from storage.database import Database
from storage.store import Store
from storage.tables import webhook_deliveries, webhook_secrets
from storage.webhook_deliveries import AttemptResult, settle
from storage.webhook_records import DeliveryRecord, WebhookSpec
from tests.factories import video

EVERY = tuple(WebhookEvent)
URL = "https://hooks.example.com/jobgraph"


async def webhook_job(store: Store, events: tuple[WebhookEvent, ...] = EVERY) -> str:
    job, _ = await store.jobs.create_job(
        tenant="acme", items=[video(0), video(1)], webhook=WebhookSpec(URL, events)
    )
    return job.id


async def deliveries(store: Store, job_id: str) -> list[DeliveryRecord]:
    return (await store.webhooks.page(job_id=job_id, first=100, after_seq=None)).deliveries


async def events_of(store: Store, job_id: str) -> list[str]:
    return [d.event.value for d in await deliveries(store, job_id)]


async def payloads(store: Store, job_id: str) -> list[dict[str, Any]]:
    query = (
        select(webhook_deliveries.c.payload)
        .where(webhook_deliveries.c.job_id == job_id)
        .order_by(webhook_deliveries.c.seq)
    )
    rows = await store.db.read(lambda conn: conn.execute(query).scalars().all())
    return [json.loads(row) for row in rows]


async def claim(store: Store, worker: str = "w") -> str:
    job = await store.lifecycle.claim_next(tenant=None, worker_id=worker, lease_seconds=60)
    assert job is not None
    return job.id


async def test_each_change_queues_its_event_in_its_transaction(store: Store) -> None:
    woken: list[int] = []
    store.outbox.notify = lambda: woken.append(1)
    job_id = await webhook_job(store)
    assert await events_of(store, job_id) == [] and woken == []  # creation calls nothing
    await claim(store)
    await store.lifecycle.heartbeat(tenant=None, job_id=job_id, worker_id="w", progress=30)
    await store.lifecycle.fail(tenant=None, job_id=job_id, worker_id="w", error="boom")
    await store.lifecycle.retry(tenant=None, job_id=job_id)  # back to PENDING: no event
    await claim(store)
    await store.lifecycle.cancel(tenant=None, job_id=job_id)
    assert await events_of(store, job_id) == [
        "STARTED",
        "PROGRESS",
        "FAILED",
        "STARTED",
        "CANCELLED",
    ]
    assert len(woken) == 5
    bodies = await payloads(store, job_id)
    assert [body["type"] for body in bodies] == [
        "job.started",
        "job.progress",
        "job.failed",
        "job.started",
        "job.cancelled",
    ]
    failed = bodies[2]["data"]
    assert failed["status"] == "FAILED" and failed["error"] == "boom" and failed["attempt"] == 1
    assert bodies[3]["data"]["attempt"] == 2
    assert bodies[4]["data"]["itemCounts"]["skipped"] == 2
    records = await deliveries(store, job_id)
    assert {d.status for d in records} == {DeliveryStatus.PENDING}
    assert len({d.message_id for d in records}) == 5
    assert all(d.attempt == 1 and d.next_attempt_at is not None for d in records)


async def test_a_rolled_back_change_leaves_no_delivery(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = await webhook_job(store)
    await claim(store)
    real = webhook_outbox.OutboxWrites.status_changed

    def then_fail(self: Any, conn: Any, job: Any, *, now: datetime) -> None:
        real(self, conn, job, now=now)  # the delivery row is written...
        raise RuntimeError("the transaction fails after the outbox write")

    monkeypatch.setattr(webhook_outbox.OutboxWrites, "status_changed", then_fail)
    with pytest.raises(RuntimeError):
        await store.lifecycle.complete(tenant=None, job_id=job_id, worker_id="w")
    monkeypatch.undo()
    job = await store.jobs.get_job(job_id=job_id, tenant=None)
    assert job is not None and job.status is JobStatus.RUNNING  # ...and rolled back with it
    assert await events_of(store, job_id) == ["STARTED"]


async def test_only_the_chosen_events_and_only_jobs_with_a_webhook(store: Store) -> None:
    plain, _ = await store.jobs.create_job(tenant="acme", items=[video(0)])
    ends = await webhook_job(store, (WebhookEvent.COMPLETED,))
    await claim(store)
    await store.lifecycle.complete(tenant=None, job_id=plain.id, worker_id="w")
    await claim(store)
    await store.lifecycle.heartbeat(tenant=None, job_id=ends, worker_id="w", progress=50)
    await store.lifecycle.complete(tenant=None, job_id=ends, worker_id="w")
    assert await events_of(store, plain.id) == []
    assert await events_of(store, ends) == ["COMPLETED"]


async def test_lease_expiry_requeues_quietly_and_fails_loudly(store: Store) -> None:
    job_id = await webhook_job(store, (WebhookEvent.STARTED, WebhookEvent.FAILED))
    later = utcnow()
    for _ in range(store.db.settings.max_attempts):
        await claim(store)
        later += timedelta(hours=2)
        store.lifecycle.clock = partial(lambda moment: moment, later)
        await store.lifecycle.expire_leases()
        store.lifecycle.clock = utcnow
    # Each run started; the requeues said nothing; the last expiry failed the job.
    assert await events_of(store, job_id) == ["STARTED", "STARTED", "STARTED", "FAILED"]


async def test_progress_is_throttled_and_the_last_value_is_kept(store: Store) -> None:
    job_id = await webhook_job(store, (WebhookEvent.PROGRESS, WebhookEvent.COMPLETED))
    await claim(store)
    start = utcnow()

    async def report(seconds: float, progress: int) -> None:
        store.lifecycle.clock = lambda: start + timedelta(seconds=seconds)
        await store.lifecycle.heartbeat(
            tenant=None, job_id=job_id, worker_id="w", progress=progress
        )

    async def sweep(seconds: float) -> int:
        store.webhooks.clock = lambda: start + timedelta(seconds=seconds)
        return await store.webhooks.queue_due_progress()

    await report(0, 10)  # sent: the first in its interval
    await report(1, 20)  # held
    await report(2, 30)  # held, in place of 20
    await report(3, 30)  # unchanged: nothing
    assert await sweep(4.9) == 0
    assert await sweep(5.0) == 1  # the interval passed: the held 30 goes
    await report(6, 40)  # held (30 went at 5)
    await report(7, 50)  # held, in place of 40
    await store.lifecycle.complete(tenant=None, job_id=job_id, worker_id="w")
    sent = [(body["type"], body["data"]["progress"]) for body in await payloads(store, job_id)]
    assert sent == [
        ("job.progress", 10),
        ("job.progress", 30),
        ("job.progress", 50),  # held, and queued before the change that followed it
        ("job.completed", 100),
    ]
    assert await sweep(100) == 0


async def test_claims_never_overlap(store: Store, settings: Settings) -> None:
    for _ in range(12):
        job_id = await webhook_job(store, (WebhookEvent.STARTED,))
        await store.lifecycle.claim_next(tenant=None, worker_id="w", lease_seconds=60)
        assert await events_of(store, job_id) == ["STARTED"]
    # Three processes' worth of stores, claiming at once.
    others = [Database(settings) for _ in range(2)]
    stores = [store, *(Store(db) for db in others)]
    try:
        batches = await asyncio.gather(
            *(
                s.webhooks.claim_due(owner=f"p{n}", limit=5, lease_seconds=30)
                for n, s in enumerate(stores)
            )
        )
    finally:
        for db in others:
            await db.dispose()
    claimed = [d.id for batch in batches for d in batch]
    assert len(claimed) == 12 and len(set(claimed)) == 12
    assert await store.webhooks.claim_due(owner="late", limit=5, lease_seconds=30) == []


async def test_a_hold_that_runs_out_is_claimed_again_and_the_first_holder_loses(
    store: Store,
) -> None:
    await webhook_job(store, (WebhookEvent.STARTED,))
    await claim(store)
    (first,) = await store.webhooks.claim_due(owner="dead", limit=5, lease_seconds=30)
    store.webhooks.clock = lambda: utcnow() + timedelta(seconds=31)
    (again,) = await store.webhooks.claim_due(owner="alive", limit=5, lease_seconds=30)
    assert again.id == first.id and again.locked_by == "alive"
    ok = AttemptResult(Outcome.SUCCEEDED, 5.0, 200)
    assert await store.webhooks.settle(claimed=first, result=ok) is None  # not its any more
    settled = await store.webhooks.settle(claimed=again, result=ok)
    assert settled is not None and settled.status is DeliveryStatus.SUCCEEDED


async def test_release_hands_an_attempt_back(store: Store) -> None:
    await webhook_job(store, (WebhookEvent.STARTED,))
    await claim(store)
    claimed = await store.webhooks.claim_due(owner="stopping", limit=5, lease_seconds=600)
    await store.webhooks.release(claimed=claimed)
    (again,) = await store.webhooks.claim_due(owner="next", limit=5, lease_seconds=600)
    assert again.id == claimed[0].id


async def settle_one(
    store: Store, result: AttemptResult, *, schedule: tuple[float, ...] = (0, 5, 300)
) -> tuple[Any, list[DeliveryRecord]]:
    job_id = await webhook_job(store, (WebhookEvent.STARTED,))
    await claim(store)
    (claimed,) = await store.webhooks.claim_due(owner="me", limit=1, lease_seconds=30)
    now = utcnow()
    settled = await store.db.write(
        lambda conn: settle(
            conn,
            claimed=claimed,
            result=result,
            now=now,
            schedule=schedule,
            jitter=0.2,
            rng=random.Random(1),
        )
    )
    return settled, await deliveries(store, job_id)


async def test_a_failure_schedules_the_next_step_with_jitter(store: Store) -> None:
    _, (first, second) = await settle_one(
        store, AttemptResult(Outcome.HTTP_ERROR, 12.5, 500, "HTTP 500")
    )
    assert first.status is DeliveryStatus.FAILED and first.response_status == 500
    assert first.duration_ms == 12.5 and first.next_attempt_at is None
    assert second.status is DeliveryStatus.PENDING and second.attempt == 2
    assert second.message_id == first.message_id
    assert second.next_attempt_at is not None and first.attempted_at is not None
    wait = (second.next_attempt_at - first.attempted_at).total_seconds()
    assert 4 <= wait <= 6 and wait != 5  # the schedule's 5 s, spread by up to 20 %


@pytest.mark.parametrize(
    ("result", "status"),
    [
        (AttemptResult(Outcome.REFUSED, 0.1, error="refused: loopback"), DeliveryStatus.GAVE_UP),
        (AttemptResult(Outcome.GONE, 3.0, 410), DeliveryStatus.GAVE_UP),
        (AttemptResult(Outcome.SUCCEEDED, 3.0, 204), DeliveryStatus.SUCCEEDED),
    ],
)
async def test_outcomes_that_end_a_message(
    store: Store, result: AttemptResult, status: DeliveryStatus
) -> None:
    settled, attempts = await settle_one(store, result)
    assert settled.status is status and settled.next_attempt_at is None
    assert [d.status for d in attempts] == [status]


async def test_throttled_waits_for_retry_after_and_the_schedule_ends(store: Store) -> None:
    throttled = AttemptResult(Outcome.THROTTLED, 3.0, 429, "HTTP 429", retry_after=120)
    _, (first, second) = await settle_one(store, throttled)
    assert second.next_attempt_at is not None and first.attempted_at is not None
    assert (second.next_attempt_at - first.attempted_at).total_seconds() == 120
    settled, attempts = await settle_one(
        store, AttemptResult(Outcome.UNREACHABLE, 1.0, error="refused"), schedule=(0,)
    )
    assert settled.status is DeliveryStatus.GAVE_UP and len(attempts) == 1


async def test_410_disables_the_webhook_and_its_pending_attempts(store: Store) -> None:
    job_id = await webhook_job(store)
    await claim(store)  # STARTED
    await store.lifecycle.heartbeat(tenant=None, job_id=job_id, worker_id="w", progress=10)
    started = await store.webhooks.claim_due(owner="me", limit=1, lease_seconds=30)
    settled = await store.webhooks.settle(
        claimed=started[0], result=AttemptResult(Outcome.GONE, 2.0, 410, "gone")
    )
    assert settled is not None and settled.status is DeliveryStatus.GAVE_UP
    await store.lifecycle.complete(tenant=None, job_id=job_id, worker_id="w")
    records = await deliveries(store, job_id)
    assert [(d.event.value, d.status.value) for d in records] == [
        ("STARTED", "GAVE_UP"),
        ("PROGRESS", "GAVE_UP"),  # given up with it, never sent
    ]
    (hook,) = (await store.webhooks.get_webhooks(job_ids=[job_id])).values()
    assert hook.disabled_at is not None


async def test_redeliver(store: Store) -> None:
    _, (done,) = await settle_one(store, AttemptResult(Outcome.SUCCEEDED, 3.0, 200))
    with pytest.raises(NotFound):
        await store.webhooks.redeliver(delivery_id=done.id, tenant="someone-else")
    again = await store.webhooks.redeliver(delivery_id=done.id, tenant="acme")
    assert again.status is DeliveryStatus.PENDING and again.attempt == 2
    assert again.message_id == done.message_id
    # Asked again while that one waits: the same attempt, not a second one.
    assert (await store.webhooks.redeliver(delivery_id=done.id, tenant=None)).id == again.id
    (claimed,) = await store.webhooks.claim_due(owner="me", limit=5, lease_seconds=30)
    assert claimed.id == again.id and claimed.step is None
    failed = await store.webhooks.settle(
        claimed=claimed, result=AttemptResult(Outcome.HTTP_ERROR, 1.0, 500, "HTTP 500")
    )
    assert failed is not None and failed.status is DeliveryStatus.GAVE_UP  # one attempt only


async def test_secrets_are_encrypted_and_rotation_signs_with_both(store: Store) -> None:
    first = await store.webhook_secrets.get_or_create(tenant="acme")
    assert first == await store.webhook_secrets.get_or_create(tenant="acme")
    assert first != await store.webhook_secrets.get_or_create(tenant="other")
    rotated = await store.webhook_secrets.rotate(tenant="acme")
    assert await store.webhook_secrets.signing_secrets(tenant="acme") == [rotated, first]
    stored = await store.db.read(lambda conn: conn.execute(select(webhook_secrets)).all())
    text = repr(stored)
    assert first[6:] not in text and rotated[6:] not in text
    secrets = await asyncio.gather(
        *(store.webhook_secrets.get_or_create(tenant="race") for _ in range(5))
    )
    assert len(set(secrets)) == 1  # made once, whoever asked first


async def test_the_old_secret_stops_after_the_window(store: Store, settings: Settings) -> None:
    db = Database(settings.model_copy(update={"webhook_rotation_hours": 0}))
    short = Store(db)
    try:
        await short.webhook_secrets.get_or_create(tenant="acme")
        rotated = await short.webhook_secrets.rotate(tenant="acme")
        assert await short.webhook_secrets.signing_secrets(tenant="acme") == [rotated]
    finally:
        await db.dispose()


async def test_purging_a_job_removes_its_webhook_and_deliveries(store: Store) -> None:
    job_id = await webhook_job(store)
    await claim(store)
    await store.lifecycle.complete(tenant=None, job_id=job_id, worker_id="w")
    assert len(await deliveries(store, job_id)) == 2
    report = await store.retention.purge(cutoff=utcnow() + timedelta(seconds=1))
    assert report.jobs == 1
    count = select(func.count()).select_from(webhook_deliveries)
    assert await store.db.read(lambda conn: conn.execute(count).scalar_one()) == 0
    assert await store.webhooks.get_webhooks(job_ids=[job_id]) == {}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_heartbeat_and_the_due_progress_sweep_never_deadlock(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving that deadlocked: a heartbeat has updated its job and has yet to lock
    the job's webhook row when the sweep queues that job's held PROGRESS call (whose delivery's
    foreign key needs the job's row). The sweep now waits for the job's row before it takes the
    webhook row, so the heartbeat goes through and the sweep follows it."""
    job_id = await webhook_job(store, (WebhookEvent.PROGRESS,))
    await claim(store)
    start = utcnow()
    store.lifecycle.clock = lambda: start
    await store.lifecycle.heartbeat(tenant=None, job_id=job_id, worker_id="w", progress=10)
    store.lifecycle.clock = lambda: start + timedelta(seconds=1)
    await store.lifecycle.heartbeat(tenant=None, job_id=job_id, worker_id="w", progress=20)
    # 20 is held, due at start + 5 s; the next heartbeat replaces it with 30.

    in_heartbeat, go_on = asyncio.Event(), asyncio.Event()
    real = webhook_outbox.OutboxWrites.progress_reported

    def paused(self: Any, conn: Any, job: Any, *, now: datetime) -> None:
        # Inside the heartbeat's transaction, after its update of the job: wait on the loop
        # (SQLAlchemy's greenlet bridge) before the webhook row is locked.
        in_heartbeat.set()
        await_only(go_on.wait())
        real(self, conn, job, now=now)

    monkeypatch.setattr(webhook_outbox.OutboxWrites, "progress_reported", paused)
    store.lifecycle.clock = lambda: start + timedelta(seconds=2)
    store.webhooks.clock = lambda: start + timedelta(seconds=6)
    heartbeat = asyncio.create_task(
        store.lifecycle.heartbeat(tenant=None, job_id=job_id, worker_id="w", progress=30)
    )
    await asyncio.wait_for(in_heartbeat.wait(), timeout=10)
    sweep = asyncio.create_task(store.webhooks.queue_due_progress())
    await asyncio.sleep(0.5)  # the sweep runs into the heartbeat's lock on the job
    go_on.set()
    # PostgreSQL reports a deadlock after deadlock_timeout (1 s): either task would fail.
    _, queued = await asyncio.wait_for(asyncio.gather(heartbeat, sweep), timeout=30)
    assert queued == 1
    sent = [body["data"]["progress"] for body in await payloads(store, job_id)]
    assert sent == [10, 30], sent
