"""NOTIFYs per append, and the notification ceiling, of jobgraph's PostgreSQL publisher.

Counts, with a plain LISTEN connection beside the broker, how many notifications (and
payloads) reach the channel when a store on PostgreSQL appends log lines:

- ``batches``: ``appendLogs`` batches of 50 lines, one job;
- ``singles``: one-line appends, as fast as one writer goes, on one job and on 20 jobs;

then the ceiling: how many notifications (and events) per second PostgreSQL passes through the
publisher's own send path (:meth:`PgNotifier.send`: one statement per flush, as many payloads
as its events need), from one and from four publishers, with one job or many per flush.

    python -m bench.bench_notify --database postgresql://127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from domain.videos import Platform, VideoRef
from live.pg_broker import PgBroker
from live.pg_notify import CHANNEL, PgNotifier
from settings import Settings
from storage.database import Database
from storage.events import EventKind, JobEvent
from storage.migrate import upgrade_to_head
from storage.store import Store

ADMIN = "postgresql://127.0.0.1:5432/postgres"


class Counter:
    def __init__(self) -> None:
        self.notifications = 0
        self.events = 0

    def __call__(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.notifications += 1
        self.events += payload.count("],[") + 1


async def _settle(counter: Counter) -> None:
    last = -1
    while last != counter.notifications:
        last = counter.notifications
        await asyncio.sleep(0.3)


async def _scenario(
    store: Store, dsn: str, *, jobs: int, lines_per_append: int, appends: int
) -> tuple[int, int, float]:
    counter = Counter()
    listener = await asyncpg.connect(dsn)
    await listener.add_listener(CHANNEL, counter)
    try:
        ids = []
        for n in range(jobs):
            created, _ = await store.jobs.create_job(
                tenant="bench", items=[VideoRef(Platform.YOUTUBE, "dQw4w9WgXcQ")]
            )
            claimed = await store.lifecycle.claim_next(
                tenant="bench", worker_id=f"w{n}", lease_seconds=600
            )
            assert claimed is not None and claimed.id == created.id
            ids.append((created.id, f"w{n}"))
        await _settle(counter)
        counter.notifications = counter.events = 0
        started = time.perf_counter()

        async def writer(job_id: str, worker: str, count: int) -> None:
            for _ in range(count):
                now = datetime.now(UTC)
                lines = [(now, "INFO", "x" * 60)] * lines_per_append
                await store.lifecycle.append_logs(
                    tenant="bench", job_id=job_id, worker_id=worker, lines=lines
                )

        await asyncio.gather(*(writer(job, worker, appends // jobs) for job, worker in ids))
        elapsed = time.perf_counter() - started
        await _settle(counter)
        return counter.notifications, appends, elapsed
    finally:
        await listener.close()


async def _ceiling(
    dsn: str, *, senders: int, jobs_per_flush: int, seconds: float
) -> tuple[float, float]:
    """(notifications/s, events/s) through ``senders`` publishers, flushing ``jobs_per_flush``
    jobs' events at a time as fast as PostgreSQL takes them."""
    counter = Counter()
    listener = await asyncpg.connect(dsn)
    await listener.add_listener(CHANNEL, counter)

    async def nothing(_event: JobEvent) -> None:
        return None

    notifiers = [PgNotifier(dsn, deliver=nothing) for _ in range(senders)]
    jobs = [str(uuid.uuid4()) for _ in range(jobs_per_flush)]
    deadline = time.perf_counter() + seconds
    events = 0

    async def send(notifier: PgNotifier) -> None:
        nonlocal events
        seq = 0
        while time.perf_counter() < deadline:
            seq += 1
            batch = [JobEvent(EventKind.LOGS, job, "bench", "RUNNING", seq) for job in jobs]
            await notifier.send(batch)
            events += len(batch)

    started = time.perf_counter()
    await asyncio.gather(*(send(notifier) for notifier in notifiers))
    elapsed = time.perf_counter() - started
    await _settle(counter)
    for notifier in notifiers:
        await notifier.close()
    await listener.close()
    return counter.notifications / elapsed, events / elapsed


async def main_async(args: argparse.Namespace) -> None:
    name = f"jobgraph_notify_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.admin)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = args.admin.rsplit("/", 1)[0] + "/" + name
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        settings = Settings(database_url=url)
        db = Database(settings)
        await upgrade_to_head(db)
        broker = PgBroker(dsn, max_queue=1000)
        store = Store(db, publisher=broker)
        await broker.start(store)
        try:
            for label, jobs, per, appends in (
                ("appendLogs, 50-line batches, 1 job", 1, 50, 400),
                ("appendLogs, 1 line each, 1 job", 1, 1, 2000),
                ("appendLogs, 1 line each, 20 jobs", 20, 1, 2000),
            ):
                notifications, count, elapsed = await _scenario(
                    store, dsn, jobs=jobs, lines_per_append=per, appends=appends
                )
                print(
                    f"{label}: {count} appends in {elapsed:.2f}s ({count / elapsed:,.0f}/s) -> "
                    f"{notifications} NOTIFYs ({notifications / count:.3f} per append, "
                    f"{notifications / elapsed:,.0f}/s)"
                )
        finally:
            await broker.close(grace=1)
            await db.dispose()
        if not args.no_ceiling:
            for senders, jobs in ((1, 1), (4, 1), (1, 50), (4, 50), (1, 1000)):
                notification_rate, event_rate = await _ceiling(
                    dsn, senders=senders, jobs_per_flush=jobs, seconds=args.seconds
                )
                print(
                    f"ceiling: {senders} publisher(s), {jobs} job(s) per flush: "
                    f"{notification_rate:,.0f} notifications/s carrying {event_rate:,.0f} events/s"
                )
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_notify", description=__doc__)
    parser.add_argument("--admin", default=ADMIN, help="a database to create the bench's in")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--no-ceiling", action="store_true")
    main_async_args = parser.parse_args(argv)
    asyncio.run(main_async(main_async_args))


if __name__ == "__main__":
    main()
