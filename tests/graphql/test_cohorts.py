"""Cohorts at the schema level: one execution per event, late joiners, overflow, tenants."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from domain.jobs import JobStatus
from domain.principal import Principal
from live.memory import MemoryBroker
from resolvers.context import Context
from schema.build import JobgraphSchema
from server.cohorts import Cohorts, Direct, SharedData, spliced_ws
from settings import Settings
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.store import Store
from tests.conftest import principal
from tests.factories import make_job
from tests.live_helpers import append_logs, set_status

LOGS = "subscription($id: ID!, $tail: Int) { jobLogs(id: $id, tail: $tail) { seq message } }"
BATCHES = """subscription($id: ID!, $after: Int) {
  jobLogBatches(id: $id, after: $after, maxLines: 3) { lastSeq lines { seq } } }"""
UPDATED = "subscription($id: ID!) { jobUpdated(id: $id) { status progress } }"


@pytest.fixture
async def live_store(settings: Settings) -> AsyncIterator[Store]:
    db = Database(settings)
    await upgrade_to_head(db)
    broker = MemoryBroker(max_queue=8)
    yield Store(db, publisher=broker)
    await broker.close(grace=1)
    await db.dispose()


class Members:
    def __init__(self, schema: JobgraphSchema, store: Store, settings: Settings) -> None:
        self.schema, self.store, self.settings = schema, store, settings
        self.cohorts = Cohorts(
            max_queue=8, max_query_bytes=settings.max_query_bytes, max_tokens=settings.max_tokens
        )

    async def join(
        self,
        query: str,
        variables: dict[str, Any],
        *,
        as_: Principal | None = None,
        direct: Direct | None = None,
    ) -> Any:
        context = Context.for_store(self.store, self.settings, principal=as_ or principal())

        async def start(ctx: Context) -> Any:
            return await self.schema.subscribe(query, variable_values=variables, context_value=ctx)

        return await self.cohorts.stream(
            start,
            query=query,
            variables=variables,
            operation_name=None,
            context=context,
            direct=None if direct is None else lambda: direct,
        )


@pytest.fixture
def members(schema: JobgraphSchema, live_store: Store, settings: Settings) -> Members:
    return Members(schema, live_store, settings)


async def take(stream: Any, count: int | None = None) -> list[Any]:
    out: list[Any] = []
    async with asyncio.timeout(30):
        async for result in stream:
            out.append(result)
            if count is not None and len(out) >= count:
                break
    return out


def log_seqs(results: list[Any]) -> list[int]:
    seqs: list[int] = []
    for result in results:
        assert not result.errors, result.errors
        data = result.data
        if "jobLogs" in data:
            seqs.append(data["jobLogs"]["seq"])
        else:
            seqs.extend(line["seq"] for line in data["jobLogBatches"]["lines"])
    return seqs


@pytest.mark.parametrize("query", [LOGS, BATCHES])
async def test_a_cohort_runs_once_per_event_and_late_joiners_miss_nothing(
    members: Members, live_store: Store, query: str
) -> None:
    job = await make_job(live_store, lines=4)
    await set_status(live_store, job.id, JobStatus.RUNNING)
    variables = {"id": job.id, "tail": 2} if query == LOGS else {"id": job.id, "after": 2}
    streams = [await members.join(query, variables) for _ in range(10)]
    # Each member's first message is its backfill, read before any line is appended: a tail
    # counts back from the job's lines when the member's own stream reads it.
    firsts = [await take(stream, 1) for stream in streams]
    readers = [asyncio.create_task(take(stream)) for stream in streams]
    late: list[asyncio.Task[list[Any]]] = []
    await asyncio.sleep(0.05)
    before = members.cohorts.executions
    for n in range(40):  # lines 5..44, one event each
        await append_logs(live_store, job.id, 1, first=5 + n)
        await asyncio.sleep(0.005)
        if n in (10, 25):
            late.append(asyncio.create_task(take(await members.join(query, variables))))
    await asyncio.sleep(0.05)
    during = members.cohorts.executions - before
    await set_status(live_store, job.id, JobStatus.COMPLETED)
    for first, reader in zip(firsts, readers, strict=True):
        assert log_seqs(first + await reader) == list(range(3, 45))
    for reader in late:  # their own backfill (tail or after), then the cohort's lines
        got = log_seqs(await reader)
        assert got == list(range(got[0], 45))
        assert got[0] > 3 if query == LOGS else got[0] == 3
    assert during <= 45  # one execution per line (per batch), not one per member
    assert members.cohorts.count == 0  # the cohort ended with its stream


async def test_a_slow_member_is_dropped_alone(
    members: Members, live_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    job = await make_job(live_store, lines=1)
    variables = {"id": job.id, "tail": 1}
    joined: list[int] = []
    members.cohorts.opened = lambda: joined.append(1)
    slow = await members.join(LOGS, variables)
    fast = [await members.join(LOGS, variables) for _ in range(3)]
    # Each member's backfill is read before any line is appended: a tail counts back from the
    # job's lines when the member's own stream reads it.
    slow_part = await take(slow, 1)
    fast_firsts = [await take(stream, 1) for stream in fast]
    fast_readers = [asyncio.create_task(take(stream)) for stream in fast]
    seq = 1
    # The slow member keeps up for a while, until all four are on the cohort's stream.
    while seq < 5 or len(joined) < 4:
        assert seq < 40, "the members never joined their cohort's stream"
        seq += 1
        await append_logs(live_store, job.id, 1, first=seq)
        await asyncio.sleep(0.01)
        slow_part += await take(slow, 1)
    for _ in range(26):  # then reads none of these
        seq += 1
        await append_logs(live_store, job.id, 1, first=seq)
        await asyncio.sleep(0.005)
    await set_status(live_store, job.id, JobStatus.COMPLETED)
    for first, reader in zip(fast_firsts, fast_readers, strict=True):
        assert log_seqs(first + await reader) == list(range(1, seq + 1))
    *lines, error = await take(slow)
    extensions = error.errors[0].extensions
    assert extensions["code"] == "SUBSCRIPTION_OVERFLOW"
    assert error.errors[0].path is None  # as a stream of its own reports it
    assert "overflowed" not in caplog.text  # its cohort's queue dropped it, not the broker
    assert log_seqs(slow_part + lines) == list(range(1, extensions["resumeAfter"] + 1))


@pytest.mark.parametrize("query", [LOGS, BATCHES])
async def test_a_backlog_longer_than_the_queue_reaches_a_member_that_keeps_reading(
    members: Members, live_store: Store, query: str
) -> None:
    """The cohort's producer reads no backfill: each member reads its own at its own pace, so
    a log far longer than a member's queue (8 here) is neither run through the cohort as fast
    as the store answers (into queues that overflow a member reading at a socket's pace, and
    hold the log in memory) nor lost; the cohort runs live lines only."""
    job = await make_job(live_store, lines=200)
    await set_status(live_store, job.id, JobStatus.RUNNING)
    variables = {"id": job.id, "tail": 200} if query == LOGS else {"id": job.id, "after": 0}

    async def read(stream: Any) -> list[Any]:
        out: list[Any] = []
        async with asyncio.timeout(30):
            async for result in stream:
                out.append(result)
                await asyncio.sleep(0.002)  # a socket's pace: slower than reading the store
        return out

    streams = [await members.join(query, variables) for _ in range(3)]
    readers = [asyncio.create_task(read(stream)) for stream in streams]
    await asyncio.sleep(0.5)
    for n in range(5):  # lines 201..205, live
        await append_logs(live_store, job.id, 1, first=201 + n)
        await asyncio.sleep(0.02)
    await set_status(live_store, job.id, JobStatus.COMPLETED)
    for reader in readers:
        assert log_seqs(await reader) == list(range(1, 206))  # no SUBSCRIPTION_OVERFLOW
    assert members.cohorts.executions <= 5 + 1  # the live lines (and the end), no backfill


async def test_tenants_never_share(members: Members, live_store: Store) -> None:
    job = await make_job(live_store, tenant="acme", lines=2)
    ours = await members.join(LOGS, {"id": job.id}, as_=principal(tenant="acme"))
    first = await take(ours, 2)
    assert members.cohorts.count == 1
    theirs = await members.join(LOGS, {"id": job.id}, as_=principal(tenant="umbrella"))
    (refused,) = await take(theirs)
    assert refused.errors[0].extensions["code"] == "NOT_FOUND"
    await set_status(live_store, job.id, JobStatus.COMPLETED)
    assert log_seqs(first + await take(ours)) == [1, 2]


async def test_job_updated_members_share_states(members: Members, live_store: Store) -> None:
    job = await make_job(live_store)
    streams = [await members.join(UPDATED, {"id": job.id}) for _ in range(5)]
    readers = [asyncio.create_task(take(stream)) for stream in streams]
    for progress in (10, 20, 30):
        await asyncio.sleep(0.05)
        await set_status(live_store, job.id, JobStatus.RUNNING, progress=progress)
    await asyncio.sleep(0.05)
    await set_status(live_store, job.id, JobStatus.COMPLETED, progress=100)
    for reader in readers:
        states = [r.data["jobUpdated"] for r in await reader]
        assert states[0]["status"] == "PENDING" and states[-1]["status"] == "COMPLETED"
        seen = [state["progress"] for state in states]
        assert seen == sorted(seen) and len(set(seen)) == len(seen)


def test_a_shared_payload_is_spliced_with_each_id() -> None:
    data = SharedData({"jobLogs": {"seq": 1}})
    data.payload = '{"data":{"jobLogs":{"seq":1}}}'
    text = spliced_ws({"id": "7", "type": "next", "payload": {"data": data}})
    assert text == '{"id":"7","type":"next","payload":{"data":{"jobLogs":{"seq":1}}}}'
    assert spliced_ws({"id": "7", "type": "next", "payload": {"data": {"a": 1}}}) is None


class Socket:
    """A member's socket as a cohort's producer writes to it (``server.cohorts.Direct``), and
    as its handler does: both append to one timeline of message texts. While ``paused`` (its
    peer reads slowly) it refuses direct writes and its handler waits to send; once
    ``stopped`` (the operation ended) it refuses direct writes."""

    def __init__(self, operation_id: str) -> None:
        self.id = operation_id
        self.head = orjson.dumps({"id": operation_id, "type": "next", "payload": 0}).decode()[:-2]
        self.frames: list[str] = []
        self.direct_writes = 0
        self.paused = False
        self.stopped = False

    def direct(self) -> Direct:
        return Direct(self._write, self.head, lambda: not self.stopped)

    def _write(self, texts: Any) -> bool:
        if self.paused:
            return False
        self.frames.extend(texts)
        self.direct_writes += 1
        return True

    async def handle(self, stream: Any) -> None:
        """What the handler does: each result the member yields goes out as its text."""
        async with asyncio.timeout(30):
            async for result in stream:
                while self.paused:
                    await asyncio.sleep(0.005)
                payload: dict[str, Any] = {"data": result.data}
                if result.errors:
                    payload["errors"] = [e.formatted for e in result.errors]
                message = {"id": self.id, "type": "next", "payload": payload}
                self.frames.append(spliced_ws(message) or orjson.dumps(message).decode())

    def lines(self) -> list[int]:
        seqs: list[int] = []
        for frame in self.frames:
            message = orjson.loads(frame)
            assert message["id"] == self.id and message["type"] == "next", message
            if "errors" not in message["payload"]:
                seqs.append(message["payload"]["data"]["jobLogs"]["seq"])
        return seqs

    def errors(self) -> list[Any]:
        return [e for f in self.frames for e in orjson.loads(f)["payload"].get("errors", [])]


async def _arrived(seq: int, *sockets: Socket) -> None:
    """Line ``seq`` reached the sockets, and their members settled (as between a worker's
    appends) so the next line finds them waiting on the shared stream."""
    async with asyncio.timeout(10):
        while not all(socket.lines()[-1:] == [seq] for socket in sockets):
            await asyncio.sleep(0.005)
    await asyncio.sleep(0.02)


async def test_the_producer_writes_to_members_sockets_and_hands_back_to_a_slow_one(
    members: Members, live_store: Store
) -> None:
    """Members on the shared stream get each event's lines written to their sockets by the
    producer, all of an append in one write; a member whose socket refuses (a slow peer) gets
    them from its own queue instead, then direct writes again: every line once, in order, as
    the same text the handler would have sent."""
    job = await make_job(live_store, lines=1)
    await set_status(live_store, job.id, JobStatus.RUNNING)
    sockets = [Socket(f"op-{n}") for n in range(4)]
    streams = [
        await members.join(LOGS, {"id": job.id, "tail": 1}, direct=socket.direct())
        for socket in sockets
    ]
    handlers = [
        asyncio.create_task(socket.handle(stream))
        for socket, stream in zip(sockets, streams, strict=True)
    ]
    await _arrived(1, *sockets)  # the backfill: a tail counts back when it is read
    seq = 1
    for event in range(12):
        sockets[1].paused = 4 <= event < 6
        await append_logs(live_store, job.id, 3, first=seq + 1)  # three lines, one event
        seq += 3
        if sockets[1].paused:
            await asyncio.sleep(0.05)
        else:
            await _arrived(seq, *sockets)
    await set_status(live_store, job.id, JobStatus.COMPLETED)
    for socket, handler in zip(sockets, handlers, strict=True):
        await handler
        assert socket.lines() == list(range(1, seq + 1))
        assert not socket.errors()
    # One write per event (its three lines) for each member on the shared stream; the paused
    # one fell back on its queue for a while and came back.
    assert all(8 <= socket.direct_writes <= 12 for socket in sockets[::2])
    assert 3 <= sockets[1].direct_writes < sockets[0].direct_writes
    assert members.cohorts.count == 0


async def test_a_member_whose_socket_stays_full_overflows_with_where_it_was(
    members: Members, live_store: Store
) -> None:
    """A member whose socket refuses direct writes and whose queue fills (8 here) is dropped
    alone with SUBSCRIPTION_OVERFLOW, ``resumeAfter`` counting the lines written directly; an
    operation that has ended gets nothing more written to its socket."""
    job = await make_job(live_store, lines=1)
    await set_status(live_store, job.id, JobStatus.RUNNING)
    full, ended, fine = Socket("full"), Socket("ended"), Socket("fine")
    variables = {"id": job.id, "tail": 1}
    handlers = [
        asyncio.create_task(
            socket.handle(await members.join(LOGS, variables, direct=socket.direct()))
        )
        for socket in (full, ended, fine)
    ]
    await _arrived(1, full, ended, fine)
    for seq in range(2, 5):  # all three join the shared stream: then written directly
        await append_logs(live_store, job.id, 1, first=seq)
        await _arrived(seq, full, ended, fine)
    assert full.direct_writes > 0 and ended.direct_writes > 0
    full.paused = True
    ended.stopped = True
    ended_writes = ended.direct_writes
    for seq in range(5, 21):
        await append_logs(live_store, job.id, 1, first=seq)
        await _arrived(seq, ended, fine)
    assert ended.direct_writes == ended_writes
    full.paused = False
    await set_status(live_store, job.id, JobStatus.COMPLETED)
    for handler in handlers:
        await handler
    (error,) = full.errors()
    assert error["extensions"]["code"] == "SUBSCRIPTION_OVERFLOW"
    assert full.lines() == list(range(1, error["extensions"]["resumeAfter"] + 1))
    assert ended.lines() == fine.lines() == list(range(1, 21))


@pytest.mark.parametrize("query", [LOGS, BATCHES])
async def test_members_with_nothing_to_catch_up_join_before_any_line(
    members: Members, live_store: Store, query: str
) -> None:
    """A member whose backfill is empty (``after`` at the log's end, or a ``tail`` of 0) is on
    its cohort's stream before the first line: the first append runs one execution for all,
    not one per member."""
    job = await make_job(live_store, lines=3)
    await set_status(live_store, job.id, JobStatus.RUNNING)
    variables = {"id": job.id, "tail": 0} if query == LOGS else {"id": job.id, "after": 3}
    joined: list[int] = []
    members.cohorts.opened = lambda: joined.append(1)
    sockets = [Socket(f"op-{n}") for n in range(10)]
    handlers = [
        asyncio.create_task(
            socket.handle(await members.join(query, variables, direct=socket.direct()))
        )
        for socket in sockets
    ]
    async with asyncio.timeout(10):
        while len(joined) < len(sockets):
            await asyncio.sleep(0.01)
    before = members.cohorts.executions
    await append_logs(live_store, job.id, 2, first=4)
    await asyncio.sleep(0.1)
    assert members.cohorts.executions - before == (2 if query == LOGS else 1)
    assert all(socket.direct_writes == 1 for socket in sockets)  # both lines, one write
    await set_status(live_store, job.id, JobStatus.COMPLETED)
    for handler in handlers:
        await handler
    for socket in sockets:
        sent = [orjson.loads(frame)["payload"]["data"] for frame in socket.frames]
        assert log_seqs([type("R", (), {"data": d, "errors": None})() for d in sent]) == [4, 5]


async def test_a_failing_shared_stream_ends_its_members_with_an_error(
    members: Members,
    live_store: Store,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When the cohort's own execution fails outside the operation (here: its result cannot
    be encoded), its members get an INTERNAL_SERVER_ERROR (and the log the traceback), never a
    completion that would look like the job's end."""
    job = await make_job(live_store, lines=1)
    await set_status(live_store, job.id, JobStatus.RUNNING)
    sockets = [Socket(f"op-{n}") for n in range(3)]
    handlers = [
        asyncio.create_task(
            socket.handle(
                await members.join(LOGS, {"id": job.id, "tail": 1}, direct=socket.direct())
            )
        )
        for socket in sockets
    ]
    await _arrived(1, *sockets)
    await append_logs(live_store, job.id, 1, first=2)
    await _arrived(2, *sockets)  # all on the shared stream now

    def unencodable(result: Any) -> Any:
        raise TypeError("Integer exceeds 64-bit range")

    monkeypatch.setattr(Cohorts, "_shared", staticmethod(unencodable))
    await append_logs(live_store, job.id, 1, first=3)
    async with asyncio.timeout(10):
        for handler in handlers:
            await handler  # the streams end without the job ending
    for socket in sockets:
        assert socket.lines() == [1, 2]
        (error,) = socket.errors()
        assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
        assert "64-bit" not in error["message"]
    assert "Integer exceeds 64-bit range" in caplog.text
