"""The cross-process broker for PostgreSQL: NOTIFY out, LISTEN in, the local fan-out between.

``publish`` (called by the store after its transaction committed) delivers the event to this
process's subscribers at once and queues it for the other jobgraph processes on the database;
the outbox merges each job's events and sends them in one NOTIFY statement per flush (see
:mod:`live.coalesce` and :mod:`live.relay`). If the LISTEN connection drops, notifications sent
meanwhile are lost; once it is back, the jobs this process watches, and every job changed
since the loss, are re-announced from the store, so followers catch up.

    broker = new_broker(settings)    # RedisBroker with JOBGRAPH_BROKER_URL, else PgBroker on
    store = Store(db, publisher=broker)  # PostgreSQL and MemoryBroker on SQLite
    if isinstance(broker, RelayBroker):
        await broker.start(store)
"""

from __future__ import annotations

from live.memory import MemoryBroker
from live.pg_notify import PgNotifier, asyncpg_dsn
from live.redis_wire import RedisBroker
from live.relay import DEFAULT_WINDOW, RelayBroker
from settings import Settings


def new_broker(settings: Settings) -> MemoryBroker | RelayBroker:
    """The broker the settings call for: Redis when a broker URL is set, else PostgreSQL
    LISTEN/NOTIFY on PostgreSQL and the in-process broker on SQLite."""
    if settings.broker_url:
        return RedisBroker(
            settings.broker_url,
            channel=settings.broker_channel,
            max_queue=settings.live_queue_size,
            window=settings.broker_window_seconds,
        )
    if settings.is_sqlite:
        return MemoryBroker(max_queue=settings.live_queue_size)
    return PgBroker(
        asyncpg_dsn(settings.database_url),
        max_queue=settings.live_queue_size,
        timeouts=(settings.db_connect_timeout_seconds, settings.db_statement_timeout_seconds),
        window=settings.broker_window_seconds,
    )


class PgBroker(RelayBroker):
    """A :class:`~live.broker.Broker` whose events reach every process on one PostgreSQL."""

    def __init__(
        self,
        dsn: str,
        *,
        max_queue: int,
        timeouts: tuple[float, float] = (60.0, 60.0),
        window: float = DEFAULT_WINDOW,
    ) -> None:
        """``timeouts``: for connecting and for each statement, as the store's."""
        super().__init__(max_queue=max_queue, window=window)
        connect_timeout, command_timeout = timeouts
        self.wire = self._notifier = PgNotifier(
            dsn,
            deliver=self._from_peer,
            resync=self._resync,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
        )
