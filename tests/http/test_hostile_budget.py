"""Hostile reads of log text: however a request asks (a huge tail, aliases of it, a page of
jobs, log pages, REST, a mutation's answer), it answers at most the response budget
(JOBGRAPH_MAX_RESPONSE_BYTES / _LINES) with the truncation signal, in bounded time and memory,
and the server keeps serving meanwhile. Both databases; the HTTP layer also runs with the fast
paths off (make test), and the differential test below compares the two paths answer for
answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from strawberry.types import ExecutionResult

from resolvers.context import Context
from schema.build import build_schema
from settings import Settings
from storage.coltypes import utcnow
from storage.logs import append_lines
from storage.records import JobRecord
from storage.store import Store
from tests.conftest import principal
from tests.factories import make_job
from tests.http_client import Client, app_client

BUDGET = 8 * 1024 * 1024
LINE = 16_384  # the largest message a worker may write
SECONDS = 5.0  # per request: the window scan of 10,000 16 KiB lines takes a few hundred ms
PEAK_BYTES = 96 * 1024 * 1024  # the answer is 8 MiB; its read, text and JSON hold a few copies


async def huge_job(store: Store, *, lines: int = 10_000, width: int = LINE) -> JobRecord:
    """A job whose log is ``lines`` lines of ``width`` bytes, each line telling its seq."""
    job = await make_job(store, items=1)
    stamp = utcnow()
    for start in range(0, lines, 500):
        batch = [
            (stamp, "INFO", f"{seq:06d}".ljust(width, "x"))
            for seq in range(start + 1, min(lines, start + 500) + 1)
        ]
        await store.db.write(partial(append_lines, job_id=job.id, lines=batch))
    found = await store.jobs.get_job(job_id=job.id, tenant=None)
    assert found is not None
    return found


async def measured(call: Callable[[], Awaitable[httpx.Response]]) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await call()
    return response, time.perf_counter() - started


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise AssertionError(field)


async def peak_of(call: Callable[[], Awaitable[httpx.Response]]) -> int:
    """How far the process's resident memory rose above where it stood while ``call`` ran
    (Linux: writing 5 to clear_refs resets the high-water mark)."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before = _status("VmRSS:")
    await call()
    return _status("VmHWM:") - before


def cost(text: str) -> int:
    return len(text.encode()) + 1 if text else 0


@pytest.fixture
async def big(database_url: str) -> AsyncIterator[tuple[Client, JobRecord]]:
    async with app_client(database_url) as client:
        yield client, await huge_job(client.store)


async def test_a_huge_tail_is_the_newest_lines_that_fit(big: tuple[Client, JobRecord]) -> None:
    client, job = big
    query = {"query": f'{{ job(id: "{job.id}") {{ logTail logTailTruncated logLineCount }} }}'}
    response, seconds = await measured(lambda: client.post(query))
    assert seconds < SECONDS
    answer = response.json()["data"]["job"]
    lines = answer["logTail"].split("\n")
    assert len(lines) == BUDGET // (LINE + 1) == 511
    assert cost(answer["logTail"]) <= BUDGET
    assert lines[0].startswith("009490") and lines[-1].startswith("010000")
    assert answer["logTailTruncated"] is True and answer["logLineCount"] == 10_000
    assert await peak_of(lambda: client.post(query)) < PEAK_BYTES
    # A tail the budget holds is whole, and says so.
    small = {"query": f'{{ job(id: "{job.id}", tail: 100) {{ logTail logTailTruncated }} }}'}
    answer = (await client.post(small)).json()["data"]["job"]
    assert len(answer["logTail"].split("\n")) == 100 and answer["logTailTruncated"] is False


async def test_aliases_share_one_budget_and_the_server_keeps_serving(
    big: tuple[Client, JobRecord],
) -> None:
    client, job = big
    aliases = " ".join(
        f'a{n}: job(id: "{job.id}") {{ logTail logTailTruncated }}' for n in range(4)
    )
    query = {"query": f"{{ {aliases} }}"}
    stalls: list[float] = []

    async def health() -> None:
        # From when each probe was due to its answer: a blocked loop delays both.
        while True:
            due = time.perf_counter() + 0.01
            await asyncio.sleep(0.01)
            assert (await client.http.get("/healthz")).status_code == 200
            stalls.append(time.perf_counter() - due)

    watcher = asyncio.create_task(health())
    try:
        results = await asyncio.gather(*(measured(lambda: client.post(query)) for _ in range(4)))
    finally:
        watcher.cancel()
    for response, seconds in results:
        assert seconds < 4 * SECONDS
        data = response.json()["data"]
        # Field order decides: the first alias takes what fits, the others find nothing left.
        assert len(data["a0"]["logTail"].split("\n")) == 511
        assert [data[f"a{n}"]["logTail"] for n in (1, 2, 3)] == ["", "", ""]
        assert all(data[f"a{n}"]["logTailTruncated"] for n in range(4))
        assert sum(cost(data[f"a{n}"]["logTail"]) for n in range(4)) <= BUDGET
    assert stalls and max(stalls) < 1.0, max(stalls)
    assert await peak_of(lambda: client.post(query)) < PEAK_BYTES


async def test_rest_status_without_tail_is_budgeted(big: tuple[Client, JobRecord]) -> None:
    client, job = big
    headers = {"X-API-Key": client.key}
    response, seconds = await measured(
        lambda: client.http.get(f"/status/{job.id}", headers=headers)
    )
    assert seconds < SECONDS and response.status_code == 200
    body = response.json()
    assert len(body["log_tail"].split("\n")) == 511 and body["log_truncated"] is True
    assert await peak_of(lambda: client.http.get(f"/status/{job.id}", headers=headers)) < (
        PEAK_BYTES
    )
    body = (await client.http.get(f"/status/{job.id}?tail=3", headers=headers)).json()
    assert len(body["log_tail"].split("\n")) == 3 and body["log_truncated"] is False


async def test_log_pages_stop_early_and_page_on(big: tuple[Client, JobRecord]) -> None:
    client, job = big
    page = f'{{ job(id: "{job.id}", tail: 0) {{ logs(after: $after, first: 10000) {{ lines {{ seq }} hasMore }} }} }}'  # noqa: E501
    document = "query($after: Int) " + page
    response, seconds = await measured(
        lambda: client.post({"query": document, "variables": {"after": 0}})
    )
    assert seconds < SECONDS
    logs = response.json()["data"]["job"]["logs"]
    assert [line["seq"] for line in logs["lines"]] == list(range(1, 512))
    assert logs["hasMore"] is True
    # A client paging while hasMore reaches the end, one budget per request.
    after, pages = 511, 1
    while logs["hasMore"]:
        response = await client.post({"query": document, "variables": {"after": after}})
        logs = response.json()["data"]["job"]["logs"]
        assert logs["lines"][0]["seq"] == after + 1
        after = logs["lines"][-1]["seq"]
        pages += 1
    assert after == 10_000 and pages == 20
    backward = (
        f'{{ job(id: "{job.id}", tail: 0) {{ logs(last: 10000) {{ lines {{ seq }} hasMore }} }} }}'
    )
    logs = (await client.post({"query": backward})).json()["data"]["job"]["logs"]
    assert [line["seq"] for line in logs["lines"]] == list(range(9490, 10_001))
    assert logs["hasMore"] is True


async def test_a_mutation_answer_is_budgeted(big: tuple[Client, JobRecord]) -> None:
    client, job = big
    mutation = (
        f'mutation {{ cancelJob(id: "{job.id}") {{ status logTail logTailTruncated '
        "logs(last: 10000) { lines { seq } hasMore } } }"
    )
    response, seconds = await measured(lambda: client.post({"query": mutation}))
    assert seconds < SECONDS
    answer = response.json()["data"]["cancelJob"]
    assert answer["status"] == "CANCELLED"
    # A mutation's answer reads its tail in a batch (a DataLoader), after the page, which
    # reads at once: the page takes what fits, the tail finds nothing left.
    assert len(answer["logs"]["lines"]) == 511 and answer["logs"]["hasMore"] is True
    assert answer["logTail"] == "" and answer["logTailTruncated"] is True
    page = f'{{ job(id: "{job.id}", tail: 0) {{ logs(last: 10000) {{ lines {{ message }} }} }} }}'
    assert await peak_of(lambda: client.post({"query": page})) < PEAK_BYTES


# Neighbours, on small logs with a small budget (cheap to build, the same code paths).
SMALL = {"max_response_bytes": 64 * 1024, "max_response_lines": 100, "max_log_message_bytes": 4096}


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[Client]:
    async with app_client(database_url, **SMALL) as client:
        yield client


async def test_the_line_budget_cuts_across_fields(client: Client) -> None:
    job = await make_job(client.store, lines=200)
    query = " ".join(
        f'a{n}: job(id: "{job.id}", tail: 60) {{ logTail logTailTruncated }}' for n in range(3)
    )
    data = (await client.post({"query": f"{{ {query} }}"})).json()["data"]
    assert [len(data[f"a{n}"]["logTail"].split("\n")) for n in (0, 1)] == [60, 40]
    assert data["a2"]["logTail"] == ""
    assert [data[f"a{n}"]["logTailTruncated"] for n in range(3)] == [False, True, True]


async def test_a_page_gives_each_job_an_equal_share(client: Client) -> None:
    for _ in range(4):
        await make_job(client.store, lines=50)
    query = "{ jobs(first: 10, tail: 50) { edges { node { logTail logTailTruncated } } } }"
    nodes = [
        edge["node"]
        for edge in (await client.post({"query": query})).json()["data"]["jobs"]["edges"]
    ]
    assert [len(node["logTail"].split("\n")) for node in nodes] == [25] * 4
    assert all(node["logTailTruncated"] for node in nodes)
    roomy = "{ jobs(first: 10, tail: 20) { edges { node { logTail logTailTruncated } } } }"
    nodes = [
        edge["node"]
        for edge in (await client.post({"query": roomy})).json()["data"]["jobs"]["edges"]
    ]
    assert [len(node["logTail"].split("\n")) for node in nodes] == [20] * 4
    assert not any(node["logTailTruncated"] for node in nodes)


async def test_log_pages_of_a_page_of_jobs_share_the_budget(client: Client) -> None:
    for _ in range(3):
        await make_job(client.store, lines=80)
    query = "{ jobs(first: 3, tail: 0) { edges { node { logs(last: 80) { lines { seq } hasMore } } } } }"  # noqa: E501
    edges = (await client.post({"query": query})).json()["data"]["jobs"]["edges"]
    pages = [edge["node"]["logs"] for edge in edges]
    # In field order: 80 lines, then the 20 the budget has left, then none.
    assert [len(page["lines"]) for page in pages] == [80, 20, 0]
    assert [page["hasMore"] for page in pages] == [False, True, True]
    assert pages[1]["lines"][-1]["seq"] == 80  # a backward page keeps the newest lines


async def test_bytes_cut_a_page_of_wide_lines(client: Client) -> None:
    job = await huge_job(client.store, lines=40, width=4096)
    query = f'{{ job(id: "{job.id}", tail: 0) {{ logs(first: 40) {{ lines {{ seq message }} hasMore }} }} }}'  # noqa: E501
    logs = (await client.post({"query": query})).json()["data"]["job"]["logs"]
    assert len(logs["lines"]) == 64 * 1024 // 4097 == 15 and logs["hasMore"] is True
    assert sum(len(line["message"]) + 1 for line in logs["lines"]) <= 64 * 1024


async def test_rest_status_reports_the_cut(client: Client) -> None:
    job = await make_job(client.store, lines=150)
    headers = {"X-API-Key": client.key}
    body = (await client.http.get(f"/status/{job.id}", headers=headers)).json()
    assert len(body["log_tail"].split("\n")) == 100 and body["log_truncated"] is True
    assert body["log_tail"].split("\n")[-1] == "line 150"
    body = (await client.http.get(f"/status/{job.id}?tail=100", headers=headers)).json()
    assert body["log_truncated"] is False


async def test_every_mutation_answer_reads_within_the_budget(client: Client) -> None:
    job = await make_job(client.store, lines=150)
    fields = "logTail logTailTruncated logLineCount"
    retry = f'mutation {{ cancelJob(id: "{job.id}") {{ {fields} }} }}'
    answer = (await client.post({"query": retry})).json()["data"]["cancelJob"]
    assert len(answer["logTail"].split("\n")) == 100 and answer["logTailTruncated"] is True
    assert answer["logLineCount"] == 150


async def test_each_subscription_event_has_a_budget_of_its_own(client: Client) -> None:
    job = await make_job(client.store, lines=150)
    settings = client.store.db.settings
    context = Context.for_store(client.store, settings, principal=principal())
    query = f'subscription {{ jobUpdated(id: "{job.id}") {{ status logTail logTailTruncated }} }}'
    stream = await build_schema(settings).subscribe(query, context_value=context)
    assert not isinstance(stream, ExecutionResult)
    try:
        first = await asyncio.wait_for(anext(stream), 10)
        # A change makes the second (and last) event.
        await client.store.lifecycle.cancel(tenant=None, job_id=job.id)
        second = await asyncio.wait_for(anext(stream), 10)
    finally:
        await stream.aclose()
    assert first.data is not None and second.data is not None
    events = [first.data["jobUpdated"], second.data["jobUpdated"]]
    assert [event["status"] for event in events] == ["PENDING", "CANCELLED"]
    for event in events:  # each as much as the budget holds, not what the first one left
        assert len(event["logTail"].split("\n")) == 100 and event["logTailTruncated"] is True


def test_the_budget_must_hold_the_widest_line() -> None:
    with pytest.raises(ValidationError, match="max_response_bytes"):
        Settings(max_response_bytes=65536, max_log_message_bytes=65536)


async def test_fast_and_stock_paths_cut_alike(database_url: str) -> None:
    """The same documents, cut by the same budget, on an app with the fast paths and one
    without: the same JSON."""
    documents = [
        '{ a: job(id: "$ID", tail: 70) { logTail logTailTruncated } '
        'b: job(id: "$ID") { logTail logTailTruncated logs(last: 30) { lines { seq } hasMore } } }',
        "{ jobs(first: 5, tail: 40) { edges { node { id logTail logTailTruncated "
        "logs(first: 30) { lines { seq message } hasMore } } } } }",
        '{ job(id: "$ID", tail: 0) { x: logs(first: 90) { lines { seq } hasMore } '
        "y: logs(last: 90) { lines { seq } hasMore } } }",
    ]
    # A mutation's answer (its tail through a DataLoader): each app cancels a job of its own.
    cancel = (
        'mutation { cancelJob(id: "$ID") { status logTail logTailTruncated '
        "logs(last: 90) { lines { seq } hasMore } } }"
    )
    answers: list[list[Any]] = []
    for fast in (True, False):
        async with app_client(database_url, fast_paths=fast, **SMALL) as client:
            if fast:
                jobs = [await make_job(client.store, lines=60 + n * 10) for n in range(5)]
                spare = [await make_job(client.store, lines=130) for _ in range(2)]
            got = []
            for document in documents:
                response = await client.post({"query": document.replace("$ID", jobs[-1].id)})
                assert "errors" not in response.json(), response.text
                got.append(response.json())
            got.append((await client.post({"query": cancel.replace("$ID", spare[fast].id)})).json())
            answers.append(got)
    assert answers[0] == answers[1]
