"""The worker loop: claim a job, run ``process(item, log)`` on its pending items, report back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx

from jobgraph_worker.backoff import Backoff
from jobgraph_worker.client import GraphQLClient
from jobgraph_worker.items import Processor
from jobgraph_worker.job_run import JOB_FIELDS, JobRun
from jobgraph_worker.joblog import MAX_MESSAGE_BYTES

log = logging.getLogger("jobgraph_worker")

CLAIM = f"""mutation($w: String!, $l: Int) {{ claimJob(workerId: $w, leaseSeconds: $l) {{
  {JOB_FIELDS} }} }}"""
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# After a stop's grace time, how long the last reports (the item, the log) may take: a
# stopping worker must exit in bounded time even when jobgraph does not answer.
FINAL_REPORTS_SECONDS = 5.0


class Worker:
    """Claims jobs one at a time and runs ``process`` on each of their pending items.

    ::

        async def process(item: WorkItem, log: JobLog) -> None:
            log.info(f"extracting {item.url}")

        asyncio.run(Worker("http://127.0.0.1:8000/graphql", "jg_...", process).run())

    ``lease_seconds`` is the lease ``claimJob`` asks for; the worker heartbeats every
    ``heartbeat_seconds`` (a third of the lease by default). Calls that fail for want of a
    server (connection errors, 502/503/504, ``UNAVAILABLE``) are retried with ``backoff``:
    a job's writes until its lease would end, claims until the worker is stopped.

    ``run()`` stops cleanly on SIGTERM or SIGINT (or :meth:`stop`): it claims nothing more,
    lets the current item finish (at most ``stop_grace_seconds``; a second signal stops it at
    once), reports it and sends the job's log. A job with items left stays RUNNING until its
    lease ends; then the server puts it back to PENDING for another worker, which runs only
    the items not finished (an item stopped half-way runs again).
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        process: Processor,
        *,
        worker_id: str | None = None,
        lease_seconds: int = 60,
        heartbeat_seconds: float | None = None,
        log_batch: int = 500,
        log_flush_seconds: float = 0.5,
        http: httpx.AsyncClient | None = None,
        backoff: Backoff | None = None,
        stop_grace_seconds: float = 30.0,
        handle_signals: bool = True,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        if not api_key:
            raise ValueError("an API key with the work scope is needed")
        if lease_seconds < 1:
            raise ValueError("lease_seconds must be at least 1")
        # A third of the lease: two heartbeats may be lost before the lease runs out.
        heartbeat_seconds = heartbeat_seconds or lease_seconds / 3
        if not 0 < heartbeat_seconds < lease_seconds:
            raise ValueError("heartbeat_seconds must be between 0 and lease_seconds")
        if not 1 <= log_batch <= 1000:
            raise ValueError("log_batch must be 1 to 1000 (jobgraph's default maximum)")
        self.url, self.process = url, process
        self._api_key = api_key
        self.worker_id = worker_id or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.lease_seconds, self.heartbeat_seconds = lease_seconds, heartbeat_seconds
        self.log_batch, self.log_flush_seconds = log_batch, log_flush_seconds
        self.backoff = backoff or Backoff()
        self.stop_grace_seconds, self.handle_signals = stop_grace_seconds, handle_signals
        self.max_message_bytes = max_message_bytes
        self._http = http
        self._stopping = False
        self._stop_requested: asyncio.Event | None = None
        self._current: JobRun | None = None
        self._grace: asyncio.TimerHandle | None = None
        self._stop_deadline: float | None = None

    def __repr__(self) -> str:  # no key in it
        return f"Worker({self.url!r}, worker_id={self.worker_id!r})"

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def stop_deadline(self) -> float | None:
        """When a stopping worker gives up on reporting (``time.monotonic``), or None."""
        return self._stop_deadline

    def stop(self, *, now: bool = False) -> None:
        """Claim nothing more; finish the current item (at most ``stop_grace_seconds``), or
        with ``now`` (or when called again) stop it at once. Call it from the event loop."""
        again = self._stopping
        self._stopping = True
        self._stop_event().set()
        patience = 0.0 if now or again else self.stop_grace_seconds
        deadline = time.monotonic() + patience + FINAL_REPORTS_SECONDS
        self._stop_deadline = min(deadline, self._stop_deadline or deadline)
        current = self._current
        if current is None:
            return
        if now or again:
            current.abort()
        elif self._grace is None:
            loop = asyncio.get_running_loop()
            self._grace = loop.call_later(self.stop_grace_seconds, self._grace_over)

    def _stop_event(self) -> asyncio.Event:
        if self._stop_requested is None:
            self._stop_requested = asyncio.Event()
        return self._stop_requested

    def _grace_over(self) -> None:
        if self._current is not None and self._current.current is not None:
            log.warning(
                "the current item did not finish within %g s: stopping it",
                self.stop_grace_seconds,
            )
            self._current.abort()

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self._stopping:
            log.warning("%s again: stopping now", name)
            self.stop(now=True)
            return
        log.warning(
            "%s: claiming nothing more; finishing the current item (%s again stops at once)",
            name,
            name,
        )
        self.stop()

    async def run(self, *, until_idle: bool = False, poll_seconds: float = 2.0) -> int:
        """Work until stopped (or, with ``until_idle``, until nothing is pending); returns how
        many jobs this worker claimed."""
        claimed = 0
        # An event of this loop (a worker may be run again under another asyncio.run).
        self._stop_requested = None
        if self._stopping:
            self._stop_event().set()
        with _default_logging(), self._signals():
            async with self._client() as client:
                log.info("worker %s takes jobs from %s", self.worker_id, self.url)
                idle_said = False
                while not self._stopping:
                    outcome = await self.run_one(client)
                    if outcome is not None:
                        claimed, idle_said = claimed + 1, False
                        continue
                    if until_idle:
                        log.info("no job is pending: done (%d claimed)", claimed)
                        break
                    if not idle_said:
                        log.info("no job is pending; asking every %.1f s", poll_seconds)
                        idle_said = True
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop_event().wait(), poll_seconds)
        if self._grace is not None:
            self._grace.cancel()
        if self._stopping:
            noun = "job" if claimed == 1 else "jobs"
            log.info("worker %s stopped (%d %s claimed)", self.worker_id, claimed, noun)
        return claimed

    async def run_one(self, client: GraphQLClient) -> str | None:
        """Claim and work one job; returns how it ended — COMPLETED, FAILED, CANCELLED, LOST
        (the lease ran out) or STOPPED (the worker was stopped) — or None when nothing was
        pending (or the worker was stopped while waiting for the server)."""
        claim = asyncio.create_task(
            client.execute_timed(CLAIM, {"w": self.worker_id, "l": self.lease_seconds})
        )
        stop = asyncio.create_task(self._stop_event().wait())
        try:
            await asyncio.wait({claim, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not claim.done():
                claim.cancel()
        if claim.cancelled():
            return None
        data, sent = claim.result()
        job = data["claimJob"]
        if job is None:
            return None
        self._current = JobRun(self, client, job, lease_from=sent)
        try:
            return await self._current.run()
        finally:
            self._current = None

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[GraphQLClient]:
        if self._http is not None:
            yield GraphQLClient(self._http, self.url, self._api_key, backoff=self.backoff)
            return
        timeout = httpx.Timeout(30.0, connect=5.0)
        async with httpx.AsyncClient(timeout=timeout) as http:
            yield GraphQLClient(http, self.url, self._api_key, backoff=self.backoff)

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGTERM and SIGINT stop the worker cleanly while ``run()`` runs (main thread only,
        where the event loop can take signals; the previous handling comes back after)."""
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            yield
            return
        loop = asyncio.get_running_loop()
        installed = []
        for signum in _STOP_SIGNALS:
            try:
                previous = signal.getsignal(signum)
                loop.add_signal_handler(signum, self._on_signal, signum)
            except (NotImplementedError, RuntimeError, ValueError):  # no signals in this loop
                continue
            installed.append((signum, previous))
        try:
            yield
        finally:
            for signum, previous in installed:
                loop.remove_signal_handler(signum)
                with contextlib.suppress(TypeError, ValueError):
                    signal.signal(signum, previous)


@contextlib.contextmanager
def _default_logging() -> Iterator[None]:
    """A program that configured no logging still sees what its worker does: INFO and above
    on stderr, for as long as ``run()`` runs. Any configured handler turns this off."""
    if log.hasHandlers():
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = log.level
    log.addHandler(handler)
    if level == logging.NOTSET:
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
