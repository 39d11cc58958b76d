"""The broker interface: publish change events, subscribe to them with a bounded queue.

One interface, two implementations: :class:`live.memory.MemoryBroker` fans events out inside
one server process; a PostgreSQL broker (LISTEN/NOTIFY) publishes with NOTIFY and, on each
notification, hands the event to the same local fan-out. Events carry ids and seqs only, so
what crosses processes stays small and a subscriber always re-reads the truth from the store.

A subscriber that does not keep up never slows anyone down: its queue is bounded, and when it
overflows the subscription is dropped (its queue freed) and its next read raises
:class:`SubscriberOverflow`, so the subscriber can tell its client where to resume.

    async with broker.subscribe(job_id=job.id) as events:
        async for event in events:
            ...
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, runtime_checkable

from storage.events import JobEvent


class SubscriberOverflow(Exception):
    """The subscriber fell more than its queue size behind and was dropped."""


class Subscription:
    """An async iterator of the events one subscriber asked for; ends when closed.

    ``job_id`` narrows to one job, ``tenant`` to one tenant's jobs; neither means all.
    """

    def __init__(
        self,
        *,
        job_id: str | None,
        tenant: str | None,
        max_queue: int,
        on_close: Callable[[Subscription], None],
        on_release: Callable[[Subscription], None],
    ) -> None:
        self.job_id = job_id
        self.tenant = tenant
        self._max_queue = max_queue
        self._queue: deque[JobEvent] = deque()
        self._ready = asyncio.Event()
        self._on_close = on_close
        self._on_release = on_release
        self.closed = False
        self.overflowed = False
        self._released = False

    def matches(self, event: JobEvent) -> bool:
        if self.job_id is not None and event.job_id != self.job_id:
            return False
        return self.tenant is None or event.tenant == self.tenant

    def offer(self, event: JobEvent) -> None:
        """Queue an event without ever waiting; called by the broker for matching events."""
        if self.closed:
            return
        if len(self._queue) >= self._max_queue:
            # Free the backlog now: a dropped subscriber must not hold memory while it lags.
            self._queue.clear()
            self.overflowed = True
            self._finish()
            return
        self._queue.append(event)
        self._ready.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def pending(self) -> list[JobEvent]:
        """The events already queued, taken without waiting (lets a reader coalesce).

        Raises :class:`SubscriberOverflow` once the subscription overflowed.
        """
        if self.overflowed:
            raise SubscriberOverflow("the subscriber fell too far behind")
        events = list(self._queue)
        self._queue.clear()
        self._ready.clear()
        return events

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> JobEvent:
        while not self._queue:
            if self.overflowed:
                raise SubscriberOverflow("the subscriber fell too far behind")
            if self.closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    def close(self) -> None:
        """End the subscription: a waiting reader stops (after what was already queued)."""
        self._finish()

    def _finish(self) -> None:
        if not self.closed:
            self.closed = True
            self._ready.set()
            self._on_close(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def release(self) -> None:
        """The reader is gone: close, and let ``Broker.close`` stop waiting for it."""
        self.close()
        if not self._released:
            self._released = True
            self._on_release(self)


@runtime_checkable
class Broker(Protocol):
    """What the API needs of a broker: an :class:`~live.events.EventPublisher` plus subscribe.

    ``publish`` is called after the write committed and must not wait for subscribers.
    ``close`` ends every open subscription (readers finish as if the stream ended, so each
    transport sends its normal completion) and waits up to ``grace`` seconds for them to go.
    """

    async def publish(self, event: JobEvent) -> None: ...

    def subscribe(
        self, *, job_id: str | None = None, tenant: str | None = None
    ) -> Subscription: ...

    async def close(self, *, grace: float = 5.0) -> None: ...

    @property
    def subscriber_count(self) -> int: ...
