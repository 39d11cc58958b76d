"""The cross-process broker for PostgreSQL: NOTIFY out, LISTEN in, the local fan-out between.

``publish`` (called by the store after its transaction committed) delivers the event to this
process's subscribers at once and sends it with NOTIFY to every other jobgraph process on the
database; each of them hands it to its own :class:`~live.memory.MemoryBroker`. Events carry
ids and seqs only: subscribers re-read the store, so a late, duplicate or coalesced event is
harmless. If the LISTEN connection drops, notifications sent meanwhile are lost; once it is
back, every job this process watches, and every job changed since the loss, is re-announced
from the store, so followers catch up.

    broker = new_broker(settings)            # PgBroker on PostgreSQL, MemoryBroker on SQLite
    store = Store(db, publisher=broker)
    if isinstance(broker, PgBroker):
        await broker.start(store)
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, or_, select

from live.broker import Subscription
from live.memory import MemoryBroker
from live.pg_notify import PgNotifier, asyncpg_dsn
from settings import Settings
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


def new_broker(settings: Settings) -> MemoryBroker | PgBroker:
    """The broker the database calls for: cross-process on PostgreSQL, in-process on SQLite."""
    if settings.is_sqlite:
        return MemoryBroker(max_queue=settings.live_queue_size)
    return PgBroker(
        asyncpg_dsn(settings.database_url),
        max_queue=settings.live_queue_size,
        timeouts=(settings.db_connect_timeout_seconds, settings.db_statement_timeout_seconds),
    )


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


class PgBroker:
    """A :class:`~live.broker.Broker` whose events reach every process on one PostgreSQL."""

    def __init__(
        self, dsn: str, *, max_queue: int, timeouts: tuple[float, float] = (60.0, 60.0)
    ) -> None:
        """``timeouts``: for connecting and for each statement, as the store's."""
        self.local = MemoryBroker(max_queue=max_queue)
        connect_timeout, command_timeout = timeouts
        self._notifier = PgNotifier(
            dsn,
            deliver=self._from_peer,
            resync=self._resync,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
        )
        self._store: Store | None = None
        self._last_alive = utcnow()

    async def start(self, store: Store) -> None:
        self._store = store
        await self._notifier.start()

    @property
    def subscriber_count(self) -> int:
        return self.local.subscriber_count

    async def publish(self, event: JobEvent) -> None:
        self.local.deliver(event)  # this process's followers need not wait for the round trip
        self._last_alive = utcnow()
        await self._notifier.notify(event)

    def subscribe(self, *, job_id: str | None = None, tenant: str | None = None) -> Subscription:
        return self.local.subscribe(job_id=job_id, tenant=tenant)

    async def close(self, *, grace: float = 5.0) -> None:
        await self._notifier.close()
        await self.local.close(grace=grace)

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
