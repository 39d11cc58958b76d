"""Resolvers of the lifecycle mutations: check the scope and the arguments, call one store method.

Worker mutations need the ``work`` scope, cancel and retry need ``submit``; every job lookup is
scoped to the key's tenant (all tenants for ``admin``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from strawberry import UNSET

from domain.errors import BadUserInput
from domain.jobs import ItemStatus
from domain.principal import Scope
from resolvers.arguments import parse_job_id
from resolvers.context import Context
from resolvers.results import JobRead
from storage.coltypes import utcnow
from storage.lifecycle import LogLine
from storage.records import HeartbeatRecord, ItemRecord, JobRecord

T = TypeVar("T")


class LogLineFields(Protocol):
    """One line a worker sends (GraphQL's ``LogLineInput``)."""

    @property
    def message(self) -> str: ...

    @property
    def level(self) -> str | None: ...

    @property
    def timestamp(self) -> datetime | None: ...


_MAX_WORKER_ID = 200
_LEVEL = re.compile(r"[A-Za-z]{1,16}")


def _text(value: str, *, name: str, max_bytes: int, required: bool = True) -> str:
    if required and not value.strip():
        raise BadUserInput(f"{name} must not be empty")
    if "\x00" in value:
        raise BadUserInput(f"{name} must not contain NUL characters")
    if len(value.encode("utf-8", "surrogatepass")) > max_bytes:
        raise BadUserInput(f"{name} must be at most {max_bytes} bytes")
    return value


def given(value: T | None) -> T | None:
    """An argument the client left out (UNSET) counts as null."""
    return None if value is UNSET else value


def _worker_id(value: str) -> str:
    return _text(value, name="workerId", max_bytes=_MAX_WORKER_ID)


def _job(context: Context, record: JobRecord) -> JobRead:
    return JobRead(record, tail=context.settings.max_tail)


def log_lines(lines: Sequence[LogLineFields], *, max_batch: int, max_bytes: int) -> list[LogLine]:
    """Checked (timestamp, LEVEL, message) tuples; any bad line rejects the whole batch."""
    if len(lines) > max_batch:
        raise BadUserInput(f"at most {max_batch} lines per appendLogs call; got {len(lines)}")
    now = utcnow()
    levels: dict[str | None, str] = {}  # a batch uses a handful of levels: check each once
    # UTF-8 takes at most 4 bytes a character: shorter messages need no encoding to measure.
    short = max_bytes // 4
    checked = []
    for index, line in enumerate(lines):
        level = levels.get(line.level)
        if level is None:
            level = "INFO" if line.level is None else line.level.strip()
            if not _LEVEL.fullmatch(level):
                raise BadUserInput(f"lines[{index}].level must be 1 to 16 letters", index=index)
            level = levels[line.level] = level.upper()
        message = line.message
        if len(message) > short or "\x00" in message:
            try:
                _text(message, name="message", max_bytes=max_bytes, required=False)
            except BadUserInput as error:
                raise BadUserInput(f"lines[{index}]: {error.message}", index=index) from None
        stamp = given(line.timestamp)
        if stamp is None:
            stamp = now
        else:
            # A timestamp without an offset is taken as UTC, the only zone the API speaks.
            stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
        checked.append((stamp, level, message))
    return checked


async def claim_job(
    context: Context, *, worker_id: str, lease_seconds: int | None
) -> JobRead | None:
    principal = context.require(Scope.WORK)
    lease = given(lease_seconds)
    if lease is None:
        lease = context.settings.default_lease_seconds
    if not 1 <= lease <= context.settings.max_lease_seconds:
        raise BadUserInput(f"leaseSeconds must be 1 to {context.settings.max_lease_seconds}")
    record = await context.store.lifecycle.claim_next(
        tenant=principal.tenant_filter, worker_id=_worker_id(worker_id), lease_seconds=lease
    )
    return _job(context, record) if record is not None else None


async def heartbeat(
    context: Context, *, job_id: str, worker_id: str, progress: int | None
) -> HeartbeatRecord:
    principal = context.require(Scope.WORK)
    progress = given(progress)
    if progress is not None and not 0 <= progress <= 100:
        raise BadUserInput("progress must be between 0 and 100")
    record = await context.store.lifecycle.heartbeat(
        tenant=principal.tenant_filter,
        job_id=parse_job_id(job_id),
        worker_id=_worker_id(worker_id),
        progress=progress,
    )
    return record


async def append_logs(
    context: Context,
    *,
    job_id: str,
    worker_id: str,
    lines: Sequence[LogLineFields],
    after_seq: int | None = None,
) -> int:
    principal = context.require(Scope.WORK)
    settings = context.settings
    checked = log_lines(
        lines, max_batch=settings.max_log_batch, max_bytes=settings.max_log_message_bytes
    )
    return await context.store.lifecycle.append_logs(
        tenant=principal.tenant_filter,
        job_id=parse_job_id(job_id),
        worker_id=_worker_id(worker_id),
        lines=checked,
        after_seq=after_seq,
    )


async def update_item(
    context: Context,
    *,
    job_id: str,
    worker_id: str,
    position: int,
    status: ItemStatus,
    error: str | None,
) -> ItemRecord:
    principal = context.require(Scope.WORK)
    error = given(error)
    if error is not None:
        error = _text(error, name="error", max_bytes=context.settings.max_log_message_bytes)
    record = await context.store.lifecycle.update_item(
        tenant=principal.tenant_filter,
        job_id=parse_job_id(job_id),
        worker_id=_worker_id(worker_id),
        position=position,
        status=status,
        error=error,
    )
    return record


async def complete_job(context: Context, *, job_id: str, worker_id: str) -> JobRead:
    principal = context.require(Scope.WORK)
    record = await context.store.lifecycle.complete(
        tenant=principal.tenant_filter, job_id=parse_job_id(job_id), worker_id=_worker_id(worker_id)
    )
    return _job(context, record)


async def fail_job(context: Context, *, job_id: str, worker_id: str, error: str) -> JobRead:
    principal = context.require(Scope.WORK)
    error = _text(error, name="error", max_bytes=context.settings.max_log_message_bytes)
    record = await context.store.lifecycle.fail(
        tenant=principal.tenant_filter,
        job_id=parse_job_id(job_id),
        worker_id=_worker_id(worker_id),
        error=error,
    )
    return _job(context, record)


async def cancel_job(context: Context, *, id: str) -> JobRead:
    principal = context.require(Scope.SUBMIT)
    record = await context.store.lifecycle.cancel(
        tenant=principal.tenant_filter, job_id=parse_job_id(id)
    )
    return _job(context, record)


async def retry_job(context: Context, *, id: str) -> JobRead:
    principal = context.require(Scope.SUBMIT)
    record = await context.store.lifecycle.retry(
        tenant=principal.tenant_filter, job_id=parse_job_id(id)
    )
    return _job(context, record)
