"""Plain, immutable records the store hands out; the GraphQL and REST layers build on these.

Jobs and items are NamedTuples: a page of jobs builds hundreds of them, and a frozen dataclass
costs several times as much to build (``object.__setattr__`` per field).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from domain.jobs import ItemStatus, JobStatus
from domain.videos import Platform, canonical_url


class JobRecord(NamedTuple):
    id: str
    tenant: str
    status: JobStatus
    progress: int
    attempt: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    worker_id: str | None
    lease_expires_at: datetime | None
    cancel_requested: bool
    last_seq: int
    item_count: int


class ItemRecord(NamedTuple):
    job_id: str
    position: int
    platform: Platform
    code: str
    status: ItemStatus
    error: str | None

    @property
    def url(self) -> str:
        return canonical_url(self.platform, self.code)


@dataclass(frozen=True, slots=True)
class LogLineRecord:
    seq: int
    timestamp: datetime
    level: str
    message: str
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class ItemCountsRecord:
    total: int = 0
    pending: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    name: str
    prefix: str
    tenant: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class HeartbeatRecord:
    """What a heartbeat answers: whether to stop, and until when the lease now runs."""

    cancel_requested: bool
    lease_expires_at: datetime


class Allowance(NamedTuple):
    """How much log text a read may return: lines, and UTF-8 bytes with one newline per line."""

    lines: int
    bytes: int

    def share(self, parts: int) -> Allowance:
        """An equal part of this allowance for each of ``parts`` readers."""
        parts = max(parts, 1)
        return Allowance(self.lines // parts, self.bytes // parts)


class TailText(NamedTuple):
    """A job's log tail as ``logTail`` shows it, and what it cost."""

    text: str  # the lines, oldest first, joined with "\n"
    lines: int
    bytes: int  # UTF-8 bytes of the lines, one newline each
    truncated: bool  # fewer lines than asked (min(limit, last_seq)): the allowance ran out


@dataclass(frozen=True, slots=True)
class TailRequest:
    """A tail to read: the last ``limit`` lines, within ``allowance``."""

    limit: int
    allowance: Allowance


@dataclass(frozen=True, slots=True)
class JobSnapshot:
    """A job with its items and log tail, read in one snapshot; None where not asked for."""

    job: JobRecord
    items: list[ItemRecord] | None
    tail: TailText | None


@dataclass(frozen=True, slots=True)
class JobPage:
    """A page of jobs and, when asked for, what the page shows of each: all read in one
    snapshot, so a job's status, items and log tail agree with each other and with the count."""

    jobs: list[JobRecord]
    has_next_page: bool
    total_count: int | None  # None: not asked for
    items: dict[str, list[ItemRecord]] | None = None  # by job id
    tails: dict[str, TailText] | None = None  # by job id
