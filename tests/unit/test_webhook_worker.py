"""Unit (no database, no app): the delivery worker stops when asked, whatever it was doing.

A stop that coincides with a wake (an attempt in flight just ended, a commit queued a
delivery) is the case that matters: the worker must end, or the server's shutdown waits for it
forever."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.webhook_worker import WebhookWorker
from settings import Settings


class IdleWebhooks:
    """A store's ``webhooks`` with nothing due."""

    async def queue_due_progress(self) -> int:
        return 0

    async def claim_due(self, **_: Any) -> list[Any]:
        return []

    async def release(self, **_: Any) -> None:
        return None


class IdleStore:
    def __init__(self) -> None:
        self.webhooks = IdleWebhooks()
        self.outbox = type("Outbox", (), {"notify": None})()


@pytest.mark.parametrize("turns", range(6))
async def test_stop_ends_the_worker_even_as_it_is_woken(turns: int) -> None:
    """``turns`` loop iterations between the wake and the stop: together they cover the
    moments between the wake being seen and the worker looking for work again."""
    settings = Settings(webhook_poll_interval_seconds=30)
    worker = WebhookWorker(IdleStore(), settings)  # type: ignore[arg-type]
    worker.start()
    running = worker._task
    assert running is not None
    await asyncio.sleep(0.01)  # the worker now waits for a wake (or its 30 s poll)
    worker.wake()
    for _ in range(turns):
        await asyncio.sleep(0)
    stopping = asyncio.ensure_future(worker.stop())
    await asyncio.wait([stopping], timeout=2)
    stopped = stopping.done() and running.done()
    if not stopped:  # leave nothing running into the next test
        running.cancel()
        stopping.cancel()
        await asyncio.wait([running, stopping], timeout=1)
    assert stopped, "stop() did not end the worker: the server's shutdown would hang"
