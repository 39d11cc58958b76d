"""job(id, tail) and createJob at the schema level, on every backend."""

from __future__ import annotations

import uuid

import pytest

from domain.principal import Scope
from tests.conftest import GraphQLRunner, principal
from tests.factories import make_job

JOB = """query Job($id: ID!, $tail: Int) { job(id: $id, tail: $tail) {
  id status progress createdAt updatedAt startedAt finishedAt error logTail logLineCount
  cancelable retryable attempt itemCounts { total pending }
  items { position platform code url status error } } }"""
CREATE = """mutation Create($input: CreateJobInput!) { createJob(input: $input) {
  id status progress items { position platform code url status } logTail logLineCount } }"""


def codes(result: object) -> list[str]:
    return [error.extensions["code"] for error in result.errors or []]  # type: ignore[attr-defined]


async def test_fetch_returns_full_metadata(gql: GraphQLRunner, store) -> None:
    job = await make_job(store, items=3, lines=5)
    result = await gql(JOB, {"id": job.id})
    assert result.errors is None
    data = result.data["job"]
    assert data["id"] == job.id
    assert data["status"] == "PENDING"
    assert data["progress"] == 0
    assert data["logTail"] == "\n".join(f"line {n}" for n in range(1, 6))
    assert data["logLineCount"] == 5
    assert [item["position"] for item in data["items"]] == [0, 1, 2]
    assert data["items"][0]["url"].startswith("https://www.youtube.com/watch?v=")
    assert data["itemCounts"] == {"total": 3, "pending": 3}
    assert data["cancelable"] is True and data["retryable"] is False
    assert data["createdAt"].endswith("+00:00")


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        (None, range(1, 51)),
        (0, range(0)),
        (2, range(49, 51)),
        (50, range(1, 51)),
        (500, range(1, 51)),
    ],
)
async def test_tail(gql: GraphQLRunner, store, tail: int | None, expected: range) -> None:
    job = await make_job(store, lines=50)
    result = await gql(JOB, {"id": job.id, "tail": tail})
    assert result.errors is None
    assert result.data["job"]["logTail"] == "\n".join(f"line {n}" for n in expected)


async def test_tail_omitted_is_capped(gql: GraphQLRunner, store) -> None:
    gql.settings = gql.settings.model_copy(update={"max_tail": 10})
    job = await make_job(store, lines=25)
    result = await gql(JOB, {"id": job.id})
    assert result.data["job"]["logTail"].split("\n") == [f"line {n}" for n in range(16, 26)]


@pytest.mark.parametrize("tail", [-1, 10_001, 2**31 - 1])
async def test_bad_tail_is_bad_user_input(gql: GraphQLRunner, store, tail: int) -> None:
    job = await make_job(store)
    result = await gql(JOB, {"id": job.id, "tail": tail})
    assert result.data == {"job": None}
    assert codes(result) == ["BAD_USER_INPUT"]


async def test_unknown_id_is_not_found(gql: GraphQLRunner) -> None:
    result = await gql(JOB, {"id": str(uuid.uuid4())})
    assert result.data == {"job": None}
    assert codes(result) == ["NOT_FOUND"]


@pytest.mark.parametrize("bad_id", ["nope", "", "123", "' OR 1=1 --", "0" * 1000])
async def test_invalid_id_is_bad_user_input(gql: GraphQLRunner, bad_id: str) -> None:
    result = await gql(JOB, {"id": bad_id})
    assert codes(result) == ["BAD_USER_INPUT"]


async def test_id_is_normalised(gql: GraphQLRunner, store) -> None:
    job = await make_job(store)
    result = await gql(JOB, {"id": job.id.upper()})
    assert result.data["job"]["id"] == job.id


async def test_other_tenants_job_is_not_found(gql: GraphQLRunner, store) -> None:
    job = await make_job(store, tenant="acme")
    result = await gql(JOB, {"id": job.id}, as_=principal(tenant="globex"))
    assert codes(result) == ["NOT_FOUND"]
    admin = principal(tenant="ops", scopes={Scope.ADMIN})
    assert (await gql(JOB, {"id": job.id}, as_=admin)).data["job"]["id"] == job.id


async def test_read_needs_read_scope(gql: GraphQLRunner, store) -> None:
    job = await make_job(store)
    result = await gql(JOB, {"id": job.id}, as_=principal(scopes={Scope.SUBMIT}))
    assert codes(result) == ["FORBIDDEN"]


async def test_create_job_from_codes_and_urls(gql: GraphQLRunner) -> None:
    items = [
        {"platform": "YOUTUBE", "code": "dQw4w9WgXcQ"},
        {"url": "https://www.instagram.com/reel/C1a2B3c4D5e/"},
        {"url": "https://www.tiktok.com/@scout2015/video/6718335390845095173"},
    ]
    result = await gql(CREATE, {"input": {"items": items}})
    assert result.errors is None
    job = result.data["createJob"]
    uuid.UUID(job["id"])
    assert job["status"] == "PENDING" and job["logTail"] == "" and job["logLineCount"] == 0
    assert [(i["platform"], i["code"]) for i in job["items"]] == [
        ("YOUTUBE", "dQw4w9WgXcQ"),
        ("INSTAGRAM", "C1a2B3c4D5e"),
        ("TIKTOK", "6718335390845095173"),
    ]
    again = await gql(JOB, {"id": job["id"], "tail": 2})
    assert again.data["job"]["items"] == [{**i, "error": None} for i in job["items"]]


@pytest.mark.parametrize(
    "items",
    [
        [],
        [{"platform": "YOUTUBE"}],
        [{"platform": "YOUTUBE", "code": "bad"}],
        [{"url": "https://vimeo.com/1"}],
        [{"platform": "YOUTUBE", "code": "dQw4w9WgXcQ"}] * 1001,
    ],
)
async def test_create_job_refuses_bad_items(
    gql: GraphQLRunner, items: list[dict[str, str]]
) -> None:
    result = await gql(CREATE, {"input": {"items": items}})
    assert result.data is None
    assert codes(result) == ["BAD_USER_INPUT"]


async def test_create_job_needs_submit_scope(gql: GraphQLRunner) -> None:
    items = [{"platform": "YOUTUBE", "code": "dQw4w9WgXcQ"}]
    result = await gql(CREATE, {"input": {"items": items}}, as_=principal(scopes={Scope.READ}))
    assert codes(result) == ["FORBIDDEN"]


async def test_unknown_enum_and_missing_variable_are_bad_user_input(gql: GraphQLRunner) -> None:
    result = await gql(CREATE, {"input": {"items": [{"platform": "VIMEO", "code": "x"}]}})
    assert codes(result) == ["BAD_USER_INPUT"]
    result = await gql(JOB, {})
    assert codes(result) == ["BAD_USER_INPUT"]
    result = await gql("{ job(id: ")
    assert codes(result) == ["BAD_USER_INPUT"]
