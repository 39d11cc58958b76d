"""The delivery worker: every server process sends the webhook calls that are due.

It claims due attempts (``store.webhooks.claim_due``: on PostgreSQL ``FOR UPDATE SKIP LOCKED``,
so two processes never take the same one), signs each with the tenant's secrets (Standard
Webhooks, with the ``standardwebhooks`` library), sends it (``server.webhook_http``) and records
the outcome, which queues the next attempt when one is due. At most
``JOBGRAPH_WEBHOOK_CONCURRENCY`` attempts are in flight per process. The store wakes it after a
commit that queued a delivery; it also looks every ``JOBGRAPH_WEBHOOK_POLL_INTERVAL_SECONDS``
for what other processes queued and for retries falling due.

One log line per attempt, with the job, event, attempt, the receiver's origin (no path, no
query: they may carry a token) and the outcome; never the secret or the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

from opentelemetry.trace import SpanKind
from standardwebhooks import Webhook

from domain.errors import AppError
from domain.webhooks import DeliveryStatus, Outcome
from server.metrics import Metrics
from server.webhook_http import WebhookSender
from settings import Settings
from storage.store import Store
from storage.webhook_deliveries import AttemptResult, Settled
from storage.webhook_records import ClaimedDelivery
from storage.webhook_secrets import SecretUnreadable
from telemetry import tracing

log = logging.getLogger("jobgraph.webhooks")


def sign(*, secrets: list[str], message_id: str, body: str, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt: one ``v1,`` signature per secret,
    space-separated (two while a rotation's window lasts)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(at.timestamp())),
        "webhook-signature": " ".join(
            Webhook(secret).sign(msg_id=message_id, timestamp=at, data=body) for secret in secrets
        ),
    }


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class WebhookWorker:
    """``start()`` in the lifespan, ``await stop()`` on shutdown (safe if never started)."""

    def __init__(self, store: Store, settings: Settings, metrics: Metrics | None = None) -> None:
        self._store = store
        self._metrics = metrics
        self._concurrency = settings.webhook_concurrency
        self._poll = settings.webhook_poll_interval_seconds
        # An attempt ends within the timeout; its hold lasts well past that, so only a process
        # that died (or stalled) loses an attempt to another one.
        self._hold_seconds = 2 * settings.webhook_timeout_seconds + 5
        self._grace = min(settings.webhook_timeout_seconds, 5.0)
        self._sender = WebhookSender(
            timeout=settings.webhook_timeout_seconds,
            allow_private=settings.webhook_allow_private,
        )
        self._owner = str(uuid.uuid4())
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: dict[asyncio.Task[None], ClaimedDelivery] = {}

    def start(self) -> None:
        if self._task is not None or self._concurrency == 0:
            return
        self._store.outbox.notify = self.wake
        self._task = asyncio.create_task(self._run(), name="jobgraph-webhook-worker")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming; give attempts in flight a short grace, then hand back the ones still
        unfinished, so that the next process to look sends them at once."""
        task, self._task = self._task, None
        if task is None:
            return
        self._store.outbox.notify = lambda: None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=self._grace)
        unfinished = dict(self._in_flight)
        for running in unfinished:
            running.cancel()
        if unfinished:
            # Bounded: a task waiting on a database thread ends when that thread does.
            await asyncio.wait(list(unfinished), timeout=self._grace)
        with contextlib.suppress(Exception):
            await self._store.webhooks.release(claimed=list(unfinished.values()))

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._store.webhooks.queue_due_progress()
                free = self._concurrency - len(self._in_flight)
                if free > 0:
                    for claimed in await self._store.webhooks.claim_due(
                        owner=self._owner, limit=free, lease_seconds=self._hold_seconds
                    ):
                        self._spawn(claimed)
            except AppError as error:  # UNAVAILABLE: the database is down; try again later
                log.warning("webhook worker tick skipped: %s", error.message)
            except Exception:
                # One bad tick must not end deliveries for the process's lifetime.
                log.exception("webhook worker tick failed")
            # asyncio.timeout, not wait_for: on Python 3.11, a cancel arriving just as the wake
            # does is swallowed by wait_for (it returns the wait's result), and stop() would then
            # wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._wake.wait()

    def _spawn(self, claimed: ClaimedDelivery) -> None:
        task = asyncio.create_task(self._deliver(claimed), name=f"webhook-{claimed.id}")
        self._in_flight[task] = claimed

        def finished(done: asyncio.Task[None]) -> None:
            self._in_flight.pop(done, None)
            self.wake()  # a slot is free

        task.add_done_callback(finished)

    async def _deliver(self, claimed: ClaimedDelivery) -> None:
        # One span per attempt when tracing is on: the receiver's origin, never the body.
        attributes = {
            "webhook.event": claimed.event.value,
            "webhook.attempt": claimed.attempt,
            "jobgraph.job.id": claimed.job_id,
            "server.address": origin_of(claimed.url),
        }
        with tracing.tracer().start_as_current_span(
            "webhook delivery", kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            try:
                result = await self._attempt(claimed)
                settled = await self._store.webhooks.settle(claimed=claimed, result=result)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Left held: once the hold runs out, this or another process sends it again.
                log.exception("webhook delivery %s could not be recorded", claimed.id)
                return
            if span.is_recording():
                span.set_attribute("webhook.outcome", result.outcome.value)
                if result.response_status is not None:
                    span.set_attribute("http.response.status_code", result.response_status)
        self._report(claimed, result, settled)

    async def _attempt(self, claimed: ClaimedDelivery) -> AttemptResult:
        try:
            secrets = await self._store.webhook_secrets.signing_secrets(tenant=claimed.tenant)
        except SecretUnreadable as error:
            return AttemptResult(outcome=Outcome.UNSIGNED, duration_ms=0.0, error=str(error))
        headers = sign(
            secrets=secrets,
            message_id=claimed.message_id,
            body=claimed.payload,
            at=datetime.now(UTC),
        )
        return await self._sender.send(
            claimed.url, headers=headers, body=claimed.payload.encode("utf-8")
        )

    def _report(
        self, claimed: ClaimedDelivery, result: AttemptResult, settled: Settled | None
    ) -> None:
        status = "superseded" if settled is None else settled.status.value.lower()
        if self._metrics is not None:
            self._metrics.observe_webhook(
                event=claimed.event.value, outcome=status, seconds=result.duration_ms / 1000
            )
        detail = result.error or f"HTTP {result.response_status}"
        if settled is not None and settled.next_attempt_at is not None:
            detail += f"; next attempt at {settled.next_attempt_at.isoformat(timespec='seconds')}"
        level = (
            logging.INFO
            if settled is None or settled.status is not DeliveryStatus.GAVE_UP
            else logging.WARNING
        )
        log.log(
            level,
            "webhook %s of job %s, attempt %d, to %s: %s (%s)",
            claimed.event.value,
            claimed.job_id,
            claimed.attempt,
            origin_of(claimed.url),
            status,
            detail,
            extra={"outcome": status, "duration_ms": result.duration_ms},
        )
