"""The job lifecycle store: claims, heartbeats, logs, items, completion, cancel, retry, expiry.

Each method is one transaction (see ``storage.transitions``) and publishes its change after
the commit. ``tenant`` scopes every lookup: another tenant's job is NOT_FOUND; None (admin)
sees every tenant.

What a cancel does to a RUNNING job's worker: the job becomes CANCELLED at once, with
``cancel_requested`` set and the lease left in place, so the lease holder's next heartbeat
answers ``cancelRequested: true`` (and nothing else). Every other write of that worker —
logs, items, complete, fail — is CONFLICT, like any write to a job that is not RUNNING.

Every unit of work that changes a job's status or progress also tells the webhook outbox
(``storage.webhook_outbox``), inside its transaction: a delivery commits with its change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Connection, update

from domain.errors import BadUserInput, Conflict
from domain.jobs import ItemStatus, JobStatus
from domain.lifecycle import Action, transition
from storage import transitions as tx
from storage.coltypes import utcnow
from storage.database import Database
from storage.events import EventPublisher, JobEvent
from storage.jobs import select_items
from storage.logs import append_lines
from storage.records import HeartbeatRecord, ItemRecord, JobRecord
from storage.tables import job_items
from storage.webhook_outbox import Outbox, OutboxWrites

LogLine = tuple[datetime, str, str]  # (timestamp, level, message)
_UNFINISHED = (ItemStatus.PENDING, ItemStatus.RUNNING)


class LifecycleStore:
    """State changes of jobs. ``clock`` is swappable so tests can move time instead of sleeping."""

    def __init__(
        self, db: Database, publisher: EventPublisher, outbox: Outbox | None = None
    ) -> None:
        self._db = db
        self._publisher = publisher
        self._outbox = outbox or Outbox(
            progress_interval=db.settings.webhook_progress_interval_seconds
        )
        self.clock: Callable[[], datetime] = utcnow

    async def _changed(self, job: JobRecord) -> JobRecord:
        await self._publisher.publish(JobEvent.job_changed(job))
        return job

    async def _committed(self, hooks: OutboxWrites, job: JobRecord) -> JobRecord:
        hooks.committed()
        return await self._changed(job)

    async def claim_next(
        self, *, tenant: str | None, worker_id: str, lease_seconds: int
    ) -> JobRecord | None:
        """Lease the oldest PENDING job (of ``tenant``, or any for None); None if none waits."""
        now = self.clock()
        hooks = self._outbox.writes()

        def work(conn: Connection) -> JobRecord | None:
            job = tx.claim(
                conn, tenant=tenant, worker_id=worker_id, lease_seconds=lease_seconds, now=now
            )
            if job is not None:
                hooks.status_changed(conn, job, now=now)
            return job

        job = await self._db.write(work)
        hooks.committed()
        return await self._changed(job) if job is not None else None

    async def heartbeat(
        self, *, tenant: str | None, job_id: str, worker_id: str, progress: int | None
    ) -> HeartbeatRecord:
        now = self.clock()
        hooks = self._outbox.writes()

        def work(conn: Connection) -> tuple[JobRecord, HeartbeatRecord]:
            job, answer = tx.heartbeat(
                conn,
                job_id=job_id,
                tenant=tenant,
                worker_id=worker_id,
                progress=progress,
                now=now,
                default_lease_seconds=self._db.settings.default_lease_seconds,
            )
            if progress is not None:
                hooks.progress_reported(conn, job, now=now)
            return job, answer

        job, answer = await self._db.write(work)
        hooks.committed()
        await self._changed(job)
        return answer

    async def append_logs(
        self,
        *,
        tenant: str | None,
        job_id: str,
        worker_id: str,
        lines: Sequence[LogLine],
        after_seq: int | None = None,
    ) -> int:
        """Append a batch, all or nothing; returns the last seq. Seqs are gap-free per job.

        ``after_seq``: the seq the batch must follow. A log that already ends with the batch
        (``after_seq + len(lines)``: the same worker's resend after a lost answer — only the
        lease holder appends) answers that seq and appends nothing; any other is CONFLICT.
        """
        now = self.clock()

        def work(conn: Connection) -> JobRecord | int:
            job = tx.holding_lease(conn, job_id=job_id, tenant=tenant, worker_id=worker_id, now=now)
            if after_seq is not None and job.last_seq != after_seq:
                if job.last_seq == after_seq + len(lines):
                    return job.last_seq
                raise Conflict(
                    f"the job's log ends at seq {job.last_seq}, not {after_seq}",
                    lastSeq=job.last_seq,
                )
            last_seq = append_lines(conn, job_id=job_id, lines=lines)
            assert last_seq is not None  # the row is locked: it cannot have gone
            return job._replace(last_seq=last_seq, updated_at=now)

        job = await self._db.write(work)
        if isinstance(job, int):
            return job  # already appended: nothing changed, nothing to publish
        await self._publisher.publish(JobEvent.logs_appended(job))
        return job.last_seq

    async def update_item(
        self,
        *,
        tenant: str | None,
        job_id: str,
        worker_id: str,
        position: int,
        status: ItemStatus,
        error: str | None,
    ) -> ItemRecord:
        now = self.clock()

        def work(conn: Connection) -> tuple[JobRecord, ItemRecord]:
            job = tx.holding_lease(conn, job_id=job_id, tenant=tenant, worker_id=worker_id, now=now)
            if not 0 <= position < job.item_count:
                raise BadUserInput(
                    f"position must be between 0 and {job.item_count - 1} for this job"
                )
            conn.execute(
                update(job_items)
                .where(job_items.c.job_id == job_id, job_items.c.position == position)
                .values(status=status.value, error=error)
            )
            job = tx.update_job(conn, job_id, now)
            item = select_items(conn, job_ids=[job_id])[job_id][position]
            return job, item

        job, item = await self._db.write(work)
        await self._changed(job)
        return item

    async def complete(self, *, tenant: str | None, job_id: str, worker_id: str) -> JobRecord:
        """COMPLETED with progress 100; items the worker left unreported count as completed."""
        now = self.clock()
        hooks = self._outbox.writes()

        def work(conn: Connection) -> JobRecord:
            job = tx.holding_lease(conn, job_id=job_id, tenant=tenant, worker_id=worker_id, now=now)
            tx.set_items(conn, job_id, where=_UNFINISHED, status=ItemStatus.COMPLETED)
            job = tx.update_job(
                conn,
                job_id,
                now,
                status=transition(job.status, Action.COMPLETE).value,
                progress=100,
                finished_at=now,
                lease_expires_at=None,
                lease_seconds=None,
            )
            hooks.status_changed(conn, job, now=now)
            return job

        return await self._committed(hooks, await self._db.write(work))

    async def fail(
        self, *, tenant: str | None, job_id: str, worker_id: str, error: str
    ) -> JobRecord:
        """FAILED with ``error``; an item still RUNNING fails with it, PENDING ones stay PENDING."""
        now = self.clock()
        hooks = self._outbox.writes()

        def work(conn: Connection) -> JobRecord:
            job = tx.holding_lease(conn, job_id=job_id, tenant=tenant, worker_id=worker_id, now=now)
            tx.set_items(
                conn, job_id, where=(ItemStatus.RUNNING,), status=ItemStatus.FAILED, error=error
            )
            job = tx.update_job(
                conn,
                job_id,
                now,
                status=transition(job.status, Action.FAIL).value,
                error=error,
                finished_at=now,
                lease_expires_at=None,
                lease_seconds=None,
            )
            hooks.status_changed(conn, job, now=now)
            return job

        return await self._committed(hooks, await self._db.write(work))

    async def cancel(self, *, tenant: str | None, job_id: str) -> JobRecord:
        """PENDING or RUNNING -> CANCELLED; unfinished items become SKIPPED."""
        now = self.clock()
        hooks = self._outbox.writes()

        def work(conn: Connection) -> JobRecord:
            job, _ = tx.lock_job(conn, job_id=job_id, tenant=tenant)
            status = transition(job.status, Action.CANCEL)
            tx.set_items(conn, job_id, where=_UNFINISHED, status=ItemStatus.SKIPPED)
            job = tx.update_job(
                conn,
                job_id,
                now,
                status=status.value,
                finished_at=now,
                # The lease stays, so its holder's next heartbeat is answered, not refused.
                cancel_requested=job.status is JobStatus.RUNNING,
            )
            hooks.status_changed(conn, job, now=now)
            return job

        return await self._committed(hooks, await self._db.write(work))

    async def retry(self, *, tenant: str | None, job_id: str) -> JobRecord:
        """FAILED -> PENDING, same id, attempt + 1; only FAILED items go back to PENDING."""
        now = self.clock()
        hooks = self._outbox.writes()

        def work(conn: Connection) -> JobRecord:
            job, _ = tx.lock_job(conn, job_id=job_id, tenant=tenant)
            status = transition(job.status, Action.RETRY)
            tx.set_items(conn, job_id, where=(ItemStatus.FAILED,), status=ItemStatus.PENDING)
            job = tx.update_job(
                conn,
                job_id,
                now,
                status=status.value,
                attempt=job.attempt + 1,
                progress=0,
                error=None,
                started_at=None,
                finished_at=None,
                worker_id=None,
                lease_expires_at=None,
                lease_seconds=None,
                cancel_requested=False,
            )
            hooks.status_changed(conn, job, now=now)
            return job

        return await self._committed(hooks, await self._db.write(work))

    async def expire_leases(self, *, limit: int = 500) -> list[JobRecord]:
        """Requeue or fail every RUNNING job whose lease has ended; returns the changed jobs."""
        now = self.clock()
        max_attempts = self._db.settings.max_attempts
        if not await self._db.read(lambda conn: tx.any_expired(conn, now=now)):
            return []
        hooks = self._outbox.writes()

        def work(conn: Connection) -> list[JobRecord]:
            changed = tx.expire_leases(conn, now=now, max_attempts=max_attempts, limit=limit)
            for job in changed:
                hooks.status_changed(conn, job, now=now)
            return changed

        changed = await self._db.write(work)
        hooks.committed()
        for job in changed:
            await self._changed(job)
        return changed
