"""Job.logs(after, first, before, last): pages of log lines by seq, in both directions."""

from __future__ import annotations

from storage.store import Store
from tests.conftest import GraphQLRunner
from tests.factories import make_job

LOGS = """query Logs($id: ID!, $after: Int, $first: Int, $before: Int, $last: Int) {
  job(id: $id) { logs(after: $after, first: $first, before: $before, last: $last) {
    hasMore lines { seq message level timestamp } } } }"""


async def page(gql: GraphQLRunner, job_id: str, **arguments: int) -> tuple[list[int], bool]:
    result = await gql(LOGS, {"id": job_id, **arguments})
    assert result.errors is None, result.errors
    logs = result.data["job"]["logs"]
    seqs = [line["seq"] for line in logs["lines"]]
    assert all(line["message"] == f"line {line['seq']}" for line in logs["lines"])
    return seqs, logs["hasMore"]


async def test_forward_walk(gql: GraphQLRunner, store: Store) -> None:
    job = await make_job(store, lines=25)
    await make_job(store, lines=30)  # another job's lines must not leak in
    seen: list[int] = []
    after = 0
    while True:
        seqs, more = await page(gql, job.id, after=after, first=10)
        seen += seqs
        if not more:
            break
        after = seqs[-1]
    assert seen == list(range(1, 26))
    assert await page(gql, job.id, first=25) == (list(range(1, 26)), False)
    assert await page(gql, job.id, after=25, first=5) == ([], False)
    assert await page(gql, job.id) == (list(range(1, 26)), False)  # default: forward from start


async def test_backward_walk(gql: GraphQLRunner, store: Store) -> None:
    job = await make_job(store, lines=25)
    seen: list[int] = []
    before = None
    while True:
        arguments = {"last": 10} if before is None else {"last": 10, "before": before}
        seqs, more = await page(gql, job.id, **arguments)
        assert seqs == sorted(seqs)  # each page reads oldest first
        seen = seqs + seen
        if not more:
            break
        before = seqs[0]
    assert seen == list(range(1, 26))
    assert await page(gql, job.id, before=4) == ([1, 2, 3], False)  # only before: backward
    assert await page(gql, job.id, after=5, before=9) == ([6, 7, 8], False)
    assert await page(gql, job.id, after=5, before=20, last=3) == ([17, 18, 19], True)
    assert await page(gql, job.id, after=5, before=20, first=3) == ([6, 7, 8], True)


async def test_no_lines(gql: GraphQLRunner, store: Store) -> None:
    job = await make_job(store, lines=0)
    assert await page(gql, job.id, first=5) == ([], False)
    assert await page(gql, job.id, last=5) == ([], False)


async def test_nonsense_is_bad_user_input(gql: GraphQLRunner, store: Store) -> None:
    job = await make_job(store, lines=3)
    for arguments in (
        {"first": 1, "last": 1},
        {"first": 0},
        {"last": 0},
        {"first": -1},
        {"first": 10_001},
        {"after": -1},
        {"before": -3},
        {"after": 5, "before": 5},
        {"after": 9, "before": 2},
    ):
        result = await gql(LOGS, {"id": job.id, **arguments})
        assert [e.extensions["code"] for e in result.errors or []] == ["BAD_USER_INPUT"], arguments
