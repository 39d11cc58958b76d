"""The outgoing half of a cross-process broker: events merged per job, sent in flushes.

A busy job appends many batches a second, and every append publishes an event. Other
processes need not hear of each one: their subscribers re-read the store from the last seq they
delivered, so "job J has lines up to seq N" covers every earlier "up to seq M". The
:class:`Coalescer` keeps one pending event per (job, kind, status) — the newest, with the
highest seq — and a single task sends whatever is pending in one go, then waits ``window``
seconds before the next flush. So a job costs at most one message per kind and status per
window however fast it is written, the first event after a quiet spell leaves at once, and the
last event is always sent (a flush follows every event that arrives during a wait).

A failed send puts its events back (newer ones pending meanwhile win) and is retried with
backoff, so a wire that is down for a while loses nothing it was asked to carry.

    outbox = Coalescer(wire.send, window=0.05)
    outbox.add(event)          # never waits
    await outbox.close()       # one last flush
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from storage.events import EventKind, JobEvent

log = logging.getLogger("jobgraph.live")
Send = Callable[[list[JobEvent]], Awaitable[None]]
_Key = tuple[str, EventKind, str]

_MAX_BACKOFF = 5.0


class Coalescer:
    """Merges events per (job, kind, status) and sends them at most once per ``window``."""

    def __init__(self, send: Send, *, window: float) -> None:
        self._send = send
        self._window = window
        self._pending: dict[_Key, JobEvent] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Counters for tests, the bench and the docs' figures.
        self.added = 0
        self.sent = 0
        self.flushes = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, event: JobEvent) -> None:
        """Queue ``event``, merged into a pending one for the same job, kind and status."""
        self.added += 1
        self._merge(event)
        if self._task is None:  # also after close: a request finishing at shutdown publishes
            self._task = asyncio.create_task(self._run(), name="broker-outbox")
        self._wake.set()

    def _merge(self, event: JobEvent) -> None:
        key = (event.job_id, event.kind, event.status)
        held = self._pending.get(key)
        if held is not None and held.last_seq > event.last_seq:
            event = replace(event, last_seq=held.last_seq)
        self._pending[key] = event

    async def flush(self) -> bool:
        """Send what is pending now; False (and the events kept) if the send failed."""
        if not self._pending:
            return True
        batch = list(self._pending.values())
        self._pending = {}
        try:
            await self._send(batch)
        except asyncio.CancelledError:
            self._requeue(batch)
            raise
        except Exception:
            self._requeue(batch)
            return False
        self.sent += len(batch)
        self.flushes += 1
        return True

    def _requeue(self, batch: list[JobEvent]) -> None:
        newer = self._pending
        self._pending = {}
        for event in (*batch, *newer.values()):
            self._merge(event)

    async def _run(self) -> None:
        backoff = self._window
        while True:
            await self._wake.wait()
            self._wake.clear()
            if await self.flush():
                backoff = self._window
                await asyncio.sleep(self._window)
                continue
            log.warning("could not send change events; retrying in %.1fs", backoff)
            self._wake.set()  # the events are pending again
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2 or 0.1, _MAX_BACKOFF)

    async def close(self) -> None:
        """Stop the flusher and try once more to send what is left (an event added later
        starts it again; the next close flushes that too)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if not await self.flush():
            log.warning("dropped %d change events at shutdown", len(self._pending))
