"""The change events the store publishes after each committed write.

An event carries ids and counters only; a subscriber reads the rest from the store. That keeps
events small enough for PostgreSQL NOTIFY and makes a missed event harmless: the next read
catches up.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from storage.records import JobRecord


class EventKind(enum.StrEnum):
    JOB = "job"  # status, progress, items, lease or error changed (or the job was created)
    LOGS = "logs"  # lines were appended; last_seq is the new last line


@dataclass(frozen=True, slots=True)
class JobEvent:
    kind: EventKind
    job_id: str
    tenant: str
    status: str
    last_seq: int

    @classmethod
    def job_changed(cls, job: JobRecord) -> JobEvent:
        return cls(EventKind.JOB, job.id, job.tenant, job.status.value, job.last_seq)

    @classmethod
    def logs_appended(cls, job: JobRecord) -> JobEvent:
        return cls(EventKind.LOGS, job.id, job.tenant, job.status.value, job.last_seq)


class EventPublisher(Protocol):
    """What the store needs of a broker. Called only after the write has committed."""

    async def publish(self, event: JobEvent) -> None: ...


class NullPublisher:
    """For tools (the CLI) that write without anyone listening."""

    async def publish(self, event: JobEvent) -> None:
        return None
