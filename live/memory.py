"""The in-process broker: fans each event out to this process's matching subscribers.

It is also the local half of any cross-process broker: a PostgreSQL LISTEN/NOTIFY broker
sends ``publish`` through NOTIFY and calls :meth:`MemoryBroker.deliver` for each notification.
"""

from __future__ import annotations

import asyncio
import logging

from live.broker import Subscription
from storage.events import JobEvent

log = logging.getLogger("jobgraph.live")

DEFAULT_QUEUE_SIZE = 1000


class MemoryBroker:
    """Subscriptions indexed by job id (one job's watchers) plus the wide ones (a tenant, all).

    >>> broker = MemoryBroker(max_queue=100)
    >>> subscription = broker.subscribe(job_id="...")
    """

    def __init__(self, *, max_queue: int = DEFAULT_QUEUE_SIZE) -> None:
        self._max_queue = max_queue
        self._by_job: dict[str, set[Subscription]] = {}
        self._wide: set[Subscription] = set()
        self._live: set[Subscription] = set()
        self._all_released = asyncio.Event()
        self._all_released.set()
        self._closed = False

    @property
    def subscriber_count(self) -> int:
        return len(self._live)

    @property
    def watched_job_ids(self) -> frozenset[str]:
        """Jobs with a subscriber here (a cross-process broker re-announces them on resync)."""
        return frozenset(self._by_job)

    async def publish(self, event: JobEvent) -> None:
        self.deliver(event)

    def deliver(self, event: JobEvent) -> None:
        """Offer the event to every matching subscriber; never waits (full queues overflow)."""
        # Copies: an overflowing subscriber unregisters itself while we iterate.
        for subscription in (*self._by_job.get(event.job_id, ()), *self._wide):
            if subscription.matches(event):
                subscription.offer(event)
                if subscription.overflowed:
                    log.warning("live subscriber on %s overflowed and was dropped", event.job_id)

    def subscribe(self, *, job_id: str | None = None, tenant: str | None = None) -> Subscription:
        subscription = Subscription(
            job_id=job_id,
            tenant=tenant,
            max_queue=self._max_queue,
            on_close=self._unregister,
            on_release=self._release,
        )
        self._live.add(subscription)
        self._all_released.clear()
        if self._closed:
            subscription.close()  # shutting down: the reader ends at once
        elif job_id is not None:
            self._by_job.setdefault(job_id, set()).add(subscription)
        else:
            self._wide.add(subscription)
        return subscription

    async def close(self, *, grace: float = 5.0) -> None:
        """End every subscription, then wait (up to ``grace`` s) for their readers to finish."""
        self._closed = True
        for subscription in list(self._live):
            subscription.close()
        try:
            await asyncio.wait_for(self._all_released.wait(), timeout=grace)
        except TimeoutError:
            log.warning("%d live subscribers still open after %.1fs", len(self._live), grace)

    def _unregister(self, subscription: Subscription) -> None:
        if subscription.job_id is None:
            self._wide.discard(subscription)
            return
        watchers = self._by_job.get(subscription.job_id)
        if watchers is not None:
            watchers.discard(subscription)
            if not watchers:
                del self._by_job[subscription.job_id]

    def _release(self, subscription: Subscription) -> None:
        self._live.discard(subscription)
        if not self._live:
            self._all_released.set()
