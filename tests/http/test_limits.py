"""Every limit tripped, with its error code: document shape, lists, body size, rate, and what
production mode turns off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from domain.rate_limit import RateLimiter
from server.graphql_view import GraphQLView
from settings import Settings
from tests.http_client import Client, app_client

GQL_RESPONSE = "application/graphql-response+json"
CREATE = "mutation($i: CreateJobInput!) { createJob(input: $i) { id } }"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/jobgraph.db"


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[Client]:
    async with app_client(
        database_url,
        max_query_depth=3,
        max_aliases=2,
        max_tokens=200,
        max_list_length=5,
        max_body_bytes=2048,
    ) as client:
        yield client


def first_error(response: httpx.Response) -> dict[str, object]:
    error: dict[str, object] = response.json()["errors"][0]
    return error


def code(response: httpx.Response) -> object:
    return first_error(response)["extensions"]["code"]  # type: ignore[index]


async def test_depth_limit_refuses_a_deep_document(database_url: str) -> None:
    async with app_client(database_url, max_query_depth=1) as client:
        response = await client.post(
            {"query": '{ job(id: "x") { items { code } } }'}, accept=GQL_RESPONSE
        )
    assert response.status_code == 400
    assert code(response) == "BAD_USER_INPUT"
    assert "exceeds maximum operation depth of 1" in first_error(response)["message"]  # type: ignore[operator]
    assert "data" not in response.json()
    # Fragments do not hide depth: it is measured through them.
    async with app_client(database_url, max_query_depth=2) as client:
        shallow = {"query": '{ job(id: "x") { items { code } } }'}
        assert "maximum operation depth" not in (await client.post(shallow)).text
        deep = """{ job(id: "x") { ...J } }
          fragment J on Job { items { ... on VideoItem { url } } }"""
        deeper = """{ job(id: "x") { ...J } } fragment J on Job { items { ...V } }
          fragment V on VideoItem { url }"""
        for document in (deep, deeper):
            assert "maximum operation depth" not in (await client.post({"query": document})).text
    async with app_client(database_url, max_query_depth=1) as client:
        for document in (deep, deeper):
            response = await client.post({"query": document}, accept=GQL_RESPONSE)
            assert response.status_code == 400, document


async def test_alias_limit(client: Client) -> None:
    two = {"query": "{ a: me { name } b: me { name } }"}
    assert (await client.post(two)).json()["data"]["a"]["name"] == "k"
    three = {"query": "{ a: me { name } b: me { name } c: me { name } }"}
    response = await client.post(three, accept=GQL_RESPONSE)
    assert response.status_code == 400 and code(response) == "BAD_USER_INPUT"
    assert "3 aliases found. Allowed: 2" in response.text


async def test_token_limit(database_url: str) -> None:
    fields = " ".join(["__typename"] * 120)
    async with app_client(database_url, max_tokens=100) as client:
        response = await client.post({"query": f"{{ {fields} }}"}, accept=GQL_RESPONSE)
    assert response.status_code == 400 and code(response) == "BAD_USER_INPUT"
    assert "more than 100 tokens" in response.text


async def test_list_argument_limit_in_variables_and_in_the_document(client: Client) -> None:
    items = [{"url": f"https://youtu.be/dQw4w9WgXc{index}"} for index in range(6)]
    body = {"query": CREATE, "variables": {"i": {"items": items}}}
    response = await client.post(body, accept=GQL_RESPONSE)
    assert response.status_code == 400 and code(response) == "BAD_USER_INPUT"
    assert "longer than 5" in response.text
    literal = ", ".join('{platform: YOUTUBE, code: "dQw4w9WgXcQ"}' for _ in range(6))
    query = f"mutation {{ createJob(input: {{items: [{literal}]}}) {{ id }} }}"
    response = await client.post({"query": query}, accept=GQL_RESPONSE)
    assert response.status_code == 400 and code(response) == "BAD_USER_INPUT"
    assert "at most 5" in response.text
    assert await client.store.jobs.get_items(job_ids=[]) == {}


async def test_tail_limit(client: Client) -> None:
    query = {"query": '{ job(id: "00000000-0000-0000-0000-000000000000", tail: 10001) { id } }'}
    response = await client.post(query)
    assert code(response) == "BAD_USER_INPUT" and "tail must be at most" in response.text


async def test_body_size_by_content_length(client: Client) -> None:
    big = {"query": "{ me { name } }", "variables": {"pad": "x" * 4096}}
    response = await client.post(big, accept=GQL_RESPONSE)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(GQL_RESPONSE)
    assert code(response) == "BAD_USER_INPUT" and "2048 bytes" in response.text


async def test_body_size_when_streamed_without_length(client: Client) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ me { name } }", "variables": {"pad": "'
        for _ in range(100):
            yield b"x" * 512
        yield b'"}}'

    response = await client.http.post(
        "/graphql",
        content=chunks(),
        headers={"X-API-Key": client.key, "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert code(response) == "BAD_USER_INPUT"


async def test_rate_limit_is_per_key_with_retry_after(database_url: str) -> None:
    async with app_client(database_url, rate_limit_per_second=0.5, rate_limit_burst=2) as client:
        me = {"query": "{ me { name } }"}
        assert [(await client.post(me)).status_code for _ in range(2)] == [200, 200]
        response = await client.post(me, accept=GQL_RESPONSE)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "2"
        assert code(response) == "RATE_LIMITED"
        assert first_error(response)["extensions"]["retryAfter"] == 2  # type: ignore[index]
        # Legacy media type: the same 429 (it is an HTTP-level refusal, not a GraphQL one).
        assert (await client.post(me)).status_code == 429
        # Another key has its own bucket; a bad key is refused before it could spend any.
        from tests.factories import make_key

        other = await make_key(client.store, name="other")
        assert (await client.post(me, **{"X-API-Key": other})).status_code == 200
        bad = await client.http.post("/graphql", json=me, headers={"X-API-Key": "jg_nope"})
        assert bad.status_code == 401


def test_rate_limiter_refills_and_zero_disables() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=1, clock=lambda: now[0])
    assert limiter.take("k") == 0
    assert limiter.take("k") == pytest.approx(0.5)
    now[0] = 0.5
    assert limiter.take("k") == 0
    off = RateLimiter(rate=0, burst=1)
    assert all(off.take("k") == 0 for _ in range(100))


INTROSPECT = {"query": "{ __schema { queryType { name } } }"}
TYPO = {"query": '{ jb(id: "x") { id } }'}
ENUM_TYPO = {
    "query": 'mutation { createJob(input: {items: [{platform: YOUTUB, code: "x"}]}) { id } }'
}


async def test_development_allows_introspection_and_hints(database_url: str) -> None:
    async with app_client(database_url, env="development") as client:
        response = await client.post(INTROSPECT)
        assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"
        assert "Did you mean" in (await client.post(TYPO)).text
        assert "Did you mean" in (await client.post(ENUM_TYPO)).text


async def test_production_turns_off_introspection_and_hints(database_url: str) -> None:
    async with app_client(database_url, env="production") as client:
        response = await client.post(INTROSPECT, accept=GQL_RESPONSE)
        assert response.status_code == 400 and code(response) == "BAD_USER_INPUT"
        assert "introspection" in response.text.lower()
        for document in (TYPO, ENUM_TYPO):
            response = await client.post(document, accept=GQL_RESPONSE)
            assert response.status_code == 400 and code(response) == "BAD_USER_INPUT"
            assert "Did you mean" not in response.text
            assert "job" not in first_error(response)["message"].replace("jb", "")  # type: ignore[attr-defined]
        # Ordinary queries still work.
        assert (await client.post({"query": "{ me { name } }"})).json()["data"]["me"]["name"] == "k"


def test_subscriptions_per_connection_comes_from_settings() -> None:
    settings = Settings(max_subscriptions_per_connection=7, env="test")
    from schema.build import build_schema

    view = GraphQLView(schema=build_schema(settings), settings=settings, store=None)
    assert view.max_subscriptions_per_connection == 7
