"""Subscription resolvers: jobUpdated, jobLogs, jobLogBatches, jobEvents.

Each one subscribes to the broker *before* it reads the current state, so an event for a
write that lands between the read and the follow is already queued: nothing is lost. Events
only say "something changed up to seq N"; the resolver re-reads from the store and uses the
seqs it has delivered to skip what the client already has (no gap, no duplicate).

The resolvers are coroutines that check arguments and access first and then return the
stream, so a bad id or another tenant's job is refused before the stream starts (an ``error``
message on graphql-transport-ws, not a ``next``).

Every stream takes a turn (:class:`live.turns.Pace`) before each message. Nothing else in a
delivery waits: SQLite reads run on the loop, and a WebSocket send returns at once while the
socket is writable. Without turns, each follower woken by an append sent all it was behind
(every page of a backlog) in one go, and the followers woken together did so in one pass of
the loop, so the next HTTP request (the appender's next batch, a job(id) poll, /healthz) waited
for subscribers x lines messages.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from domain.errors import BadUserInput, NotFound, SubscriptionOverflow, Unavailable
from domain.jobs import JobStatus
from domain.principal import Scope
from live import positions
from live.broker import Broker, SubscriberOverflow, Subscription
from live.turns import Pace
from resolvers.arguments import parse_job_id, resolve_tail
from resolvers.context import Context
from resolvers.results import JobRead, LogBatchRecord
from storage.events import EventKind, JobEvent
from storage.follow import FollowReads, JobWithLines
from storage.records import JobRecord, LogLineRecord
from telemetry import tracing

# Lines read per query while catching up; bounds memory per follower, not what it receives.
CATCH_UP_PAGE = 500
# The most lines one jobLogBatches message may carry (its maxLines argument).
MAX_BATCH_LINES = 10_000
# How many jobs' last sent state a jobEvents stream remembers to skip repeats.
_DEDUPE_JOBS = 1024


# Whether a publisher's class is a Broker, by class: a check against the protocol inspects
# the class's members each time, for every subscription started.
_BROKER_CLASSES: dict[type, bool] = {}


def _broker(context: Context) -> Broker:
    publisher = context.store.publisher
    kind = type(publisher)
    is_broker = _BROKER_CLASSES.get(kind)
    if is_broker is None:
        is_broker = _BROKER_CLASSES[kind] = isinstance(publisher, Broker)
    if not is_broker:
        raise Unavailable("live updates are not enabled on this server")
    return cast("Broker", publisher)


def _fresh_loaders(context: Context) -> None:
    # A WebSocket context lives as long as the connection; its DataLoader caches must not
    # answer a later event with the items of an earlier one. Each event is a response of its
    # own, with a full budget of log text.
    context.fresh_loaders()
    context.budget.refill()


async def job_updated(
    context: Context, *, id: str, tail: int | None
) -> AsyncGenerator[JobRead, None]:
    principal = context.require(Scope.READ)
    limit = resolve_tail(tail, cap=context.settings.max_tail)
    job_id = parse_job_id(id)
    subscription = _broker(context).subscribe(job_id=job_id)
    try:
        job = await context.store.follow.job(job_id=job_id, tenant=principal.tenant_filter)
        if job is None:
            raise NotFound(f"no job with id {job_id}")
    except BaseException:
        subscription.release()
        raise

    async def stream() -> AsyncGenerator[JobRead, None]:
        current = job
        previous: tuple[object, ...] | None = None
        pace = Pace()
        try:
            while True:
                await pace()
                _fresh_loaders(context)
                version = (current.updated_at, current.status.value, current.last_seq)
                positions.mark(previous, version)
                previous = version
                yield JobRead(current, tail=limit)
                if current.status.is_terminal:
                    return
                while not any(event.kind is EventKind.JOB for event in await _next(subscription)):
                    pass
                with tracing.event_span("jobUpdated", job_id):
                    latest = await context.store.follow.job(
                        job_id=job_id, tenant=principal.tenant_filter
                    )
                if latest is None:
                    return
                current = latest
        except SubscriberOverflow:
            raise SubscriptionOverflow("this subscriber fell behind; subscribe again") from None
        except _Closed:
            return
        finally:
            subscription.release()

    return stream()


async def job_logs(
    context: Context, *, id: str, tail: int | None, after: int | None
) -> AsyncGenerator[LogLineRecord, None]:
    opened = await _open_log_follow(context, id=id, tail=tail, after=after, page=CATCH_UP_PAGE)
    job_id, tenant, subscription = opened.job_id, opened.tenant, opened.subscription
    follow, first, delivered = context.store.follow, opened.first, opened.delivered

    async def stream() -> AsyncGenerator[LogLineRecord, None]:
        last = delivered
        batch: JobWithLines = first
        pace = Pace()
        try:
            while batch.job is not None:
                for line in batch.lines:
                    if line.seq > last:  # a re-read may overlap what was sent: skip it
                        await pace()
                        positions.mark(line.seq - 1, line.seq)
                        yield line
                        last = line.seq
                following = await _lines_after(
                    subscription, follow, batch.job, job_id, "jobLogs", tenant, last, CATCH_UP_PAGE
                )
                if following is None:
                    return  # terminal and every line delivered
                batch = following
        except SubscriberOverflow:
            raise SubscriptionOverflow(
                f"this subscriber fell behind; subscribe again with after: {last}",
                resumeAfter=last,
            ) from None
        except _Closed:
            return
        finally:
            subscription.release()

    return stream()


async def job_log_batches(
    context: Context, *, id: str, tail: int | None, after: int | None, max_lines: int
) -> AsyncGenerator[LogBatchRecord, None]:
    """jobLogs in batches: each message carries every line since the previous one (at most
    ``max_lines``, and no more text than one response's budget), the backfill too."""
    opened = await _open_log_follow(
        context, id=id, tail=tail, after=after, page=max_lines, max_lines=max_lines
    )
    job_id, tenant, subscription = opened.job_id, opened.tenant, opened.subscription
    follow, first, delivered = context.store.follow, opened.first, opened.delivered
    budget = context.budget.allowance()  # a full one: each message is a response of its own

    async def stream() -> AsyncGenerator[LogBatchRecord, None]:
        last = delivered
        batch: JobWithLines = first
        pace = Pace()
        try:
            while batch.job is not None:
                fresh = [line for line in batch.lines if line.seq > last]
                for lines in _within(fresh, lines=min(max_lines, budget.lines), size=budget.bytes):
                    await pace()
                    _fresh_loaders(context)
                    positions.mark(lines[0].seq - 1, lines[-1].seq)
                    yield LogBatchRecord(lines=lines, last_seq=lines[-1].seq)
                    last = lines[-1].seq
                following = await _lines_after(
                    subscription,
                    follow,
                    batch.job,
                    job_id,
                    "jobLogBatches",
                    tenant,
                    last,
                    max_lines,
                )
                if following is None:
                    return
                batch = following
        except SubscriberOverflow:
            raise SubscriptionOverflow(
                f"this subscriber fell behind; subscribe again with after: {last}",
                resumeAfter=last,
            ) from None
        except _Closed:
            return
        finally:
            subscription.release()

    return stream()


@dataclass(frozen=True)
class _OpenedLogs:
    """A log subscription's start: subscribed before its first read (so no change between the
    two is missed), with the seq after which its stream begins."""

    job_id: str
    tenant: str | None
    subscription: Subscription
    first: JobWithLines
    delivered: int


async def _open_log_follow(
    context: Context,
    *,
    id: str,
    tail: int | None,
    after: int | None,
    page: int,
    max_lines: int | None = None,
) -> _OpenedLogs:
    """The arguments jobLogs and jobLogBatches share, checked; the subscription and the first
    read (the tail, or the lines after ``after``, at most ``page`` of them)."""
    principal = context.require(Scope.READ)
    if tail is not None and after is not None:
        raise BadUserInput("pass either tail or after, not both")
    if after is not None and after < 0:
        raise BadUserInput("after must not be negative")
    if max_lines is not None and not 1 <= max_lines <= MAX_BATCH_LINES:
        raise BadUserInput(f"maxLines must be between 1 and {MAX_BATCH_LINES}")
    limit = resolve_tail(tail, cap=context.settings.max_tail)
    job_id = parse_job_id(id)
    tenant = principal.tenant_filter
    follow = context.store.follow
    if context.live_edge_only:
        after, limit = None, 0  # a cohort's producer: the members read their own backfill
    subscription = _broker(context).subscribe(job_id=job_id)
    try:
        if after is None:
            first = await follow.tail(job_id=job_id, tenant=tenant, limit=limit, page=page)
        else:
            first = await follow.after(job_id=job_id, tenant=tenant, after=after, limit=page)
        if first.job is None:
            raise NotFound(f"no job with id {job_id}")
    except BaseException:
        subscription.release()
        raise
    if after is not None:
        delivered = after
    else:
        # The tail's first line, or the end when it is empty; the rest of a tail longer than
        # a page comes in pages, like any catch-up.
        delivered = first.lines[0].seq - 1 if first.lines else first.job.last_seq
    positions.opened(delivered)
    return _OpenedLogs(job_id, tenant, subscription, first, delivered)


async def _lines_after(
    subscription: Subscription,
    follow: FollowReads,
    job: JobRecord,
    job_id: str,
    field: str,
    tenant: str | None,
    last: int,
    limit: int,
) -> JobWithLines | None:
    """The next read of a log subscription that has sent every line up to ``last``: None when
    the job is terminal and nothing is left; else the lines after ``last``, read at once when
    some are already waiting, or once change events arrive."""
    seen: tuple[int, str] | None = None
    woken = 0  # change events behind this read (0: lines were already waiting)
    if job.last_seq <= last:
        if job.status.is_terminal:
            return None
        events = await _next(subscription)
        woken = len(events)
        # What woke us, as followers woken by the same events all see it.
        seen = (
            max(event.last_seq for event in events),
            ",".join(sorted({event.status for event in events})),
        )
    else:
        subscription.pending()  # the read below covers them (raises on overflow)
    with tracing.event_span(field, job_id, woken):
        return await follow.after(job_id=job_id, tenant=tenant, after=last, limit=limit, seen=seen)


def _within(fresh: list[LogLineRecord], *, lines: int, size: int) -> list[list[LogLineRecord]]:
    """``fresh`` cut into messages of at most ``lines`` lines and ``size`` bytes of text (one
    newline per line, as the response budget counts; a longer line goes alone)."""
    batches: list[list[LogLineRecord]] = []
    current: list[LogLineRecord] = []
    used = 0
    for line in fresh:
        cost = len(line.message.encode()) + 1
        if current and (len(current) >= lines or used + cost > size):
            batches.append(current)
            current, used = [], 0
        current.append(line)
        used += cost
    if current:
        batches.append(current)
    return batches


async def job_events(
    context: Context, *, statuses: Collection[JobStatus] | None, tail: int | None
) -> AsyncGenerator[JobRead, None]:
    principal = context.require(Scope.READ)
    limit = resolve_tail(tail, cap=context.settings.max_tail)
    wanted = frozenset(statuses) if statuses else None
    tenant = principal.tenant_filter
    subscription = _broker(context).subscribe(tenant=tenant)

    async def stream() -> AsyncGenerator[JobRead, None]:
        # A late reader re-reads a newer state for an older event; send each state once.
        sent: OrderedDict[str, datetime] = OrderedDict()
        pace = Pace()
        try:
            async for event in subscription:
                if event.kind is not EventKind.JOB:
                    continue
                if wanted is not None and JobStatus(event.status) not in wanted:
                    continue
                with tracing.event_span("jobEvents", event.job_id):
                    job = await context.store.follow.job(job_id=event.job_id, tenant=tenant)
                if job is None or (wanted is not None and job.status not in wanted):
                    continue
                if sent.get(job.id) == job.updated_at:
                    continue
                sent[job.id] = job.updated_at
                sent.move_to_end(job.id)
                if len(sent) > _DEDUPE_JOBS:
                    sent.popitem(last=False)
                await pace()
                _fresh_loaders(context)
                yield JobRead(job, tail=limit)
        except SubscriberOverflow:
            raise SubscriptionOverflow(
                "this subscriber fell behind; subscribe again and re-read the jobs list"
            ) from None
        finally:
            subscription.release()

    return stream()


class _Closed(Exception):
    """The broker closed the subscription (server shutting down): end the stream normally."""


async def _next(subscription: Subscription) -> list[JobEvent]:
    """Wait for the next event, then take whatever else is queued (one re-read covers all)."""
    try:
        event = await anext(subscription)
    except StopAsyncIteration:
        raise _Closed from None
    return [event, *subscription.pending()]
