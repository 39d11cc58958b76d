"""Hostile edges, in process: inputs that used to surface as internal errors (instants at the
end of the date range, NUL characters, subscriptions over plain HTTP, several operations and
no name, a key sent twice, a body that never arrives). Each is a clear client error with
``extensions.code`` (or a ``detail`` on REST), logged without a stack trace, counted as the
client's in /metrics, and answered within a bound. NUL and instants run on both databases."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app import create_app
from settings import Settings
from storage.store import Store
from tests.factories import make_job, make_key
from tests.gql_clients import parse_multipart

GQL = "application/graphql-response+json"
SECONDS = 5.0  # a bound only a hang (or a retry loop) reaches
EDGES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
CREATE = "mutation($input: CreateJobInput!) { createJob(input: $input) { id } }"
SUBSCRIPTION = "subscription($id: ID!) { jobUpdated(id: $id) { status } }"


async def ask(
    http: httpx.AsyncClient, key: str, query: str, variables: Any = None, **headers: str
) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"X-API-Key": key, "Accept": GQL, **headers},
    )
    return response, time.perf_counter() - started


def codes(response: httpx.Response) -> list[str]:
    return [error["extensions"]["code"] for error in response.json().get("errors", [])]


@pytest.fixture
def no_stack_traces(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.INFO)
    yield
    assert not [r for r in caplog.records if r.exc_info], "a client error logged a stack trace"
    assert "unexpected error" not in caplog.text


async def running_job(http: httpx.AsyncClient, key: str, store: Store) -> str:
    await make_job(store)
    claimed, _ = await ask(http, key, 'mutation { claimJob(workerId: "w") { id } }')
    return str(claimed.json()["data"]["claimJob"]["id"])


@pytest.mark.parametrize("instant", EDGES)
async def test_instants_at_the_edge_of_the_range_are_bad_input(
    http: httpx.AsyncClient, app_store: Store, instant: str, no_stack_traces: None
) -> None:
    key = await make_key(app_store)
    job_id = await running_job(http, key, app_store)
    logs = 'mutation($j: ID!, $l: [LogLineInput!]!) { appendLogs(jobId: $j, workerId: "w", lines: $l) }'  # noqa: E501
    literal = (
        f'mutation {{ appendLogs(jobId: "{job_id}", workerId: "w", '
        f'lines: [{{message: "x", timestamp: "{instant}"}}]) }}'
    )
    cases = [
        (logs, {"j": job_id, "l": [{"message": "x", "timestamp": instant}]}),
        (literal, None),
        ("query($t: DateTime) { jobs(filter: {createdAfter: $t}) { totalCount } }", {"t": instant}),
        (
            "query($t: DateTime) { jobs(filter: {createdBefore: $t}) { totalCount } }",
            {"t": instant},
        ),
        (f'{{ jobs(filter: {{createdAfter: "{instant}"}}) {{ totalCount }} }}', None),
    ]
    for query, variables in cases:
        response, seconds = await ask(http, key, query, variables)
        assert response.status_code == 400, response.text
        assert codes(response) == ["BAD_USER_INPUT"], response.text
        assert "outside the representable range" in response.text
        assert seconds < SECONDS
    # A cursor naming such an instant is not one we handed out.
    cursor = base64.urlsafe_b64encode(f"job:{instant}|{job_id}".encode()).decode().rstrip("=")
    response, seconds = await ask(
        http, key, "query($c: String) { jobs(after: $c) { totalCount } }", {"c": cursor}
    )
    assert codes(response) == ["BAD_USER_INPUT"] and "invalid cursor" in response.text
    assert seconds < SECONDS
    # The log is untouched, and an ordinary instant with an offset still works.
    fine, _ = await ask(
        http,
        key,
        logs,
        {"j": job_id, "l": [{"message": "x", "timestamp": "2024-01-15T12:30:00+14:00"}]},
    )
    assert fine.json() == {"data": {"appendLogs": 1}}


NUL_CASES = [
    (
        "idempotencyKey",
        CREATE,
        {"input": {"items": [{"url": "https://youtu.be/dQw4w9WgXcQ"}], "idempotencyKey": "a\x00b"}},
    ),
    ("url", CREATE, {"input": {"items": [{"url": "https://youtu.be/dQw4w9WgXcQ\x00"}]}}),
    ("code", CREATE, {"input": {"items": [{"platform": "YOUTUBE", "code": "dQw4w9\x00XcQ"}]}}),
    (
        "webhook",
        CREATE,
        {
            "input": {
                "items": [{"url": "https://youtu.be/dQw4w9WgXcQ"}],
                "webhook": {"url": "https://hooks.example/\x00"},
            }
        },
    ),
    ("workerId", "mutation($w: String!) { claimJob(workerId: $w) { id } }", {"w": "w\x00"}),
    ("id", "query($id: ID!) { job(id: $id) { id } }", {"id": "\x00"}),
    ("cursor", "query($c: String) { jobs(after: $c) { totalCount } }", {"c": "\x00"}),
    ("literal", 'mutation { claimJob(workerId: "w\\u0000") { id } }', None),
    ("key of an input object", CREATE, {"input": {"items": [{"url\x00": "x"}]}}),
]


@pytest.mark.parametrize(("name", "query", "variables"), NUL_CASES, ids=[c[0] for c in NUL_CASES])
async def test_nul_in_any_string_input_is_bad_input(
    http: httpx.AsyncClient,
    app_store: Store,
    name: str,
    query: str,
    variables: Any,
    no_stack_traces: None,
) -> None:
    key = await make_key(app_store)
    response, seconds = await ask(http, key, query, variables)
    assert response.status_code == 400, response.text
    assert codes(response) == ["BAD_USER_INPUT"], response.text
    assert "NUL" in response.text
    assert seconds < SECONDS
    listed, _ = await ask(http, key, "{ jobs { totalCount } }")
    assert listed.json()["data"]["jobs"]["totalCount"] == 0


async def test_nul_in_log_lines_and_failures_is_bad_input(
    http: httpx.AsyncClient, app_store: Store, no_stack_traces: None
) -> None:
    key = await make_key(app_store)
    job_id = await running_job(http, key, app_store)
    for query, variables in [
        (
            'mutation($j: ID!, $l: [LogLineInput!]!) { appendLogs(jobId: $j, workerId: "w", lines: $l) }',  # noqa: E501
            {"j": job_id, "l": [{"message": "fine"}, {"message": "x", "level": "IN\x00FO"}]},
        ),
        (
            'mutation($j: ID!, $e: String!) { failJob(jobId: $j, workerId: "w", error: $e) { id } }',  # noqa: E501
            {"j": job_id, "e": "boom\x00"},
        ),
    ]:
        response, seconds = await ask(http, key, query, variables)
        assert codes(response) == ["BAD_USER_INPUT"] and seconds < SECONDS, response.text
    job, _ = await ask(http, key, f'{{ job(id: "{job_id}") {{ status logLineCount }} }}')
    assert job.json()["data"]["job"] == {"status": "RUNNING", "logLineCount": 0}


async def test_nul_on_rest_is_a_422(
    http: httpx.AsyncClient, app_store: Store, no_stack_traces: None
) -> None:
    key = await make_key(app_store)
    item = {"platform": "youtube", "code": "dQw4w9WgXcQ"}
    for body, headers, loc in [
        ({"items": [item], "idempotencyKey": "a\x00"}, {}, ["body", "idempotencyKey"]),
        ({"items": [{"url": "https://youtu.be/x\x00"}]}, {}, ["body", "items", 0, "url"]),
        ({"items": [item]}, {"Idempotency-Key": "a\x00b"}, ["body", "idempotencyKey"]),
    ]:
        started = time.perf_counter()
        response = await http.post("/process", json=body, headers={"X-API-Key": key, **headers})
        assert time.perf_counter() - started < SECONDS
        assert response.status_code == 422, response.text
        (detail,) = response.json()["detail"]
        assert detail["loc"] == loc and "NUL" in detail["msg"]
    listed, _ = await ask(http, key, "{ jobs { totalCount } }")
    assert listed.json()["data"]["jobs"]["totalCount"] == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_subscriptions_need_a_stream(
    http: httpx.AsyncClient, app_store: Store, no_stack_traces: None
) -> None:
    key = await make_key(app_store)
    job = await make_job(app_store)
    variables = {"id": job.id}
    got = await http.get(
        "/graphql",
        params={"query": SUBSCRIPTION, "variables": f'{{"id": "{job.id}"}}'},
        headers={"X-API-Key": key, "Accept": GQL},
    )
    posted, _ = await ask(http, key, SUBSCRIPTION, variables)
    for response in (got, posted):
        assert response.status_code == 400, response.text
        assert codes(response) == ["BAD_USER_INPUT"]
        assert "multipart/mixed" in response.json()["errors"][0]["message"]
    # A query asked for as multipart is answered as the one JSON document it is.
    multipart = "multipart/mixed;subscriptionSpec=1.0,application/json"
    for method in ("GET", "POST"):
        if method == "GET":
            response = await http.get(
                "/graphql",
                params={"query": "{ me { tenant } }"},
                headers={"X-API-Key": key, "Accept": multipart},
            )
        else:
            response, _ = await ask(http, key, "{ me { tenant } }", Accept=multipart)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == {"data": {"me": {"tenant": "default"}}}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_multipart_subscription_refused_before_it_runs_says_why(
    http: httpx.AsyncClient, app_store: Store, no_stack_traces: None
) -> None:
    key = await make_key(app_store)
    job = await make_job(app_store)
    headers = {"X-API-Key": key, "Accept": "multipart/mixed;subscriptionSpec=1.0,application/json"}
    body = {"query": SUBSCRIPTION, "variables": {"id": job.id, "ids": ["x"] * 1001}}
    started = time.perf_counter()
    response = await http.post("/graphql", json=body, headers=headers)
    assert time.perf_counter() - started < SECONDS
    assert response.status_code == 200
    assert response.text.rstrip().endswith("--graphql--"), response.text[-80:]
    (part,) = parse_multipart(response.text)
    (error,) = part["payload"]["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "longer than 1000 entries" in error["message"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_several_operations_need_an_operation_name(
    http: httpx.AsyncClient, app_store: Store
) -> None:
    key = await make_key(app_store)
    document = "query A { me { tenant } } query B { me { name } }"
    response, _ = await ask(http, key, document)
    assert response.status_code == 400
    assert codes(response) == ["BAD_USER_INPUT"]
    assert "operationName" in response.json()["errors"][0]["message"]
    assert "data" not in response.json()
    named = await http.post(
        "/graphql",
        json={"query": document, "operationName": "B"},
        headers={"X-API-Key": key, "Accept": GQL},
    )
    assert named.json() == {"data": {"me": {"name": "k"}}}
    # Fragments beside one operation are not operations.
    single, _ = await ask(http, key, "query A { me { ...F } } fragment F on ApiKeyInfo { tenant }")
    assert single.json() == {"data": {"me": {"tenant": "default"}}}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_key_sent_twice_is_refused(http: httpx.AsyncClient, app_store: Store) -> None:
    key = await make_key(app_store)
    job = await make_job(app_store)
    for keys in ([key, "jg_other"], [key, key], ["jg_other", key]):
        headers = [("X-API-Key", value) for value in keys]
        graphql = await http.post("/graphql", json={"query": "{ me { tenant } }"}, headers=headers)
        assert graphql.status_code == 400
        assert codes(graphql) == ["BAD_USER_INPUT"]
        assert "X-API-Key" in graphql.json()["errors"][0]["message"]
        rest = await http.get(f"/status/{job.id}", headers=headers)
        assert rest.status_code == 400
        assert "X-API-Key" in rest.json()["detail"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_refused_operations_are_the_clients_in_metrics(
    http: httpx.AsyncClient, app_store: Store
) -> None:
    key = await make_key(app_store)
    job = await make_job(app_store)
    headers = {"X-API-Key": key, "Accept": GQL}
    mutation = await http.get(
        "/graphql", params={"query": 'mutation { cancelJob(id: "x") { id } }'}, headers=headers
    )
    assert mutation.status_code == 405
    await http.get(
        "/graphql",
        params={"query": SUBSCRIPTION, "variables": f'{{"id": "{job.id}"}}'},
        headers=headers,
    )
    await ask(
        http, key, '{ jobs(filter: {createdAfter: "0001-01-01T00:00:00+14:00"}) { totalCount } }'
    )
    await ask(http, key, "query A { me { name } } query B { me { name } }")
    await ask(http, key, "query($w: String!) { job(id: $w) { id } }", {"w": "\x00"})
    text = (await http.get("/metrics")).text
    outcomes = [
        line for line in text.splitlines() if line.startswith("jobgraph_graphql_operations")
    ]
    assert outcomes, text
    assert not [line for line in outcomes if "INTERNAL_SERVER_ERROR" in line], outcomes
    assert any('outcome="BAD_USER_INPUT"' in line for line in outcomes)


def _recorder() -> tuple[list[MutableMapping[str, Any]], Any]:
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    return sent, send


def _stalling_receive(chunks: list[bytes]) -> Any:
    """A client that sends these chunks of its body, then nothing more."""

    async def receive() -> dict[str, Any]:
        if not chunks:
            await asyncio.sleep(3600)
        return {"type": "http.request", "body": chunks.pop(0), "more_body": True}

    return receive


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_body_that_never_arrives_is_a_408(settings: Settings) -> None:
    app: Starlette = create_app(settings.model_copy(update={"body_read_timeout_seconds": 0.5}))
    async with app.router.lifespan_context(app):
        key = await make_key(app.state.store)
        for path in ("/graphql", "/process"):
            receive = _stalling_receive([b'{"query": "{ me '])
            sent, send = _recorder()
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "root_path": "",
                "headers": [
                    (b"host", b"t"),
                    (b"content-type", b"application/json"),
                    (b"x-api-key", key.encode()),
                ],
                "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 80),
            }
            started = time.perf_counter()
            await asyncio.wait_for(app(scope, receive, send), timeout=SECONDS)
            seconds = time.perf_counter() - started
            assert 0.4 <= seconds < 2.0, seconds
            assert sent[0]["status"] == 408
            body = b"".join(m.get("body", b"") for m in sent[1:])
            assert b"did not arrive within 0.5 s" in body
            assert (b"BAD_USER_INPUT" in body) == (path == "/graphql")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_idempotency_key_is_an_allowed_cors_header(database_url: str) -> None:
    origin = "https://dash.example.com"
    settings = Settings(database_url=database_url, env="test", cors_origins=origin)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.options(
                "/process",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "x-api-key, content-type, idempotency-key",
                },
            )
    assert response.status_code == 200
    assert "idempotency-key" in response.headers["access-control-allow-headers"].lower()
