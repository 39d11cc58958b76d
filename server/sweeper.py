"""The lease sweeper: a background task that expires the leases of workers that went silent.

Without it a job whose worker died would stay RUNNING for ever. Every
``sweep_interval_seconds`` it calls ``store.lifecycle.expire_leases()``, which requeues such
jobs (attempt + 1) or fails them after ``max_attempts``; on PostgreSQL a transaction-level
advisory lock lets one server process do this per tick while the others skip it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from domain.errors import AppError
from storage.store import Store

log = logging.getLogger("jobgraph.sweeper")


class LeaseSweeper:
    """``start()`` in the lifespan, ``await stop()`` on shutdown (safe if never started)."""

    def __init__(self, store: Store, *, interval: float) -> None:
        self._store = store
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="jobgraph-lease-sweeper")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def sweep_once(self) -> int:
        expired = await self._store.lifecycle.expire_leases()
        for job in expired:
            log.info(
                "lease expired: job %s is now %s (attempt %d)", job.id, job.status, job.attempt
            )
        return len(expired)

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except AppError as error:  # e.g. UNAVAILABLE: the database is down; try next tick
                log.warning("lease sweep skipped: %s", error.message)
            except Exception:
                # One bad tick must not end the sweeping for the process's lifetime.
                log.exception("lease sweep failed")
            await asyncio.sleep(self._interval)
