"""HTTP level (the ASGI app through httpx): POST /process with a webhook (events in either case),
every malformed one answered 422 with no job created, the same webhook over GraphQL, and the
webhook metrics on /metrics."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from storage.store import Store
from tests.factories import make_key
from tests.http.test_rest_process import job_count, submit

ITEMS = [{"platform": "youtube", "code": "dQw4w9WgXcQ"}]
URL = "https://hooks.example.com/jobgraph"
WEBHOOK = "query($j: ID!) { job(id: $j) { webhook { url events } } }"


async def read_webhook(http: httpx.AsyncClient, key: str, job_id: str) -> Any:
    response = await http.post(
        "/graphql",
        json={"query": WEBHOOK, "variables": {"j": job_id}},
        headers={"X-API-Key": key},
    )
    return response.json()["data"]["job"]["webhook"]


async def test_process_takes_a_webhook_with_events_in_either_case(
    http: httpx.AsyncClient, app_store: Store
) -> None:
    key = await make_key(app_store, scopes="read,submit")
    body = {"items": ITEMS, "webhook": {"url": URL, "events": ["completed", "Failed", "STARTED"]}}
    response = await submit(http, key, body)
    assert response.status_code == 202, response.text
    webhook = await read_webhook(http, key, response.json()["jobId"])
    assert webhook == {"url": URL, "events": ["STARTED", "COMPLETED", "FAILED"]}
    default = await submit(http, key, {"items": ITEMS, "webhook": {"url": URL}})
    webhook = await read_webhook(http, key, default.json()["jobId"])
    assert webhook["events"] == ["COMPLETED", "FAILED", "CANCELLED"]
    none = await submit(http, key, {"items": ITEMS, "webhook": None})
    assert await read_webhook(http, key, none.json()["jobId"]) is None


@pytest.mark.parametrize(
    ("webhook", "loc", "message"),
    [
        ("https://hooks.example.com/", ["body", "webhook"], "must be a JSON object"),
        ([URL], ["body", "webhook"], "must be a JSON object"),
        ({}, ["body", "webhook", "url"], "field required"),
        ({"url": 42}, ["body", "webhook", "url"], "must be a string"),
        ({"url": URL, "events": "completed"}, ["body", "webhook", "events"], "list of strings"),
        ({"url": URL, "events": [1]}, ["body", "webhook", "events"], "list of strings"),
        ({"url": URL, "events": []}, ["body", "webhook", "events"], "at least one event"),
        ({"url": URL, "events": ["done"]}, ["body", "webhook", "events"], "unknown event"),
        ({"url": ""}, ["body", "webhook", "url"], "http:// or https://"),
        ({"url": "ftp://hooks.example.com/"}, ["body", "webhook", "url"], "http:// or https://"),
        ({"url": "https://u:p@hooks.example.com/"}, ["body", "webhook", "url"], "credentials"),
        ({"url": "http://127.0.0.1:8000/"}, ["body", "webhook", "url"], "loopback"),
        ({"url": "http://[::1]/"}, ["body", "webhook", "url"], "loopback"),
        ({"url": "http://169.254.169.254/"}, ["body", "webhook", "url"], "link-local"),
        ({"url": "http://10.0.0.1/"}, ["body", "webhook", "url"], "private"),
        ({"url": "http://[::ffff:127.0.0.1]/"}, ["body", "webhook", "url"], "loopback"),
        ({"url": "https://x.example.com/" + "a" * 2048}, ["body", "webhook", "url"], "at most"),
    ],
)
async def test_a_malformed_webhook_is_422_and_creates_no_job(
    http: httpx.AsyncClient, app_store: Store, webhook: Any, loc: list[str], message: str
) -> None:
    key = await make_key(app_store, scopes="read,submit")
    before = await job_count(app_store)
    response = await submit(http, key, {"items": ITEMS, "webhook": webhook})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    (detail,) = response.json()["detail"]
    assert detail["loc"] == loc and message in detail["msg"], detail
    assert await job_count(app_store) == before


async def test_graphql_over_http_refuses_a_bad_webhook(
    http: httpx.AsyncClient, app_store: Store
) -> None:
    key = await make_key(app_store, scopes="read,submit")
    before = await job_count(app_store)
    query = """mutation($u: String!) { createJob(input: {items: [{url:
      "https://youtu.be/dQw4w9WgXcQ"}], webhook: {url: $u}}) { id } }"""
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": {"u": "http://10.0.0.1/hook"}},
        headers={"X-API-Key": key},
    )
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "webhook.url"}
    assert await job_count(app_store) == before


async def test_metrics_describe_webhook_deliveries(http: httpx.AsyncClient) -> None:
    text = (await http.get("/metrics")).text
    assert "# TYPE jobgraph_webhook_deliveries_total counter" in text
    assert "# TYPE jobgraph_webhook_delivery_seconds histogram" in text
