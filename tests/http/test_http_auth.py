"""GraphQL over HTTP through the app: authentication, JSON error bodies, probes."""

from __future__ import annotations

import httpx
import pytest

from storage.store import Store
from tests.factories import make_job, make_key

ME = {"query": "{ me { name tenant scopes } }"}


async def test_missing_key_is_401_json(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", json=ME)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body.get("data") is None


@pytest.mark.parametrize(
    "key", [b"wrong", b"jg_" + b"x" * 43, b"", b" ", "jg_é".encode(), b"jg_\xff"]
)
async def test_unknown_key_is_401(http: httpx.AsyncClient, key: bytes) -> None:
    response = await http.post("/graphql", json=ME, headers={b"X-API-Key": key})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_revoked_key_is_401(http: httpx.AsyncClient, app_store: Store) -> None:
    key = await make_key(app_store)
    assert (await http.post("/graphql", json=ME, headers={"X-API-Key": key})).status_code == 200
    (record,) = [r for r in await app_store.keys.list()]
    assert await app_store.keys.revoke(key_id=record.id)
    response = await http.post("/graphql", json=ME, headers={"X-API-Key": key})
    assert response.status_code == 401


async def test_nothing_runs_without_a_key(http: httpx.AsyncClient, app_store: Store) -> None:
    mutation = (
        'mutation { createJob(input: {items: [{url: "https://youtu.be/dQw4w9WgXcQ"}]}) { id } }'
    )
    response = await http.post("/graphql", json={"query": mutation})
    assert response.status_code == 401
    # Even a document that does not parse is refused for the key first.
    response = await http.post("/graphql", json={"query": "{ nope "})
    assert response.status_code == 401
    assert await app_store.jobs.get_items(job_ids=[]) == {}


async def test_me_and_job_with_key(http: httpx.AsyncClient, app_store: Store) -> None:
    key = await make_key(app_store, tenant="acme", scopes="read")
    response = await http.post("/graphql", json=ME, headers={"X-API-Key": key})
    assert response.json() == {"data": {"me": {"name": "k", "tenant": "acme", "scopes": ["read"]}}}
    job = await make_job(app_store, tenant="acme", lines=3)
    query = {"query": f'{{ job(id: "{job.id}", tail: 2) {{ status logTail }} }}'}
    response = await http.post("/graphql", json=query, headers={"X-API-Key": key})
    assert response.json() == {"data": {"job": {"status": "PENDING", "logTail": "line 2\nline 3"}}}


async def test_get_query_works_and_get_mutation_does_not(
    http: httpx.AsyncClient, app_store: Store
) -> None:
    key = await make_key(app_store)
    response = await http.get(
        "/graphql", params=ME, headers={"X-API-Key": key, "accept": "application/json"}
    )
    assert response.status_code == 200
    assert response.json()["data"]["me"]["name"] == "k"
    mutation = (
        'mutation { createJob(input: {items: [{url: "https://youtu.be/dQw4w9WgXcQ"}]}) { id } }'
    )
    response = await http.get(
        "/graphql",
        params={"query": mutation},
        headers={"X-API-Key": key, "accept": "application/json"},
    )
    assert response.status_code in (400, 405)
    assert response.headers["content-type"].startswith("application/json")
    assert "errors" in response.json()


@pytest.mark.parametrize(
    ("method", "content", "headers", "status"),
    [
        ("PUT", b"{}", {}, 405),
        ("POST", b"{not json", {"content-type": "application/json"}, 400),
        ("POST", b"query=1", {"content-type": "text/plain"}, 415),
    ],
)
async def test_http_errors_have_json_bodies(
    http: httpx.AsyncClient,
    app_store: Store,
    method: str,
    content: bytes,
    headers: dict[str, str],
    status: int,
) -> None:
    key = await make_key(app_store)
    response = await http.request(
        method, "/graphql", content=content, headers={"X-API-Key": key, **headers}
    )
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["extensions"]["code"]


async def test_probes(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"
