"""jobgraph's reference worker: claim a job, run ``process(item, log)`` per video, report back.

Write a processor and run it::

    import asyncio
    from worker import JobLog, SkipItem, WorkItem, Worker

    async def process(item: WorkItem, log: JobLog) -> None:
        log(f"downloading {item.url}")
        ...                                  # raise SkipItem("reason") to skip, any error fails it

    asyncio.run(Worker("http://127.0.0.1:8000/graphql", "jg_...", process).run())

While a job runs, a background task heartbeats (renewing the lease, reporting progress) and
stops the job's processing when the answer says ``cancelRequested`` or the lease is lost; log
lines are buffered and sent in batches. A job whose items all completed (or were skipped) is
completed; one with a failed item is failed, so ``retryJob`` reruns just the failed items.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

log = logging.getLogger("jobgraph.worker")

_JOB_FIELDS = "id attempt items { position platform code url status }"
CLAIM = f"""mutation($w: String!, $l: Int) {{ claimJob(workerId: $w, leaseSeconds: $l) {{
  {_JOB_FIELDS} }} }}"""
HEARTBEAT = """mutation($j: ID!, $w: String!, $p: Int) {
  heartbeat(jobId: $j, workerId: $w, progress: $p) { cancelRequested leaseExpiresAt } }"""
APPEND = """mutation($j: ID!, $w: String!, $lines: [LogLineInput!]!) {
  appendLogs(jobId: $j, workerId: $w, lines: $lines) }"""
UPDATE_ITEM = """mutation($j: ID!, $w: String!, $p: Int!, $s: ItemStatus!, $e: String) {
  updateItem(jobId: $j, workerId: $w, position: $p, status: $s, error: $e) { status } }"""
COMPLETE = "mutation($j: ID!, $w: String!) { completeJob(jobId: $j, workerId: $w) { status } }"
FAIL = """mutation($j: ID!, $w: String!, $e: String!) {
  failJob(jobId: $j, workerId: $w, error: $e) { status } }"""


class WorkerError(Exception):
    """A GraphQL error from jobgraph, with its ``extensions.code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class SkipItem(Exception):
    """Raise from ``process`` to mark the item SKIPPED (with the message as its reason)."""


@dataclass(frozen=True, slots=True)
class WorkItem:
    position: int
    platform: str
    code: str
    url: str


class GraphQLClient:
    """A minimal GraphQL-over-HTTP client that raises :class:`WorkerError` on errors."""

    def __init__(self, http: httpx.AsyncClient, url: str, api_key: str) -> None:
        self._http, self._url, self._headers = http, url, {"X-API-Key": api_key}

    async def execute(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await self._http.post(
            self._url, json={"query": query, "variables": variables}, headers=self._headers
        )
        body = response.json()
        if body.get("errors"):
            error = body["errors"][0]
            raise WorkerError(error.get("extensions", {}).get("code", "ERROR"), error["message"])
        data: dict[str, Any] = body["data"]
        return data


class LogLevels:
    """``log.info(...)``, ``log.warning(...)``… for any ``log(message, level)`` callable."""

    def __call__(self, message: str, level: str = "INFO") -> None:
        raise NotImplementedError

    def debug(self, message: str) -> None:
        self(message, "DEBUG")

    def info(self, message: str) -> None:
        self(message, "INFO")

    def warning(self, message: str) -> None:
        self(message, "WARNING")

    def error(self, message: str) -> None:
        self(message, "ERROR")


class JobLog(LogLevels):
    """The ``log`` a processor gets: ``log("msg")``, ``log.warning("msg")``; sent in batches."""

    def __init__(self, client: GraphQLClient, job_id: str, worker_id: str, batch: int) -> None:
        self._client, self._job_id, self._worker_id, self._batch = client, job_id, worker_id, batch
        self._pending: list[dict[str, str]] = []
        self._lock = asyncio.Lock()

    def __call__(self, message: str, level: str = "INFO") -> None:
        stamp = datetime.now(UTC).isoformat()
        self._pending.append({"message": message, "level": level, "timestamp": stamp})

    async def flush(self) -> None:
        # One flush at a time keeps batches, and so seqs, in the order the lines were logged.
        async with self._lock:
            while self._pending:
                lines, self._pending = self._pending[: self._batch], self._pending[self._batch :]
                variables = {"j": self._job_id, "w": self._worker_id, "lines": lines}
                await self._client.execute(APPEND, variables)


Processor = Callable[[WorkItem, JobLog], Awaitable[None]]


class Worker:
    """Claims jobs one at a time and runs ``process`` on each of their pending items."""

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
    ) -> None:
        self.url, self.api_key, self.process = url, api_key, process
        self.worker_id = worker_id or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.lease_seconds = lease_seconds
        # A third of the lease: two heartbeats may be lost before the lease runs out.
        self.heartbeat_seconds = heartbeat_seconds or lease_seconds / 3
        self.log_batch, self.log_flush_seconds = log_batch, log_flush_seconds
        self._http = http

    async def run(self, *, until_idle: bool = False, poll_seconds: float = 2.0) -> int:
        """Work until cancelled (or, with ``until_idle``, until nothing is pending)."""
        done = 0
        async with self._client() as client:
            while True:
                if await self.run_one(client) is not None:
                    done += 1
                elif until_idle:
                    return done
                else:
                    await asyncio.sleep(poll_seconds)

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[GraphQLClient]:
        if self._http is not None:
            yield GraphQLClient(self._http, self.url, self.api_key)
            return
        async with httpx.AsyncClient(timeout=30) as http:
            yield GraphQLClient(http, self.url, self.api_key)

    async def run_one(self, client: GraphQLClient) -> str | None:
        """Claim and work one job; returns how it ended (COMPLETED, FAILED, CANCELLED, LOST),
        or None when nothing was pending."""
        variables = {"w": self.worker_id, "l": self.lease_seconds}
        job = (await client.execute(CLAIM, variables))["claimJob"]
        if job is None:
            return None
        return await _JobRun(self, client, job).run()


class _JobRun:
    """One claimed job: the processing task, its heartbeat task and its log flusher."""

    def __init__(self, worker: Worker, client: GraphQLClient, job: dict[str, Any]) -> None:
        self.worker, self.client, self.job_id = worker, client, job["id"]
        self.ids = {"j": self.job_id, "w": worker.worker_id}
        self.items = job["items"]
        self.finished = sum(item["status"] not in ("PENDING", "RUNNING") for item in self.items)
        self.failed = 0
        self.stopped: str | None = None  # CANCELLED or LOST, set by the heartbeat task
        self.log = JobLog(client, self.job_id, worker.worker_id, worker.log_batch)

    @property
    def progress(self) -> int:
        return self.finished * 100 // max(len(self.items), 1)

    async def run(self) -> str:
        processing = asyncio.create_task(self._process_all())
        helpers = [
            asyncio.create_task(self._heartbeats(processing)),
            asyncio.create_task(self._flush_logs()),
        ]
        try:
            # wait(), not await: a cancel from the heartbeat task must not cancel us too.
            await asyncio.wait({processing})
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
        failure = None if processing.cancelled() else processing.exception()
        refused = isinstance(failure, WorkerError) and failure.code == "CONFLICT"
        # A report was refused: a heartbeat tells a cancel (answered) from a lost lease.
        if refused and not self.stopped and not await self._beat():
            self.stopped = "LOST"
        if self.stopped is not None or processing.cancelled():
            log.info("job %s stopped: %s", self.job_id, self.stopped)
            return self.stopped or "CANCELLED"
        processing.result()  # re-raises a reporting error (network, CONFLICT)
        await self.log.flush()
        if self.failed:
            total = len(self.items)
            await self.client.execute(FAIL, {**self.ids, "e": f"{self.failed} of {total} failed"})
            return "FAILED"
        await self.client.execute(COMPLETE, self.ids)
        return "COMPLETED"

    async def _process_all(self) -> None:
        for raw in self.items:
            if raw["status"] not in ("PENDING", "RUNNING"):
                continue  # finished in an earlier run: a retry reruns failed items only
            item = WorkItem(raw["position"], raw["platform"], raw["code"], raw["url"])
            await self._set_item(item, "RUNNING", None)
            status, error = "COMPLETED", None
            try:
                await self.worker.process(item, self.log)
            except SkipItem as skip:
                status, error = "SKIPPED", str(skip) or None
            except Exception as failure:  # the processor's failure is the item's, not ours
                status, error = "FAILED", f"{type(failure).__name__}: {failure}"
                self.log.error(f"item {item.position} failed: {error}")
                self.failed += 1
            await self._set_item(item, status, error)
            self.finished += 1
            if await self._beat():
                return

    async def _set_item(self, item: WorkItem, status: str, error: str | None) -> None:
        variables = {**self.ids, "p": item.position, "s": status, "e": error}
        await self.client.execute(UPDATE_ITEM, variables)

    async def _beat(self) -> bool:
        """One heartbeat; True when the job must stop (cancel requested, or lease lost)."""
        try:
            answer = await self.client.execute(HEARTBEAT, {**self.ids, "p": self.progress})
        except WorkerError as error:
            if error.code in ("CONFLICT", "NOT_FOUND"):
                self.stopped = "LOST"
                return True
            raise
        if answer["heartbeat"]["cancelRequested"]:
            self.stopped = "CANCELLED"
            return True
        return False

    async def _heartbeats(self, processing: asyncio.Task[None]) -> None:
        while True:
            await asyncio.sleep(self.worker.heartbeat_seconds)
            try:
                stop = await self._beat()
            except (httpx.HTTPError, WorkerError) as error:
                log.warning("heartbeat for job %s failed: %s", self.job_id, error)
                continue
            if stop:
                processing.cancel()
                return

    async def _flush_logs(self) -> None:
        while True:
            await asyncio.sleep(self.worker.log_flush_seconds)
            try:
                await self.log.flush()
            except (httpx.HTTPError, WorkerError) as error:
                log.warning("sending logs of job %s failed: %s", self.job_id, error)
