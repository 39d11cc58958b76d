"""GET /metrics: Prometheus text that counts operations by name and outcome, HTTP requests
by route and status, and shows the database pool; the request id travels in and out."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from app import create_app
from settings import Settings
from storage.store import Store
from tests.factories import make_key


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


async def test_operations_http_and_pool_are_counted(
    http: httpx.AsyncClient, app_store: Store
) -> None:
    key = await make_key(app_store)
    headers = {"X-API-Key": key}
    for _ in range(3):
        response = await http.post(
            "/graphql",
            json={"query": "query Me { me { tenant } }", "operationName": "Me"},
            headers=headers,
        )
        assert response.status_code == 200, response.text
    missing = '{ job(id: "00000000-0000-0000-0000-000000000000") { id } }'
    await http.post("/graphql", json={"query": missing}, headers=headers)
    await http.post("/graphql", json={"query": "{ me { tenant } }"})  # no key
    await http.post("/graphql", json={"query": "{ nope }"}, headers=headers)

    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    total = "jobgraph_graphql_operations_total"
    assert value(text, total, operation_type="query", operation_name="Me", outcome="ok") == 3
    assert value(text, total, operation_type="query", operation_name="job", outcome="NOT_FOUND")
    assert not [
        labels for (name, labels) in samples(text) if ("outcome", "UNAUTHENTICATED") in labels
    ]
    assert value(
        text, total, operation_type="query", operation_name="nope", outcome="BAD_USER_INPUT"
    )
    assert (
        value(
            text,
            "jobgraph_graphql_operation_seconds_count",
            operation_type="query",
            operation_name="Me",
        )
        == 3
    )
    http_count = "jobgraph_http_request_seconds_count"
    assert value(text, http_count, method="POST", route="/graphql", status="200") == 5
    assert value(text, http_count, method="POST", route="/graphql", status="401") == 1
    assert ("jobgraph_db_pool_size", ()) in samples(text)
    assert ("jobgraph_db_pool_checked_out", ()) in samples(text)
    assert value(text, "jobgraph_active_subscriptions") == 0
    assert key not in text and key[:12] not in text


async def test_unknown_paths_share_one_label(http: httpx.AsyncClient) -> None:
    for path in ("/wp-admin", "/.env", "/a/b/c"):
        assert (await http.get(path)).status_code == 404
    text = (await http.get("/metrics")).text
    routes = {labels for (name, labels) in samples(text) if name.startswith("jobgraph_http")}
    assert not any(("route", "/.env") in labels for labels in routes)
    count = "jobgraph_http_request_seconds_count"
    assert value(text, count, method="GET", route="unmatched", status="404") == 3


async def test_each_app_has_its_own_registry(settings: Settings) -> None:
    apps: list[Starlette] = [create_app(settings), create_app(settings)]
    assert apps[0].state.metrics.registry is not apps[1].state.metrics.registry
    apps[0].state.metrics.subscription_opened()
    assert apps[1].state.metrics.active_subscriptions._value.get() == 0


async def test_request_id_is_echoed_or_generated(http: httpx.AsyncClient) -> None:
    given = await http.get("/healthz", headers={"X-Request-ID": "lb-1234.abc"})
    assert given.headers["x-request-id"] == "lb-1234.abc"
    generated = await http.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    for insane in ("a b", "x" * 200, "jg_\nInjected: yes", ""):
        response = await http.get("/healthz", headers={"X-Request-ID": insane})
        assert response.headers["x-request-id"] != insane
        assert len(response.headers["x-request-id"]) == 32


async def test_openmetrics_on_request(http: httpx.AsyncClient) -> None:
    response = await http.get("/metrics", headers={"accept": "application/openmetrics-text"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


async def test_routes_are_labelled_by_template(http: httpx.AsyncClient, app_store: Store) -> None:
    key = await make_key(app_store)
    for job_id in ("00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"):
        await http.get(f"/status/{job_id}", headers={"X-API-Key": key})
    text = (await http.get("/metrics")).text
    counts = {
        dict(labels)["route"]: number
        for (name, labels), number in samples(text).items()
        if name == "jobgraph_http_request_seconds_count" and dict(labels)["method"] == "GET"
    }
    assert counts["/status/{job_id:path}"] == 2  # one series, not one per job id


async def test_odd_operation_names_are_labelled_invalid(
    http: httpx.AsyncClient, app_store: Store
) -> None:
    key = await make_key(app_store)
    for name in ({"a": 1}, ["x"], "not a name!"):
        body = {"query": "query Me { me { tenant } }", "operationName": name}
        response = await http.post("/graphql", json=body, headers={"X-API-Key": key})
        assert response.json()["errors"][0]["extensions"]["code"] != "INTERNAL_SERVER_ERROR"
    text = (await http.get("/metrics")).text
    names = {dict(labels).get("operation_name") for (_, labels) in samples(text)}
    assert "invalid" in names and "not a name!" not in names
