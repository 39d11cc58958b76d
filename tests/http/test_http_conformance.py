"""GraphQL over HTTP as the spec says: media types, status codes, methods, JSON error bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http_client import Client, app_client

GQL_RESPONSE = "application/graphql-response+json"
ME = {"query": "{ me { name } }"}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    # Protocol behaviour does not depend on the backend: SQLite only keeps this file fast.
    return f"sqlite+aiosqlite:///{tmp_path}/jobgraph.db"


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[Client]:
    async with app_client(database_url) as client:
        yield client


def assert_json_error(response: object, status: int, code: str, media: str = "application/json"):
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith(media)  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["errors"][0]["extensions"]["code"] == code
    return body


async def test_graphql_response_json_is_honoured(client: Client) -> None:
    response = await client.post(ME, accept=GQL_RESPONSE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GQL_RESPONSE)
    assert response.json() == {"data": {"me": {"name": "k"}}}


async def test_application_json_is_still_served(client: Client) -> None:
    response = await client.post(ME, accept="application/json")
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"data": {"me": {"name": "k"}}}
    # Without an Accept header (curl's */*), the legacy type too.
    response = await client.post(ME, accept="*/*")
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ({"query": "{ me { name "}, "does not parse"),
        ({"query": "{ nope }"}, "does not validate"),
        (
            {"query": "query($id: ID!) { job(id: $id) { id } }", "variables": {"id": [1]}},
            "variables do not coerce",
        ),
        ({"query": "query($id: ID!) { job(id: $id) { id } }"}, "a required variable is missing"),
    ],
)
async def test_request_errors_are_400_without_data(
    client: Client, body: dict[str, object], what: str
) -> None:
    response = await client.post(body, accept=GQL_RESPONSE)
    body_out = assert_json_error(response, 400, "BAD_USER_INPUT", GQL_RESPONSE)
    assert "data" not in body_out, what
    # The legacy media type keeps 200 for the same request, still with no data entry.
    response = await client.post(body, accept="application/json")
    assert response.status_code == 200
    assert "data" not in response.json()
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_field_errors_keep_200_and_data(client: Client) -> None:
    query = {"query": '{ job(id: "not-a-uuid") { id } }'}
    response = await client.post(query, accept=GQL_RESPONSE)
    assert response.status_code == 200
    assert response.json()["data"] == {"job": None}
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_unacceptable_accept_is_406(client: Client) -> None:
    response = await client.post(ME, accept="text/csv")
    assert_json_error(response, 406, "BAD_USER_INPUT")


async def test_unauthenticated_with_graphql_response_json(client: Client) -> None:
    response = await client.http.post("/graphql", json=ME, headers={"accept": GQL_RESPONSE})
    body = assert_json_error(response, 401, "UNAUTHENTICATED", GQL_RESPONSE)
    assert "data" not in body


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_other_methods_are_405_with_allow(client: Client, method: str) -> None:
    response = await client.http.request(method, "/graphql", headers={"X-API-Key": client.key})
    assert_json_error(response, 405, "BAD_USER_INPUT")
    assert response.headers["allow"] == "GET, POST"


async def test_get_serves_queries_and_refuses_mutations_with_405(client: Client) -> None:
    headers = {"X-API-Key": client.key, "accept": GQL_RESPONSE}
    response = await client.http.get("/graphql", params=ME, headers=headers)
    assert response.status_code == 200 and response.json()["data"]["me"]["name"] == "k"
    mutation = (
        'mutation { createJob(input: {items: [{url: "https://youtu.be/dQw4w9WgXcQ"}]}) { id } }'
    )
    response = await client.http.get("/graphql", params={"query": mutation}, headers=headers)
    assert_json_error(response, 405, "BAD_USER_INPUT", GQL_RESPONSE)
    assert response.headers["allow"] == "POST"
    assert await client.store.jobs.get_items(job_ids=[]) == {}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'[{"query": "{ me { name } }"}, {"query": "{ me { name } }"}]', "batching"),
        (b"1", "a JSON object"),
        (b'"{ me { name } }"', "a JSON object"),
        (b"{not json", "JSON"),
        (b'{"query": "\xff\xfe"}', "JSON"),
        (b"[" * 5000 + b"]" * 5000, "JSON"),
        (b'{"query": 1}', "query"),
        (b'{"query": "{ me { name } }", "variables": []}', "variables"),
        (b'{"query": "{ me { name } }", "extensions": "x"}', "extensions"),
    ],
)
async def test_malformed_bodies_are_400_json(client: Client, content: bytes, reason: str) -> None:
    response = await client.http.post(
        "/graphql",
        content=content,
        headers={"X-API-Key": client.key, "content-type": "application/json"},
    )
    body = assert_json_error(response, 400, "BAD_USER_INPUT")
    assert reason.lower() in body["errors"][0]["message"].lower()


async def test_get_with_bad_variables_is_400(client: Client) -> None:
    response = await client.http.get(
        "/graphql",
        params={"query": "{ me { name } }", "variables": "{nope"},
        headers={"X-API-Key": client.key},
    )
    assert_json_error(response, 400, "BAD_USER_INPUT")


async def test_browser_get_still_gets_graphiql(client: Client) -> None:
    response = await client.http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/nope", "/graphql/extra", "/static/missing.js"])
async def test_a_path_nothing_serves_is_a_json_404(client: Client, path: str) -> None:
    body = assert_json_error(await client.http.get(path), 404, "NOT_FOUND")
    assert path in body["errors"][0]["message"]


async def test_a_method_a_route_does_not_take_is_a_json_405_with_allow(client: Client) -> None:
    response = await client.http.post("/healthz")
    assert_json_error(response, 405, "BAD_USER_INPUT")
    assert "GET" in response.headers["allow"]
    response = await client.http.delete("/process")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.headers["content-type"].startswith("application/json")
    assert "detail" in response.json()  # the REST paths' shape


async def test_vendor_assets_not_installed_are_a_json_404_not_a_500(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import server.frontend

    monkeypatch.setattr(server.frontend, "VENDOR", tmp_path / "not-installed")
    body = assert_json_error(await client.http.get("/vendor/graphiql.min.js"), 404, "NOT_FOUND")
    assert "make web" in body["errors"][0]["message"]
