"""One claimed job: its processing task, its heartbeat task and its log flusher.

The heartbeat runs from the claim until the run ends (through the final log flush and
``completeJob``), so a server that is restarting while an item is processed, reported or
completed finds the lease renewed as soon as it answers again. Every write of the run is
retried until the lease, as this worker last knew it, would have ended; after that the job
is *lost* (the server requeues it) and the worker moves on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from jobgraph_worker.client import GraphQLClient, Settled
from jobgraph_worker.errors import ServerUnreachable, SkipItem, WorkerError
from jobgraph_worker.items import WorkItem, call_processor
from jobgraph_worker.joblog import JobLog, fit

if TYPE_CHECKING:
    from jobgraph_worker.worker import Worker

log = logging.getLogger("jobgraph_worker")

JOB_FIELDS = "id attempt logLineCount items { position platform code url status }"
HEARTBEAT = """mutation($j: ID!, $w: String!, $p: Int) {
  heartbeat(jobId: $j, workerId: $w, progress: $p) { cancelRequested leaseExpiresAt } }"""
UPDATE_ITEM = """mutation($j: ID!, $w: String!, $p: Int!, $s: ItemStatus!, $e: String) {
  updateItem(jobId: $j, workerId: $w, position: $p, status: $s, error: $e) { status } }"""
COMPLETE = "mutation($j: ID!, $w: String!) { completeJob(jobId: $j, workerId: $w) { status } }"
FAIL = """mutation($j: ID!, $w: String!, $e: String!) {
  failJob(jobId: $j, workerId: $w, error: $e) { status } }"""

# How a run ends (Worker.run_one's answer).
COMPLETED, FAILED, CANCELLED, LOST, STOPPED = "COMPLETED", "FAILED", "CANCELLED", "LOST", "STOPPED"
_UNFINISHED = ("PENDING", "RUNNING")


def _already(field: str, status: str) -> Settled:
    """A refusal that means an earlier try of ``field`` went through: the job already is
    ``status`` (only the lease holder can have put it there)."""

    def settled(error: WorkerError) -> dict[str, Any] | None:
        if error.code == "CONFLICT" and error.extensions.get("status") == status:
            return {field: {"status": status}}
        return None

    return settled


class JobRun:
    def __init__(
        self, worker: Worker, client: GraphQLClient, job: dict[str, Any], *, lease_from: float
    ) -> None:
        self.worker, self.client, self.job_id = worker, client, str(job["id"])
        self.attempt = int(job.get("attempt") or 1)
        self.ids = {"j": self.job_id, "w": worker.worker_id}
        self.items: list[dict[str, Any]] = job["items"]
        self.finished = sum(item["status"] not in _UNFINISHED for item in self.items)
        self.failed = 0
        # Our lease lasts at least lease_seconds from the start of the try that got it.
        self.lease_until = lease_from + worker.lease_seconds
        self.stopped: str | None = None  # CANCELLED or LOST, learnt from the server
        self.fatal: WorkerError | None = None  # the key was refused: the worker must stop
        self.current: WorkItem | None = None
        self.left_items = False  # the worker was asked to stop with items still to do
        self.log = JobLog(
            client,
            self.job_id,
            worker.worker_id,
            last_seq=int(job.get("logLineCount") or 0),
            batch=worker.log_batch,
            deadline=self.deadline,
            max_message_bytes=worker.max_message_bytes,
        )
        self.processing: asyncio.Task[None] | None = None

    def deadline(self) -> float:
        """Until when a write is worth trying: the end of the lease, or sooner for a worker
        that is stopping."""
        limit = self.worker.stop_deadline
        return self.lease_until if limit is None else min(self.lease_until, limit)

    @property
    def progress(self) -> int:
        return self.finished * 100 // max(len(self.items), 1)

    def abort(self) -> None:
        """Stop the item being processed now (the worker's stop ran out of patience)."""
        if self.processing is not None and not self.processing.done():
            self.processing.cancel()

    async def run(self) -> str:
        started = time.monotonic()
        pending = sum(item["status"] in _UNFINISHED for item in self.items)
        count = len(self.items)
        log.info(
            "claimed job %s (attempt %d, %d %s, %d to do)",
            self.job_id,
            self.attempt,
            count,
            "item" if count == 1 else "items",
            pending,
        )
        self.processing = asyncio.create_task(self._process_all())
        heart = asyncio.create_task(self._heartbeats())
        flusher = asyncio.create_task(self._flush_logs())
        try:
            # wait(), not await: a cancel from the heartbeat task must not cancel us too.
            await asyncio.wait({self.processing})
            flusher.cancel()  # the final flush below sends what is left
            outcome = await self._finish()
        finally:
            for task in (self.processing, heart, flusher):
                task.cancel()
            await asyncio.gather(self.processing, heart, flusher, return_exceptions=True)
        if self.fatal is not None:
            raise self.fatal
        log.info("job %s %s after %.1f s", self.job_id, outcome, time.monotonic() - started)
        return outcome

    async def _finish(self) -> str:
        assert self.processing is not None
        if self.fatal is not None:
            raise self.fatal
        if self.stopped is not None:
            return self._gone()
        if self.processing.cancelled():  # the worker's stop ran out of patience
            where = f"item {self.current.position}" if self.current else "a report"
            return await self._leave(f"it stopped during {where}")
        failure = self.processing.exception()
        try:
            if failure is not None:
                raise failure
            if self.left_items:
                return await self._leave("it was asked to stop")
            await self.log.flush()
            if self.failed:
                error = f"{self.failed} of {len(self.items)} failed"
                await self.client.execute(
                    FAIL,
                    {**self.ids, "e": error},
                    deadline=self.deadline,
                    settled=_already("failJob", FAILED),
                )
                return FAILED
            await self.client.execute(
                COMPLETE,
                self.ids,
                deadline=self.deadline,
                settled=_already("completeJob", COMPLETED),
            )
            return COMPLETED
        except WorkerError as error:
            return await self._refused(error)

    async def _refused(self, error: WorkerError) -> str:
        """A write was refused or could not be made in time: why, and what the job became."""
        if error.fatal:
            raise error
        if isinstance(error, ServerUnreachable):
            log.warning("job %s: %s", self.job_id, error.message)
            if self.worker.stopping and self.stopped is None:
                dropped = self.log.drop_unsent()
                log.warning(
                    "job %s: stopping without its last reports (%d log lines unsent); it goes "
                    "back to PENDING when its lease ends",
                    self.job_id,
                    dropped,
                )
                return STOPPED
            self.stopped = self.stopped or LOST
        elif error.code in ("CONFLICT", "NOT_FOUND"):
            # A refused write: one heartbeat tells a cancel (still answered) from a lost lease.
            if self.stopped is None and not await self._beat():
                self.stopped = LOST
        else:
            raise error
        return self._gone()

    def _gone(self) -> str:
        outcome = self.stopped or LOST
        dropped = self.log.drop_unsent()
        if outcome == LOST:
            log.warning(
                "job %s: lost its lease (the server requeues or fails it); %d unsent log lines "
                "dropped",
                self.job_id,
                dropped,
            )
        elif dropped:
            log.info("job %s cancelled: %d unsent log lines dropped", self.job_id, dropped)
        return outcome

    async def _leave(self, why: str) -> str:
        """Stop working on the job without ending it: it stays RUNNING until the lease runs
        out, then the server puts it (and an item left RUNNING) back to PENDING."""
        self.log.warning(
            f"worker {self.worker.worker_id} stopped before finishing the job ({why}); "
            "the job goes back to the queue when its lease ends"
        )
        try:
            await self.log.flush()
        except WorkerError as error:
            return await self._refused(error)
        log.warning(
            "job %s left unfinished (%s): it goes back to PENDING when its lease ends",
            self.job_id,
            why,
        )
        return STOPPED

    async def _process_all(self) -> None:
        for raw in self.items:
            if raw["status"] not in _UNFINISHED:
                continue  # finished in an earlier run: a retry reruns failed items only
            if self.worker.stopping:
                self.left_items = True
                return
            item = WorkItem(
                raw["position"], raw["platform"], raw["code"], raw["url"], self.job_id, self.attempt
            )
            self.current = item
            await self._set_item(item, "RUNNING", None)
            status, error = "COMPLETED", None
            try:
                await call_processor(self.worker.process, item, self.log)
            except SkipItem as skip:
                status, error = "SKIPPED", fit(str(skip), self.worker.max_message_bytes) or None
            except Exception as failure:  # the processor's failure is the item's, not ours
                status = "FAILED"
                error = fit(f"{type(failure).__name__}: {failure}", self.worker.max_message_bytes)
                self.log.error(f"item {item.position} failed: {error}")
                log.warning(
                    "job %s item %d failed: %s",
                    self.job_id,
                    item.position,
                    error,
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
                self.failed += 1
            self.current = None
            await self.log.flush()  # an item's lines are stored before its status says done
            await self._set_item(item, status, error)
            self.finished += 1
            if await self._beat():
                return

    async def _set_item(self, item: WorkItem, status: str, error: str | None) -> None:
        log.debug("job %s item %d %s", self.job_id, item.position, status)
        variables = {**self.ids, "p": item.position, "s": status, "e": error}
        await self.client.execute(UPDATE_ITEM, variables, deadline=self.deadline)

    async def _beat(self) -> bool:
        """One heartbeat; True when the job must stop (cancel requested, or lease lost)."""
        variables = {**self.ids, "p": self.progress}
        try:
            data, sent = await self.client.execute_timed(
                HEARTBEAT, variables, deadline=self.deadline
            )
        except WorkerError as error:
            if error.fatal:
                raise
            if isinstance(error, ServerUnreachable) and self.worker.stopping:
                return True  # the stop's deadline came: stop without the server's word
            if isinstance(error, ServerUnreachable) or error.code in ("CONFLICT", "NOT_FOUND"):
                self.stopped = self.stopped or LOST
                return True
            raise
        self.lease_until = max(self.lease_until, sent + self.worker.lease_seconds)
        if data["heartbeat"]["cancelRequested"]:
            self.stopped = CANCELLED
            return True
        return False

    async def _heartbeats(self) -> None:
        assert self.processing is not None
        while True:
            await asyncio.sleep(self.worker.heartbeat_seconds)
            try:
                stop = await self._beat()
            except WorkerError as error:
                self.fatal = error
                stop = True
            if stop:
                if self.stopped == CANCELLED:
                    log.info("job %s was cancelled: stopping its processing", self.job_id)
                self.processing.cancel()
                return

    async def _flush_logs(self) -> None:
        assert self.processing is not None
        while True:
            await asyncio.sleep(self.worker.log_flush_seconds)
            try:
                await self.log.flush()
            except WorkerError as error:
                if error.fatal:
                    self.fatal = error
                    self.processing.cancel()
                    return
                # Whether the job goes on is the heartbeat's call; the lines stay queued.
                log.debug("job %s: sending log lines failed: %s", self.job_id, error)
