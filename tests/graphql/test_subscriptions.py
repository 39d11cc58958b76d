"""Subscriptions at the schema level: tail then follow, resume, tenants, overflow; jobLogBatches'
backfill, batching, maxLines and resume."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest

from domain.jobs import JobStatus
from domain.principal import Principal, Scope
from live.memory import MemoryBroker
from resolvers.context import Context
from schema.build import JobgraphSchema
from settings import Settings
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.store import Store
from tests.conftest import principal
from tests.factories import make_job
from tests.live_helpers import append_logs, set_status

LOGS = "subscription($id: ID!, $tail: Int, $after: Int) { jobLogs(id: $id, tail: $tail, after: $after) { seq message } }"  # noqa: E501
UPDATED = "subscription($id: ID!) { jobUpdated(id: $id) { id status progress items { status } } }"
EVENTS = "subscription($s: [JobStatus!]) { jobEvents(statuses: $s) { id status } }"


@pytest.fixture
def max_queue() -> int:
    return 1000


@pytest.fixture
async def live_store(settings: Settings, max_queue: int) -> AsyncIterator[Store]:
    db = Database(settings)
    await upgrade_to_head(db)
    broker = MemoryBroker(max_queue=max_queue)
    yield Store(db, publisher=broker)
    await broker.close(grace=1)
    await db.dispose()


class Subscriber:
    def __init__(self, schema: JobgraphSchema, store: Store, settings: Settings) -> None:
        self.schema, self.store, self.settings = schema, store, settings

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: Principal | None = None
    ) -> AsyncGenerator[Any, None]:
        context = Context.for_store(self.store, self.settings, principal=as_ or principal())
        stream = await self.schema.subscribe(
            query, variable_values=variables, context_value=context
        )
        return stream


@pytest.fixture
def sub(schema: JobgraphSchema, live_store: Store, settings: Settings) -> Subscriber:
    return Subscriber(schema, live_store, settings)


def broker_of(store: Store) -> MemoryBroker:
    assert isinstance(store.publisher, MemoryBroker)
    return store.publisher


def seqs_of(results: list[Any]) -> list[int]:
    seqs = []
    for result in results:
        assert not result.errors, result.errors
        seqs.append(result.data["jobLogs"]["seq"])
    return seqs


async def collect(stream: AsyncIterator[Any], *, limit: int = 100_000) -> list[Any]:
    results = []
    async with asyncio.timeout(30):
        async for result in stream:
            results.append(result)
            if len(results) >= limit:
                break
    return results


async def test_tail_then_follow_while_a_worker_appends(sub: Subscriber, live_store: Store) -> None:
    job = await make_job(live_store, lines=50)
    stream = await sub(LOGS, {"id": job.id, "tail": 10})

    async def worker() -> None:
        for batch in range(20):
            await append_logs(live_store, job.id, 5, first=51 + batch * 5)
            await asyncio.sleep(0)
        await set_status(live_store, job.id, JobStatus.COMPLETED)

    received, _ = await asyncio.gather(collect(stream), worker())
    assert seqs_of(received) == list(range(41, 151))
    assert received[-1].data["jobLogs"]["message"] == "line 150"


async def test_disconnect_and_resume_with_after(sub: Subscriber, live_store: Store) -> None:
    job = await make_job(live_store, lines=30)
    first = await sub(LOGS, {"id": job.id, "after": 0})
    part = await collect(first, limit=12)
    await first.aclose()
    last = seqs_of(part)[-1]
    await append_logs(live_store, job.id, 25, first=31)
    second = await sub(LOGS, {"id": job.id, "after": last})
    appender = asyncio.create_task(append_logs(live_store, job.id, 10, first=56))
    rest = await collect(second, limit=65 - last)
    await appender
    messages = [r.data["jobLogs"]["message"] for r in part + rest]
    assert messages == [f"line {n}" for n in range(1, 66)]
    assert seqs_of(part + rest) == list(range(1, 66))


async def test_terminal_job_sends_backfill_then_completes(
    sub: Subscriber, live_store: Store
) -> None:
    job = await make_job(live_store, lines=7)
    await set_status(live_store, job.id, JobStatus.FAILED)
    assert seqs_of(await collect(await sub(LOGS, {"id": job.id, "tail": 3}))) == [5, 6, 7]
    assert seqs_of(await collect(await sub(LOGS, {"id": job.id, "after": 5}))) == [6, 7]
    assert seqs_of(await collect(await sub(LOGS, {"id": job.id, "tail": 0}))) == []
    assert seqs_of(await collect(await sub(LOGS, {"id": job.id}))) == list(range(1, 8))


async def test_job_updated_current_state_then_changes(sub: Subscriber, live_store: Store) -> None:
    job = await make_job(live_store)
    stream = await sub(UPDATED, {"id": job.id})
    first = await anext(stream)
    assert first.data["jobUpdated"]["status"] == "PENDING"
    await set_status(live_store, job.id, JobStatus.RUNNING, progress=10)
    second = await anext(stream)
    assert second.data["jobUpdated"]["status"] == "RUNNING"
    assert second.data["jobUpdated"]["progress"] == 10
    await append_logs(live_store, job.id, 3)  # log lines are jobLogs' business
    await set_status(live_store, job.id, JobStatus.COMPLETED, progress=100)
    rest = await collect(stream)
    assert [r.data["jobUpdated"]["status"] for r in rest] == ["COMPLETED"]


async def started(stream: AsyncGenerator[Any, None], store: Store) -> asyncio.Task[Any]:
    """Start pulling a stream with no initial event, once its broker subscription exists."""
    broker = broker_of(store)
    before = broker.subscriber_count
    task = asyncio.create_task(anext(stream))
    async with asyncio.timeout(10):
        while broker.subscriber_count == before:
            await asyncio.sleep(0.001)
    return task


async def test_job_events_by_tenant_and_status(sub: Subscriber, live_store: Store) -> None:
    mine = await sub(EVENTS, {"s": ["COMPLETED"]}, as_=principal(tenant="acme"))
    everything = await sub(EVENTS, as_=principal(tenant="ops", scopes={Scope.ADMIN}))
    mine_next = await started(mine, live_store)
    everything_next = await started(everything, live_store)

    async def seen() -> tuple[str, str]:
        nonlocal everything_next
        async with asyncio.timeout(10):
            event = (await everything_next).data["jobEvents"]
        everything_next = asyncio.create_task(anext(everything))
        return event["id"], event["status"]

    ours = await make_job(live_store, tenant="acme")
    assert await seen() == (ours.id, "PENDING")
    theirs = await make_job(live_store, tenant="umbrella")
    assert await seen() == (theirs.id, "PENDING")
    await set_status(live_store, theirs.id, JobStatus.COMPLETED)
    assert await seen() == (theirs.id, "COMPLETED")
    await set_status(live_store, ours.id, JobStatus.RUNNING)
    assert await seen() == (ours.id, "RUNNING")
    await set_status(live_store, ours.id, JobStatus.COMPLETED)
    assert await seen() == (ours.id, "COMPLETED")
    async with asyncio.timeout(10):
        got = await mine_next
    assert got.data["jobEvents"] == {"id": ours.id, "status": "COMPLETED"}
    everything_next.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await everything_next
    await mine.aclose()
    await everything.aclose()


@pytest.mark.parametrize("query", [LOGS, UPDATED])
async def test_another_tenants_job_is_not_found(
    sub: Subscriber, live_store: Store, query: str
) -> None:
    job = await make_job(live_store, tenant="umbrella", lines=3)
    results = await collect(await sub(query, {"id": job.id}, as_=principal(tenant="acme")))
    assert len(results) == 1 and results[0].data is None
    assert results[0].errors[0].extensions["code"] == "NOT_FOUND"
    assert broker_of(live_store).subscriber_count == 0


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"id": "nope"}, "BAD_USER_INPUT"),
        ({"tail": 2, "after": 1}, "BAD_USER_INPUT"),
        ({"after": -1}, "BAD_USER_INPUT"),
        ({"tail": -1}, "BAD_USER_INPUT"),
    ],
)
async def test_bad_arguments(
    sub: Subscriber, live_store: Store, variables: dict[str, Any], code: str
) -> None:
    job = await make_job(live_store)
    results = await collect(await sub(LOGS, {"id": job.id, **variables}))
    assert results[0].errors[0].extensions["code"] == code


async def test_read_scope_is_required(sub: Subscriber, live_store: Store) -> None:
    job = await make_job(live_store)
    results = await collect(await sub(UPDATED, {"id": job.id}, as_=principal(scopes={Scope.WORK})))
    assert results[0].errors[0].extensions["code"] == "FORBIDDEN"


@pytest.mark.parametrize("max_queue", [4])
async def test_slow_subscriber_overflows_fast_one_gets_every_line(
    sub: Subscriber, live_store: Store
) -> None:
    job = await make_job(live_store, lines=5)
    slow = await sub(LOGS, {"id": job.id, "after": 0})
    fast = await sub(LOGS, {"id": job.id, "after": 0})
    slow_part = await collect(slow, limit=3)  # then it stops reading
    fast_lines: list[Any] = []

    async def fast_reader() -> None:
        fast_lines.extend(await collect(fast))

    reader = asyncio.create_task(fast_reader())
    for batch in range(10):
        await append_logs(live_store, job.id, 2, first=6 + batch * 2)
        await asyncio.sleep(0.01)  # the fast reader keeps up; the slow one does not read
    await set_status(live_store, job.id, JobStatus.COMPLETED)
    await reader
    assert seqs_of(fast_lines) == list(range(1, 26))

    rest = await collect(slow)
    *lines, error = rest
    assert error.data is None
    extensions = error.errors[0].extensions
    assert extensions["code"] == "SUBSCRIPTION_OVERFLOW"
    resume = extensions["resumeAfter"]
    assert seqs_of(slow_part + lines) == list(range(1, resume + 1))
    resumed = await collect(await sub(LOGS, {"id": job.id, "after": resume}))
    assert seqs_of(slow_part + lines + resumed) == list(range(1, 26))


async def test_a_long_stream_holds_no_state_per_line_delivered(
    sub: Subscriber, live_store: Store
) -> None:
    # Each line is one subscription event, executed on a copy of the subscription's executor.
    # Memo tables shared by those copies and keyed by objects collected anew for each event
    # would grow with every line for as long as the subscription lives
    # (engine.compat.EventSafeExecutionContext). Memory must not grow with the lines delivered.
    job = await make_job(live_store, lines=3500)
    stream = await sub(LOGS, {"id": job.id, "after": 0})

    async def live_blocks_after(lines: int) -> int:
        seqs_of(await collect(stream, limit=lines))
        gc.collect()
        return sys.getallocatedblocks()

    before = await live_blocks_after(1000)  # past the warm-up (caches, the first pages)
    after = await live_blocks_after(2000)
    await stream.aclose()
    # Tens of blocks for 2000 lines; tens of thousands if the events shared memo tables.
    assert after - before < 1000, f"{after - before} blocks kept for 2000 lines"


async def test_broker_close_completes_open_subscriptions(
    sub: Subscriber, live_store: Store
) -> None:
    job = await make_job(live_store, lines=2)
    stream = await sub(LOGS, {"id": job.id})
    updates = await sub(UPDATED, {"id": job.id})
    assert seqs_of(await collect(stream, limit=2)) == [1, 2]
    await anext(updates)
    closing = asyncio.create_task(broker_of(live_store).close(grace=5))
    assert await collect(stream) == []  # ends without an error
    assert await collect(updates) == []
    await closing
    assert broker_of(live_store).subscriber_count == 0


BATCHES = """subscription($id: ID!, $tail: Int, $after: Int, $max: Int) {
  jobLogBatches(id: $id, tail: $tail, after: $after, maxLines: $max) {
    lastSeq lines { seq message } } }"""


def batches_of(results: list[Any]) -> list[list[int]]:
    out = []
    for result in results:
        assert not result.errors, result.errors
        batch = result.data["jobLogBatches"]
        seqs = [line["seq"] for line in batch["lines"]]
        assert seqs and batch["lastSeq"] == seqs[-1]
        out.append(seqs)
    return out


async def test_backfill_in_batches_of_max_lines_then_completion(
    sub: Subscriber, live_store: Store
) -> None:
    job = await make_job(live_store, lines=25)
    await set_status(live_store, job.id, JobStatus.COMPLETED)
    got = batches_of(await collect(await sub(BATCHES, {"id": job.id, "max": 10})))
    assert got == [list(range(1, 11)), list(range(11, 21)), list(range(21, 26))]
    got = batches_of(await collect(await sub(BATCHES, {"id": job.id, "tail": 7})))
    assert got == [list(range(19, 26))]
    got = batches_of(await collect(await sub(BATCHES, {"id": job.id, "after": 22, "max": 2})))
    assert got == [[23, 24], [25]]
    assert await collect(await sub(BATCHES, {"id": job.id, "tail": 0})) == []
    results = await collect(await sub(BATCHES, {"id": job.id, "after": 0}))
    assert batches_of(results) == [list(range(1, 26))]
    assert results[0].data["jobLogBatches"]["lines"][-1]["message"] == "line 25"


async def test_follow_carries_every_line_since_the_previous_message(
    sub: Subscriber, live_store: Store
) -> None:
    job = await make_job(live_store, lines=3)
    stream = await sub(BATCHES, {"id": job.id, "max": 4})
    assert batches_of([await anext(stream)]) == [[1, 2, 3]]
    await append_logs(live_store, job.id, 2, first=4)
    assert batches_of([await anext(stream)]) == [[4, 5]]
    # Appends made while nobody reads arrive together, cut at maxLines.
    for first in range(6, 16, 2):
        await append_logs(live_store, job.id, 2, first=first)
    await set_status(live_store, job.id, JobStatus.COMPLETED)
    rest = batches_of(await collect(stream))
    assert [seq for batch in rest for seq in batch] == list(range(6, 16))
    assert all(len(batch) <= 4 for batch in rest)
    assert len(rest) < 10  # not one message per line


async def test_batches_resume_after_last_seq(sub: Subscriber, live_store: Store) -> None:
    job = await make_job(live_store, lines=10)
    first = await sub(BATCHES, {"id": job.id, "after": 0, "max": 4})
    part = batches_of(await collect(first, limit=2))
    await first.aclose()
    assert part == [[1, 2, 3, 4], [5, 6, 7, 8]]
    await append_logs(live_store, job.id, 5, first=11)
    second = await sub(BATCHES, {"id": job.id, "after": part[-1][-1]})
    appender = asyncio.create_task(set_status(live_store, job.id, JobStatus.FAILED))
    rest = batches_of(await collect(second))
    await appender
    assert [seq for batch in part + rest for seq in batch] == list(range(1, 16))


@pytest.mark.parametrize(
    "variables",
    [{"max": 0}, {"max": 10_001}, {"tail": 2, "after": 1}, {"after": -1}, {"id": "nope"}],
)
async def test_batches_bad_arguments(
    sub: Subscriber, live_store: Store, variables: dict[str, Any]
) -> None:
    job = await make_job(live_store)
    results = await collect(await sub(BATCHES, {"id": job.id, **variables}))
    assert results[0].errors[0].extensions["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("max_queue", [4])
async def test_batches_overflow_says_where_to_resume(sub: Subscriber, live_store: Store) -> None:
    job = await make_job(live_store, lines=5)
    slow = await sub(BATCHES, {"id": job.id, "after": 0, "max": 2})
    part = batches_of(await collect(slow, limit=1))
    for batch in range(10):
        await append_logs(live_store, job.id, 1, first=6 + batch)
    rest = await collect(slow)
    *batches, error = rest
    extensions = error.errors[0].extensions
    assert extensions["code"] == "SUBSCRIPTION_OVERFLOW"
    resume = extensions["resumeAfter"]
    got = [seq for batch in part + batches_of(batches) for seq in batch]
    assert got == list(range(1, resume + 1))


async def test_each_batch_of_change_events_is_one_span_when_tracing_is_on(
    sub: Subscriber, live_store: Store
) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from telemetry import tracing

    job = await make_job(live_store, lines=2)
    exporter = InMemorySpanExporter()
    tracing.configure(SimpleSpanProcessor(exporter))
    try:
        stream = await sub(BATCHES, {"id": job.id, "after": 0})
        assert batches_of([await anext(stream)]) == [[1, 2]]  # the backfill: no event yet
        assert exporter.get_finished_spans() == ()
        await append_logs(live_store, job.id, 3, first=3)
        assert batches_of([await anext(stream)]) == [[3, 4, 5]]
        await stream.aclose()
    finally:
        tracing.shutdown()
    spans = [s for s in exporter.get_finished_spans() if s.name == "subscription event"]
    assert len(spans) == 1
    attributes = dict(spans[0].attributes or {})
    assert attributes["jobgraph.subscription.field"] == "jobLogBatches"
    assert attributes["jobgraph.job.id"] == job.id
    assert attributes["graphql.operation.type"] == "subscription"
    assert isinstance(attributes["jobgraph.events"], int) and attributes["jobgraph.events"] >= 1
