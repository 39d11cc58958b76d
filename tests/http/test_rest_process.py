"""POST /process through the app, on every backend: createJob's path, FastAPI's statuses."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from server.rest_body import MAX_BODY_BYTES
from storage.store import Store
from storage.tables import jobs
from tests.factories import make_key

YOUTUBE = {"platform": "youtube", "code": "dQw4w9WgXcQ"}


async def job_count(store: Store) -> int:
    query = select(func.count()).select_from(jobs)
    return await store.db.read(lambda conn: int(conn.execute(query).scalar_one()))


async def submit(http: httpx.AsyncClient, key: str, body: Any, **headers: str) -> httpx.Response:
    return await http.post("/process", json=body, headers={"X-API-Key": key, **headers})


async def test_created_job_reads_back(http: httpx.AsyncClient, app_store: Store) -> None:
    key = await make_key(app_store, tenant="acme", scopes="read,submit")
    items = [
        {"platform": "YouTube", "code": "dQw4w9WgXcQ"},
        {"platform": "INSTAGRAM", "code": "test456"},
        {"platform": "tiktok", "code": "6718335390845095173"},
        {"url": "https://youtu.be/9bZkp7q19f0"},
    ]
    response = await submit(http, key, {"items": items})
    assert response.status_code == 202
    assert response.headers["content-type"] == "application/json"
    (name,) = response.json()
    job_id = response.json()["jobId"]
    assert name == "jobId" and str(uuid.UUID(job_id)) == job_id
    record = await app_store.jobs.get_job(job_id=job_id, tenant="acme")
    assert record is not None and record.item_count == 4
    status = (await http.get(f"/status/{job_id}", headers={"X-API-Key": key})).json()
    assert status["status"] == "pending"
    assert status["items"] == [
        {"platform": "youtube", "code": "dQw4w9WgXcQ"},
        {"platform": "instagram", "code": "test456"},
        {"platform": "tiktok", "code": "6718335390845095173"},
        {"platform": "youtube", "code": "9bZkp7q19f0"},
    ]


async def test_malformed_json_is_400(http: httpx.AsyncClient, app_store: Store) -> None:
    key = await make_key(app_store)
    for content in (b"{not json", b"", b'{"items": [}'):
        response = await http.post(
            "/process",
            content=content,
            headers={"X-API-Key": key, "content-type": "application/json"},
        )
        assert response.status_code == 400, content
        assert response.headers["content-type"] == "application/json"
        assert "not valid JSON" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        ({"items": []}, ["body"], "1 to 1000 items; got 0"),
        ({"items": [YOUTUBE] * 1001}, ["body"], "1 to 1000 items; got 1001"),
        ({"items": [{"platform": "vimeo", "code": "123"}]}, ["body", "items", 0, "platform"], ""),
        ({"items": [YOUTUBE, {"platform": "youtube", "code": "short"}]}, ["body", "items", 1], ""),
        ({"items": [{"platform": "youtube"}]}, ["body", "items", 0], "platform and a code"),
        (
            {"items": [{"platform": "youtube", "code": 12345678901}]},
            ["body", "items", 0, "code"],
            "",
        ),
        ({"items": ["dQw4w9WgXcQ"]}, ["body", "items", 0], "JSON object"),
        ({"items": {"0": YOUTUBE}}, ["body", "items"], "list"),
        ({"videos": [YOUTUBE]}, ["body", "items"], "required"),
        ([YOUTUBE], ["body"], "JSON object"),
        ({"items": [YOUTUBE], "idempotencyKey": 7}, ["body", "idempotencyKey"], "string"),
        ({"items": [YOUTUBE], "idempotencyKey": "k" * 201}, ["body"], "idempotencyKey"),
    ],
)
async def test_invalid_body_is_422(
    http: httpx.AsyncClient, app_store: Store, body: Any, loc: list[object], message: str
) -> None:
    key = await make_key(app_store)
    response = await submit(http, key, body)
    assert response.status_code == 422, response.text
    (detail,) = response.json()["detail"]
    assert detail["loc"] == loc
    assert message in detail["msg"] and detail["type"]
    assert await job_count(app_store) == 0


async def test_same_validation_as_create_job(http: httpx.AsyncClient, app_store: Store) -> None:
    key = await make_key(app_store)
    bad = {"platform": "youtube", "code": "short"}
    rest = (await submit(http, key, {"items": [YOUTUBE, bad]})).json()["detail"][0]["msg"]
    mutation = """mutation { createJob(input: {items: [
        {platform: YOUTUBE, code: "dQw4w9WgXcQ"}, {platform: YOUTUBE, code: "short"}]}) { id } }"""
    response = await http.post("/graphql", json={"query": mutation}, headers={"X-API-Key": key})
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert rest == error["message"]
    assert rest.startswith("items[1]: invalid YOUTUBE video code")


async def test_idempotency_key(http: httpx.AsyncClient, app_store: Store) -> None:
    key = await make_key(app_store)
    body = {"items": [YOUTUBE], "idempotencyKey": "order-1"}
    first = await submit(http, key, body)
    again = await submit(http, key, body)
    by_header = await submit(http, key, {"items": [YOUTUBE]}, **{"Idempotency-Key": "order-1"})
    assert first.status_code == again.status_code == by_header.status_code == 202
    assert first.json() == again.json() == by_header.json()
    other = await submit(http, key, {"items": [YOUTUBE]}, **{"Idempotency-Key": "order-2"})
    assert other.json() != first.json()
    clash = await submit(http, key, body, **{"Idempotency-Key": "order-2"})
    assert clash.status_code == 422 and "differ" in clash.json()["detail"][0]["msg"]


async def test_keys_and_scopes(http: httpx.AsyncClient, app_store: Store) -> None:
    body = {"items": [YOUTUBE]}
    response = await http.post("/process", json=body)
    assert response.status_code == 401 and "missing API key" in response.json()["detail"]
    response = await submit(http, "jg_unknown", body)
    assert response.status_code == 401
    read_only = await make_key(app_store, scopes="read")
    # The scope is checked before the body is even read.
    response = await http.post("/process", content=b"{not json", headers={"X-API-Key": read_only})
    assert response.status_code == 403 and "submit" in response.json()["detail"]
    assert await job_count(app_store) == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_other_methods_are_405(
    http: httpx.AsyncClient, app_store: Store, method: str
) -> None:
    key = await make_key(app_store)
    response = await http.request(method, "/process", headers={"X-API-Key": key})
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    assert response.headers["allow"] == "POST"


async def test_oversized_body_is_413(http: httpx.AsyncClient, app_store: Store) -> None:
    key = await make_key(app_store)
    content = b'{"items": [], "pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = await http.post("/process", content=content, headers={"X-API-Key": key})
    assert response.status_code == 413 and "larger than" in response.json()["detail"]
