"""Output types. Each is built from a storage record with ``from_record``; ``Job`` and
``VideoItem`` keep theirs and read their fields off it (``engine.fields.record_field``)."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Self

import strawberry

from domain.principal import Scope
from engine.fields import fast, record_field
from resolvers import log_pages
from resolvers import webhooks as webhook_resolvers
from resolvers.context import Context
from resolvers.results import JobRead, LogBatchRecord
from schema.enums import ItemStatus, JobStatus, Platform
from storage.listing import LogPageRecord
from storage.records import ItemCountsRecord, ItemRecord, JobRecord, LogLineRecord, TailText

if TYPE_CHECKING:
    from schema.webhook_types import Webhook, WebhookDeliveryConnection

Info = strawberry.Info[Context, None]
EMPTY_TAIL = TailText("", 0, 0, False)
# Lazy: schema.webhook_types reuses PageInfo, whose module builds on Job.
_WEBHOOK_TYPES = strawberry.lazy("schema.webhook_types")


@strawberry.type(description="One video of a job, in the order it was submitted.")
class VideoItem:
    record: strawberry.Private[ItemRecord]
    position: int = record_field("record.position", description="Order within the job, from 0.")
    platform: Platform = record_field("record.platform")
    code: str = record_field("record.code")
    url: str = record_field(
        "record.url", description="Canonical URL derived from platform and code."
    )
    status: ItemStatus = record_field("record.status")
    error: str | None = record_field("record.error")

    @classmethod
    def from_record(cls, record: ItemRecord) -> Self:
        return cls(record=record)

    @classmethod
    def from_records(cls, records: Iterable[ItemRecord]) -> list[Self]:
        """``from_record`` for each: the object made and its one field set directly, which is
        all the dataclass ``__init__`` does for this type (a test holds ``record`` to be its
        only init field), at half the cost of calling it — a page of jobs builds 150."""
        new = object.__new__
        items: list[Self] = []
        for record in records:
            item = new(cls)
            item.record = record
            items.append(item)
        return items


@strawberry.type
class LogLine:
    seq: int
    timestamp: datetime
    level: str
    message: str
    attempt: int = strawberry.field(description="The job's run the line was written in.")

    @classmethod
    def from_record(cls, record: LogLineRecord) -> Self:
        return cls(
            seq=record.seq,
            timestamp=record.timestamp,
            level=record.level,
            message=record.message,
            attempt=record.attempt,
        )


@strawberry.type(
    description="Log lines sent together by jobLogBatches, in seq order: every line since the "
    "previous message (up to its maxLines)."
)
class LogBatch:
    lines: list[LogLine]
    last_seq: int = strawberry.field(description="The seq of the last line: resume after it.")

    @classmethod
    def from_record(cls, record: LogBatchRecord) -> Self:
        return cls(
            lines=[LogLine.from_record(line) for line in record.lines], last_seq=record.last_seq
        )


@strawberry.type(description="A page of log lines, oldest first.")
class LogPage:
    lines: list[LogLine]
    has_more: bool = strawberry.field(
        description="More lines lie beyond this page in the direction it was read."
    )

    @classmethod
    def from_record(cls, record: LogPageRecord) -> Self:
        return cls(
            lines=[LogLine.from_record(line) for line in record.lines], has_more=record.has_more
        )


@strawberry.type
class ItemCounts:
    total: int
    pending: int
    running: int
    completed: int
    failed: int
    skipped: int

    @classmethod
    def from_record(cls, record: ItemCountsRecord) -> Self:
        return cls(
            total=record.total,
            pending=record.pending,
            running=record.running,
            completed=record.completed,
            failed=record.failed,
            skipped=record.skipped,
        )


@strawberry.type(description="A video-extraction job: its state, its videos and its log.")
class Job:
    record: strawberry.Private[JobRecord]
    tail: strawberry.Private[int]
    # Read with the job when the query asked for them (job(id)); else the loaders fetch them.
    prefetched_items: strawberry.Private[list[ItemRecord] | None] = None
    # Only ever read with the job for a key with the `read` scope (job(id), jobs).
    prefetched_tail: strawberry.Private[TailText | None] = None
    id: strawberry.ID = record_field("record.id")
    status: JobStatus = record_field("record.status")
    progress: int = record_field(
        "record.progress", description="0..100; never decreases within one run."
    )
    attempt: int = record_field("record.attempt")
    created_at: datetime = record_field("record.created_at")
    updated_at: datetime = record_field("record.updated_at")
    started_at: datetime | None = record_field("record.started_at")
    finished_at: datetime | None = record_field("record.finished_at")
    error: str | None = record_field("record.error")
    worker_id: str | None = record_field(
        "record.worker_id", description="The worker that claimed the job's current run."
    )
    lease_expires_at: datetime | None = record_field(
        "record.lease_expires_at", description="Until when the running worker's lease holds."
    )
    log_line_count: int = record_field("record.last_seq")
    cancelable: bool = record_field("record.status.cancelable")
    retryable: bool = record_field("record.status.retryable")

    @classmethod
    def from_record(cls, record: JobRecord, *, tail: int) -> Self:
        return cls(record=record, tail=tail)

    @classmethod
    def from_read(cls, read: JobRead) -> Self:
        return cls(
            record=read.record,
            tail=read.tail,
            prefetched_items=read.items,
            prefetched_tail=read.tail_text,
        )

    def items_now(self) -> list[VideoItem] | None:
        """The items when they were read with the job; None when they must be loaded."""
        records = self.prefetched_items
        if records is None:
            return None
        return VideoItem.from_records(records)

    def log_tail_now(self) -> str | None:
        """The log tail when it was read with the job; else None (the resolver then checks
        the key's scope and reads it)."""
        tail = self.prefetched_tail
        return None if tail is None else tail.text

    def log_tail_truncated_now(self) -> bool | None:
        tail = self.prefetched_tail
        return None if tail is None else tail.truncated

    # items and logTail answer synchronously when job(id) or jobs(...) read them with the job,
    # and return an awaitable (the DataLoader) otherwise: graphql-core awaits what it is given,
    # and a field that is not a coroutine costs no task and no gather.
    @strawberry.field(
        description="The job's videos, by position.",
        graphql_type=list[VideoItem],
        metadata=fast(now=items_now),
    )
    def items(self, info: Info) -> list[VideoItem] | Awaitable[list[VideoItem]]:
        items = self.items_now()
        return items if items is not None else self._load_items(info.context)

    @strawberry.field(
        description="The last `tail` log lines of job(id, tail), joined with \\n: the newest "
        "whole lines that fit in what the response may still carry (logTailTruncated says "
        "when that is fewer than asked). Needs the `read` scope.",
        graphql_type=str,
        metadata=fast(now=log_tail_now),
    )
    def log_tail(self, info: Info) -> str | Awaitable[str]:
        tail = self.log_tail_now()
        if tail is not None:
            return tail
        return self._text_of(self._load_log_tail(info.context))

    @strawberry.field(
        description="True when logTail holds fewer lines than asked (the last `tail`, or every "
        "line of a shorter log): the response's budget of log text ran out "
        "(JOBGRAPH_MAX_RESPONSE_BYTES, JOBGRAPH_MAX_RESPONSE_LINES). Needs the `read` scope.",
        graphql_type=bool,
        metadata=fast(now=log_tail_truncated_now),
    )
    def log_tail_truncated(self, info: Info) -> bool | Awaitable[bool]:
        truncated = self.log_tail_truncated_now()
        if truncated is not None:
            return truncated
        return self._truncated_of(self._load_log_tail(info.context))

    async def _load_items(self, context: Context) -> list[VideoItem]:
        return VideoItem.from_records(await context.loaders.items.load(self.record.id))

    async def _load_log_tail(self, context: Context) -> TailText:
        # Log content needs `read` wherever the job came from: a mutation's answer (createJob,
        # cancelJob, claimJob...) reaches here for a key that may lack it.
        context.require(Scope.READ)
        if self.tail <= 0 or self.record.last_seq == 0:
            return EMPTY_TAIL
        record = self.record
        return await context.loaders.log_tails.load((record.id, self.tail, record.last_seq))

    @staticmethod
    async def _text_of(tail: Awaitable[TailText]) -> str:
        return (await tail).text

    @staticmethod
    async def _truncated_of(tail: Awaitable[TailText]) -> bool:
        return (await tail).truncated

    @strawberry.field(description="How many items are in each status.")
    async def item_counts(self, info: Info) -> ItemCounts:
        return ItemCounts.from_record(await info.context.loaders.item_counts.load(self.record.id))

    @strawberry.field(
        description="Log lines by seq: `first` lines after `after`, or `last` lines before "
        "`before` (both directions; at most JOBGRAPH_MAX_TAIL a page). A page stops early, "
        "with hasMore, where the response's budget of log text runs out. Needs the `read` "
        "scope."
    )
    async def logs(
        self,
        info: Info,
        after: int | None = None,
        first: int | None = None,
        before: int | None = None,
        last: int | None = None,
    ) -> LogPage:
        page = await log_pages.logs(
            info.context, job=self.record, after=after, first=first, before=before, last=last
        )
        return LogPage.from_record(page)

    @strawberry.field(description="The job's webhook; null when it has none.")
    async def webhook(self, info: Info) -> Annotated[Webhook, _WEBHOOK_TYPES] | None:
        from schema.webhook_types import Webhook

        record = await info.context.loaders.webhooks.load(self.record.id)
        return Webhook.from_record(record) if record is not None else None

    @strawberry.field(
        description="Attempts to deliver the job's webhook calls, oldest first (`first` at "
        "most JOBGRAPH_MAX_PAGE_SIZE)."
    )
    async def webhook_deliveries(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Annotated[WebhookDeliveryConnection, _WEBHOOK_TYPES]:
        from schema.webhook_types import WebhookDeliveryConnection

        page = await webhook_resolvers.deliveries(
            info.context, job=self.record, first=first, after=after
        )
        return WebhookDeliveryConnection.from_read(page)


@strawberry.type(description="What the calling API key is.")
class ApiKeyInfo:
    name: str
    tenant: str
    scopes: list[str]
