"""jobs(filter, first, after): keyset pages, filters, cursors, tenants, on every backend."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from domain.principal import Scope
from domain.videos import Platform, VideoRef
from storage.records import JobRecord
from storage.store import Store
from tests.conftest import GraphQLRunner, principal
from tests.factories import make_job

PAGE = """query Page($first: Int, $after: String, $filter: JobFilter) {
  jobs(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id status createdAt } } } }"""


def codes(result: object) -> list[str]:
    return [error.extensions["code"] for error in result.errors or []]  # type: ignore[attr-defined]


def newest_first(records: list[JobRecord]) -> list[str]:
    return [r.id for r in sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)]


async def test_walk_every_page_while_jobs_arrive(gql: GraphQLRunner, store: Store) -> None:
    records = [await make_job(store, items=1) for _ in range(250)]
    expected = newest_first(records)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        result = await gql(PAGE, {"first": 40, "after": after})
        assert result.errors is None, result.errors
        connection = result.data["jobs"]
        seen += [edge["node"]["id"] for edge in connection["edges"]]
        pages += 1
        assert connection["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not connection["pageInfo"]["hasNextPage"]:
            break
        assert pages < 10, "the walk must end"
        after = connection["pageInfo"]["endCursor"]
        assert after == connection["edges"][-1]["cursor"]
        # Newer jobs sort before every cursor handed out: they must not shift the next page.
        await make_job(store, items=1)
        await make_job(store, items=1)
    assert pages == 7
    assert seen == expected  # every job exactly once, newest first
    assert connection["totalCount"] == 250 + 2 * 6


async def test_filters(gql: GraphQLRunner, store: Store) -> None:
    youtube = await make_job(store, items=2)
    tiktok, _ = await store.jobs.create_job(
        tenant="default", items=[VideoRef(Platform.TIKTOK, "6718335390845095173")]
    )
    await make_job(store, tenant="other")

    async def ids(filter: dict[str, Any], first: int = 10) -> tuple[list[str], int]:
        result = await gql(PAGE, {"first": first, "filter": filter})
        assert result.errors is None, result.errors
        data = result.data["jobs"]
        return [edge["node"]["id"] for edge in data["edges"]], data["totalCount"]

    assert await ids({}) == ([tiktok.id, youtube.id], 2)
    assert await ids({"platform": "TIKTOK"}) == ([tiktok.id], 1)
    assert await ids({"platform": "INSTAGRAM"}) == ([], 0)
    assert await ids({"statuses": ["PENDING", "RUNNING"]}) == ([tiktok.id, youtube.id], 2)
    assert await ids({"statuses": ["FAILED"]}) == ([], 0)
    assert await ids({"createdAfter": tiktok.created_at.isoformat()}) == ([tiktok.id], 1)
    assert await ids({"createdBefore": tiktok.created_at.isoformat()}) == ([youtube.id], 1)
    window = {
        "createdAfter": (youtube.created_at - timedelta(seconds=1)).isoformat(),
        "createdBefore": (tiktok.created_at + timedelta(seconds=1)).isoformat(),
        "statuses": ["PENDING"],
        "platform": "YOUTUBE",
    }
    assert await ids(window) == ([youtube.id], 1)
    # A page smaller than the match count still counts every match.
    assert await ids({}, first=1) == ([tiktok.id], 2)


async def test_tenants_and_admin(gql: GraphQLRunner, store: Store) -> None:
    mine = await make_job(store, tenant="a")
    theirs = await make_job(store, tenant="b")
    result = await gql(PAGE, {"first": 10}, as_=principal(tenant="a"))
    assert [e["node"]["id"] for e in result.data["jobs"]["edges"]] == [mine.id]
    admin = principal(tenant="ops", scopes={Scope.ADMIN})
    result = await gql(PAGE, {"first": 10}, as_=admin)
    assert [e["node"]["id"] for e in result.data["jobs"]["edges"]] == [theirs.id, mine.id]
    result = await gql(PAGE, {"first": 10}, as_=principal(scopes={Scope.WORK}))
    assert codes(result) == ["FORBIDDEN"]


async def test_bad_arguments(gql: GraphQLRunner, store: Store) -> None:
    await make_job(store)
    not_ours = base64.urlsafe_b64encode(b"offset:40").decode()
    bad_id = base64.urlsafe_b64encode(b"job:2025-01-01T00:00:00+00:00|nope").decode()
    for variables in (
        {"first": 0},
        {"first": 101},
        {"first": -5},
        {"first": 10, "after": "not a cursor!"},
        {"first": 10, "after": not_ours},
        {"first": 10, "after": bad_id},
        {
            "first": 10,
            "filter": {
                "createdAfter": "2025-01-02T00:00:00Z",
                "createdBefore": "2025-01-01T00:00:00Z",
            },
        },
        {"first": 10, "filter": {"createdAfter": "2025-01-02T00:00:00"}},
        {"first": 10, "filter": {"statuses": ["NOPE"]}},
    ):
        result = await gql(PAGE, variables)
        assert codes(result) == ["BAD_USER_INPUT"], (variables, result.errors)
    result = await gql(PAGE, {"first": 100})
    assert result.errors is None


async def test_empty_list_and_default_page(gql: GraphQLRunner, store: Store) -> None:
    result = await gql(
        "{ jobs { totalCount pageInfo { hasNextPage endCursor } edges { cursor } } }"
    )
    assert result.errors is None
    assert result.data["jobs"] == {
        "totalCount": 0,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "edges": [],
    }
    for _ in range(21):
        await make_job(store, items=1)
    result = await gql("{ jobs { pageInfo { hasNextPage } edges { cursor } } }")
    assert len(result.data["jobs"]["edges"]) == 20
    assert result.data["jobs"]["pageInfo"]["hasNextPage"] is True
