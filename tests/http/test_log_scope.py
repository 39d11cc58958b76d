"""Log content needs the `read` scope wherever a job comes from: a key that may submit or work
but not read gets FORBIDDEN for logTail, logTailTruncated and logs on every mutation's answer,
and never a line of the log; logLineCount stays visible (the worker SDK resumes from it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import httpx
import pytest

from storage.coltypes import utcnow
from storage.logs import append_lines
from tests.factories import make_job, make_key
from tests.http_client import Client, app_client

SECRET = "secret-line"
LOG_FIELDS = ("logTail", "logTailTruncated", "logs { lines { message } hasMore }")


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[Client]:
    async with app_client(database_url) as client:
        yield client


async def job_with_lines(client: Client, **kwargs: Any) -> str:
    job = await make_job(client.store, items=1, **kwargs)
    lines = [(utcnow(), "INFO", f"{SECRET} {n}") for n in range(3)]
    await client.store.db.write(partial(append_lines, job_id=job.id, lines=lines))
    return job.id


async def post(client: Client, key: str, query: str) -> httpx.Response:
    return await client.http.post("/graphql", json={"query": query}, headers={"X-API-Key": key})


def assert_forbidden(response: httpx.Response, field: str) -> None:
    assert SECRET not in response.text, response.text
    body = response.json()
    codes = {error["extensions"]["code"] for error in body["errors"]}
    assert codes == {"FORBIDDEN"}, body
    assert any(error["path"][-1] == field.split()[0] for error in body["errors"]), body


async def _claimed(client: Client, work: str) -> str:
    """A job claimed by worker "w", with lines in its log."""
    job_id = await job_with_lines(client)
    claim = 'mutation { claimJob(workerId: "w") { id } }'
    assert (await post(client, work, claim)).json()["data"]["claimJob"]["id"] == job_id
    return job_id


async def _failed(client: Client, work: str) -> str:
    job_id = await _claimed(client, work)
    fail = f'mutation {{ failJob(jobId: "{job_id}", workerId: "w", error: "x") {{ id }} }}'
    assert "errors" not in (await post(client, work, fail)).json()
    return job_id


@pytest.mark.parametrize("field", LOG_FIELDS)
async def test_submit_answers_hide_the_log(client: Client, field: str) -> None:
    submit = await make_key(client.store, scopes="submit", name="submitter")
    work = await make_key(client.store, scopes="work", name="worker")
    failed = await _failed(client, work)  # claimJob takes the oldest pending job: this first
    pending = await job_with_lines(client)
    items = '[{url: "https://youtu.be/dQw4w9WgXcQ"}]'
    cases = {
        # An idempotency key naming a job that has a log answers that job.
        "createJob": f'createJob(input: {{items: {items}, idempotencyKey: "k"}})',
        "cancelJob": f'cancelJob(id: "{pending}")',
        "retryJob": f'retryJob(id: "{failed}")',
    }
    first = f'mutation {{ createJob(input: {{items: {items}, idempotencyKey: "k"}}) {{ id }} }}'
    created = (await post(client, submit, first)).json()["data"]["createJob"]["id"]
    await client.store.db.write(
        partial(append_lines, job_id=created, lines=[(utcnow(), "INFO", f"{SECRET} own")])
    )
    for name, call in cases.items():
        response = await post(client, submit, f"mutation {{ {call} {{ id {field} }} }}")
        assert_forbidden(response, field)
        assert response.json()["data"] is None, name  # Job! is not null: the error bubbles


@pytest.mark.parametrize("field", LOG_FIELDS)
async def test_worker_answers_hide_the_log(client: Client, field: str) -> None:
    work = await make_key(client.store, scopes="work", name="worker")
    await job_with_lines(client)
    response = await post(
        client, work, f'mutation {{ claimJob(workerId: "w") {{ id logLineCount {field} }} }}'
    )
    assert_forbidden(response, field)
    job_id = await _claimed(client, work)
    for call in (
        f'completeJob(jobId: "{job_id}", workerId: "w")',
        f'failJob(jobId: "{(await _claimed(client, work))}", workerId: "w", error: "e")',
    ):
        assert_forbidden(await post(client, work, f"mutation {{ {call} {{ {field} }} }}"), field)


async def test_a_worker_still_reads_the_line_count(client: Client) -> None:
    work = await make_key(client.store, scopes="work", name="worker")
    await job_with_lines(client)
    response = await post(
        client, work, 'mutation { claimJob(workerId: "w") { id attempt logLineCount } }'
    )
    body = response.json()
    assert "errors" not in body and body["data"]["claimJob"]["logLineCount"] == 3


async def test_a_key_with_read_sees_the_log_in_every_answer(client: Client) -> None:
    both = await make_key(client.store, scopes="read,submit,work", name="all")
    job_id = await job_with_lines(client)
    response = await post(
        client, both, f'mutation {{ cancelJob(id: "{job_id}") {{ logTail logTailTruncated }} }}'
    )
    answer = response.json()["data"]["cancelJob"]
    assert answer == {
        "logTail": f"{SECRET} 0\n{SECRET} 1\n{SECRET} 2",
        "logTailTruncated": False,
    }


async def test_every_log_field_of_job_needs_read(client: Client) -> None:
    """Any field of Job that shows log content (a name starting with "log", logLineCount
    aside) refuses a key without `read` on a mutation's answer: a new one must too."""
    introspection = '{ __type(name: "Job") { fields { name type { kind ofType { kind } } } } }'
    reader = await make_key(client.store, scopes="read,submit", name="reader")
    fields = (await post(client, reader, introspection)).json()["data"]["__type"]["fields"]
    log_fields = [
        field["name"]
        for field in fields
        if field["name"].startswith("log") and field["name"] != "logLineCount"
    ]
    assert set(log_fields) >= {"logTail", "logTailTruncated", "logs"}
    submit = await make_key(client.store, scopes="submit", name="submitter")
    for name in log_fields:
        job_id = await job_with_lines(client)
        kinds = {field["name"]: field["type"] for field in fields}[name]
        composite = (kinds.get("ofType") or {}).get("kind") == "OBJECT"
        selection = f"{name} {{ __typename }}" if composite else name
        response = await post(
            client, submit, f'mutation {{ cancelJob(id: "{job_id}") {{ {selection} }} }}'
        )
        assert_forbidden(response, name)
