"""PostgreSQL LISTEN/NOTIFY as the wire between server processes.

A notification carries a batch of :class:`JobEvent` (ids, status and the last seq — never
content), packed under PostgreSQL's 8000-byte payload limit; subscribers read the rest from
the store. Each process keeps one dedicated connection that LISTENs, and sends its own
notifications on a second one, after the write has committed: one statement per batch, so a
flush of the outbox costs one round trip however many jobs it names. Its own notifications
come back to it too; they are recognised by the origin id and skipped, because the process
already delivered them locally.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import orjson

from storage.events import EventKind, JobEvent

CHANNEL = "jobgraph_events"
# PostgreSQL refuses payloads of 8000 bytes or more; Redis has no such limit, but the same
# size keeps each message cheap to parse.
PAYLOAD_LIMIT = 7000
LISTENER_NAME = "jobgraph-listen"  # shows in pg_stat_activity
log = logging.getLogger("jobgraph.live")
Deliver = Callable[[JobEvent], Awaitable[None]]
Resync = Callable[[], Awaitable[None]]
# One statement, one transaction: every payload is queued at its commit. Payloads are distinct
# (each names its events), so PostgreSQL's folding of identical ones never merges two.
_NOTIFY_ALL = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload"


def encode(events: Sequence[JobEvent], origin: str) -> list[str]:
    """Payloads of at most :data:`PAYLOAD_LIMIT` bytes, as many events in each as fit."""
    payloads: list[str] = []
    head = '{"o":' + orjson.dumps(origin).decode() + ',"e":['
    parts: list[str] = []
    size = len(head) + 2
    for event in events:
        part = orjson.dumps(
            [event.kind.value, event.job_id, event.tenant, event.status, event.last_seq]
        ).decode()
        if parts and size + len(part) + 1 > PAYLOAD_LIMIT:
            payloads.append(head + ",".join(parts) + "]}")
            parts, size = [], len(head) + 2
        parts.append(part)
        size += len(part) + 1
    if parts:
        payloads.append(head + ",".join(parts) + "]}")
    return payloads


def decode(payload: str | bytes) -> tuple[str, list[JobEvent]]:
    data: dict[str, Any] = orjson.loads(payload)
    events = [
        JobEvent(EventKind(kind), str(job), str(tenant), str(status), int(seq))
        for kind, job, tenant, status, seq in data["e"]
    ]
    return str(data["o"]), events


def asyncpg_dsn(database_url: str) -> str:
    """asyncpg wants ``postgresql://``; settings hold ``postgresql+asyncpg://``."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class PgNotifier:
    """Sends events to every jobgraph process on the database and receives theirs.

    ``deliver`` gets each event from another process; ``resync`` runs after the listening
    connection was lost and re-established (notifications sent meanwhile are gone, so
    subscribers must re-read the store).
    """

    def __init__(
        self,
        dsn: str,
        *,
        deliver: Deliver,
        resync: Resync | None = None,
        connect_timeout: float = 60.0,
        command_timeout: float | None = None,
    ) -> None:
        self._dsn = dsn
        # A database that stops answering must not hold a sender (and the mutation behind it)
        # or the listener's reconnection for longer than the store's own timeouts.
        self._timeouts = {"timeout": connect_timeout, "command_timeout": command_timeout}
        self._deliver = deliver
        self._resync = resync
        self.origin = uuid.uuid4().hex
        self._listener: Any = None
        self._sender: Any = None
        self._send_lock = asyncio.Lock()
        self._watchdog: asyncio.Task[None] | None = None
        self._inbox: asyncio.Queue[JobEvent] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        await self._listen()
        self._pump = asyncio.create_task(self._run_pump(), name="pg-notify-pump")
        self._watchdog = asyncio.create_task(self._keep_listening(), name="pg-notify-watchdog")

    async def notify(self, event: JobEvent) -> None:
        await self.send([event])

    async def send(self, events: list[JobEvent]) -> None:
        """NOTIFY ``events`` in one statement; raises if they could not be sent."""
        payloads = encode(events, self.origin)
        async with self._send_lock:  # one asyncpg connection runs one statement at a time
            for attempt in (1, 2):
                try:
                    if self._sender is None or self._sender.is_closed():
                        self._sender = await asyncpg.connect(self._dsn, **self._timeouts)
                    await self._sender.execute(_NOTIFY_ALL, CHANNEL, payloads)
                    return
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    self._sender = None
                    if attempt == 2:
                        raise

    async def healthy(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    async def close(self) -> None:
        self._closed = True
        for task in (self._watchdog, self._pump):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for conn in (self._listener, self._sender):
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close()

    async def _listen(self) -> None:
        self._listener = await asyncpg.connect(
            self._dsn, server_settings={"application_name": LISTENER_NAME}, **self._timeouts
        )
        await self._listener.add_listener(CHANNEL, self._on_notification)

    def _on_notification(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        # asyncpg calls this synchronously; hand the event to the pump, which keeps order.
        try:
            origin, events = decode(payload)
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed notification on %s", CHANNEL)
            return
        if origin != self.origin:
            for event in events:
                self._inbox.put_nowait(event)

    async def _run_pump(self) -> None:
        while True:
            event = await self._inbox.get()
            try:
                await self._deliver(event)
            except Exception:
                log.exception("delivering a notification failed")

    async def _listener_alive(self) -> bool:
        # A silent TCP connection can be dead without knowing it: ask it something.
        if self._listener is None or self._listener.is_closed():
            return False
        try:
            await asyncio.wait_for(self._listener.fetchval("SELECT 1"), timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            with contextlib.suppress(Exception):
                self._listener.terminate()
            return False
        return True

    async def _keep_listening(self) -> None:
        """Reconnects the listener when its connection drops, then asks for a resync."""
        while not self._closed:
            await asyncio.sleep(1.0)
            if await self._listener_alive():
                continue
            try:
                await self._listen()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.warning("LISTEN connection lost; retrying")
                continue
            log.info("LISTEN connection re-established")
            if self._resync is not None:
                await self._resync()
