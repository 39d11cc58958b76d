"""What every cross-process broker shares: the local fan-out, a coalesced outbox, a resync.

A :class:`RelayBroker` delivers each published event to this process's subscribers at once
and hands it to a :class:`~live.coalesce.Coalescer`, which sends it over a :class:`Wire`
(PostgreSQL NOTIFY, Redis pub/sub) merged with the job's other recent events. What arrives
from other processes goes to the same local fan-out. Events carry ids and seqs only:
subscribers re-read the store, so a late, duplicate or merged event is harmless.

A wire that lost its receiving connection has missed whatever was sent meanwhile; once it is
back it calls ``resync``, which re-announces from the store every job this process watches and
every job changed since shortly before the loss, so followers catch up.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Connection, or_, select

from live.broker import Subscription
from live.coalesce import Coalescer
from live.memory import MemoryBroker
from storage.coltypes import utcnow
from storage.events import JobEvent
from storage.jobs import JOB_COLUMNS, job_from_row
from storage.records import JobRecord
from storage.tables import jobs

if TYPE_CHECKING:
    from storage.store import Store

# How far back a resync looks before the moment the connection was found dead.
_RESYNC_MARGIN = timedelta(seconds=5)
_RESYNC_LIMIT = 10_000
# How long events for one job are merged before they leave: a few messages per job per 100 ms.
DEFAULT_WINDOW = 0.05


class Wire(Protocol):
    """Carries event batches to every other process and hands theirs to the broker."""

    async def start(self) -> None: ...

    async def send(self, events: list[JobEvent]) -> None:
        """Send ``events`` (raises if they did not leave; the outbox retries)."""
        ...

    async def close(self) -> None: ...

    async def healthy(self) -> bool: ...


def changed_jobs(
    conn: Connection, *, watched: list[str], since: object, limit: int
) -> list[JobRecord]:
    query = (
        select(*JOB_COLUMNS)
        .where(or_(jobs.c.id.in_(watched), jobs.c.updated_at >= since))
        .order_by(jobs.c.updated_at)
        .limit(limit)
    )
    return [job_from_row(row) for row in conn.execute(query)]


class RelayBroker:
    """A :class:`~live.broker.Broker` whose events reach every process sharing its wire."""

    wire: Wire

    def __init__(self, *, max_queue: int, window: float = DEFAULT_WINDOW) -> None:
        self.local = MemoryBroker(max_queue=max_queue)
        self.outbox = Coalescer(self._send, window=window)
        self._store: Store | None = None
        self._last_alive = utcnow()

    async def start(self, store: Store) -> None:
        self._store = store
        await self.wire.start()

    @property
    def subscriber_count(self) -> int:
        return self.local.subscriber_count

    async def publish(self, event: JobEvent) -> None:
        self.local.deliver(event)  # this process's followers need not wait for the round trip
        self._last_alive = utcnow()
        self.outbox.add(event)

    def subscribe(self, *, job_id: str | None = None, tenant: str | None = None) -> Subscription:
        return self.local.subscribe(job_id=job_id, tenant=tenant)

    async def healthy(self) -> bool:
        return await self.wire.healthy()

    async def close(self, *, grace: float = 5.0) -> None:
        # Shutdown calls this twice: first to end the subscriptions while requests finish,
        # then at the very end. What those requests publish still goes out: the outbox starts
        # again on a new event, and the senders reconnect, until the last close flushes it.
        await self.local.close(grace=grace)
        await self.outbox.close()
        await self.wire.close()

    async def _send(self, events: list[JobEvent]) -> None:
        await self.wire.send(events)

    async def _from_peer(self, event: JobEvent) -> None:
        self._last_alive = utcnow()
        self.local.deliver(event)

    async def _resync(self) -> None:
        if self._store is None:
            return
        watched = list(self.local.watched_job_ids)
        since = self._last_alive - _RESYNC_MARGIN
        changed = await self._store.db.read(
            lambda conn: changed_jobs(conn, watched=watched, since=since, limit=_RESYNC_LIMIT)
        )
        for job in changed:
            self.local.deliver(JobEvent.job_changed(job))
            self.local.deliver(JobEvent.logs_appended(job))
