"""The lifecycle mutations at the schema level: scopes, tenants, arguments, idempotent submit."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from domain.principal import Scope
from storage.store import Store
from tests.conftest import GraphQLRunner, principal
from tests.factories import make_job

CLAIM = "mutation($w: String!) { claimJob(workerId: $w, leaseSeconds: 30) { id status attempt } }"
BEAT = """mutation($j: ID!, $p: Int) { heartbeat(jobId: $j, workerId: "w", progress: $p) {
  cancelRequested leaseExpiresAt } }"""
LOGS = """mutation($j: ID!, $lines: [LogLineInput!]!) {
  appendLogs(jobId: $j, workerId: "w", lines: $lines) }"""
ITEM = """mutation($j: ID!) { updateItem(jobId: $j, workerId: "w", position: 0, status: FAILED,
  error: "HTTP 404") { position status error } }"""
COMPLETE = 'mutation($j: ID!) { completeJob(jobId: $j, workerId: "w") { status progress } }'
FAIL = 'mutation($j: ID!) { failJob(jobId: $j, workerId: "w", error: "boom") { status error } }'
CANCEL = "mutation($j: ID!) { cancelJob(id: $j) { status cancelable retryable } }"
RETRY = "mutation($j: ID!) { retryJob(id: $j) { status attempt } }"
JOB = "query($j: ID!) { job(id: $j, tail: 5) { status progress logTail itemCounts { failed } } }"
CREATE = """mutation($k: String) { createJob(input: {items: [{url: "https://youtu.be/dQw4w9WgXcQ"}],
  idempotencyKey: $k}) { id } }"""


def codes(result: Any) -> list[str]:
    return [error.extensions["code"] for error in result.errors or []]


async def running_job(gql: GraphQLRunner, store: Store, tenant: str = "default") -> str:
    job = await make_job(store, tenant=tenant, items=2)
    result = await gql(CLAIM, {"w": "w"}, as_=principal(tenant=tenant))
    assert result.errors is None and result.data["claimJob"]["id"] == job.id
    return job.id


async def test_worker_protocol_over_graphql(gql: GraphQLRunner, store: Store) -> None:
    assert (await gql(CLAIM, {"w": "w"})).data == {"claimJob": None}
    job_id = await running_job(gql, store)
    beat = await gql(BEAT, {"j": job_id, "p": 30})
    assert beat.errors is None and beat.data["heartbeat"]["cancelRequested"] is False
    lines = [
        {"message": "resolving"},
        {"message": "fetched", "level": "debug", "timestamp": "2026-01-02T03:04:05Z"},
    ]
    assert (await gql(LOGS, {"j": job_id, "lines": lines})).data == {"appendLogs": 2}
    item = await gql(ITEM, {"j": job_id})
    assert item.data["updateItem"] == {"position": 0, "status": "FAILED", "error": "HTTP 404"}
    assert codes(await gql(BEAT, {"j": job_id, "p": 101})) == ["BAD_USER_INPUT"]
    await gql(BEAT, {"j": job_id, "p": 10})  # lower: ignored
    read = await gql(JOB, {"j": job_id})
    assert read.data["job"] == {
        "status": "RUNNING",
        "progress": 30,
        "logTail": "resolving\nfetched",
        "itemCounts": {"failed": 1},
    }
    assert (await gql(COMPLETE, {"j": job_id})).data == {
        "completeJob": {"status": "COMPLETED", "progress": 100}
    }
    again = await gql(COMPLETE, {"j": job_id})
    assert codes(again) == ["CONFLICT"] and "COMPLETED" in again.errors[0].message


async def test_fail_retry_cancel_over_graphql(gql: GraphQLRunner, store: Store) -> None:
    job_id = await running_job(gql, store)
    assert (await gql(FAIL, {"j": job_id})).data == {
        "failJob": {"status": "FAILED", "error": "boom"}
    }
    assert (await gql(RETRY, {"j": job_id})).data == {
        "retryJob": {"status": "PENDING", "attempt": 2}
    }
    assert (await gql(CANCEL, {"j": job_id})).data == {
        "cancelJob": {"status": "CANCELLED", "cancelable": False, "retryable": False}
    }
    result = await gql(RETRY, {"j": job_id})
    assert codes(result) == ["CONFLICT"]
    assert result.errors[0].message == "cannot retry a job that is CANCELLED"


async def test_cancel_while_running_reaches_the_worker(gql: GraphQLRunner, store: Store) -> None:
    job_id = await running_job(gql, store)
    await gql(CANCEL, {"j": job_id})
    beat = await gql(BEAT, {"j": job_id, "p": 50})
    assert beat.errors is None and beat.data["heartbeat"]["cancelRequested"] is True
    late = await gql(LOGS, {"j": job_id, "lines": [{"message": "still going"}]})
    assert codes(late) == ["CONFLICT"]


@pytest.mark.parametrize(
    ("document", "needs"),
    [
        (CLAIM, Scope.WORK),
        (BEAT, Scope.WORK),
        (LOGS, Scope.WORK),
        (ITEM, Scope.WORK),
        (COMPLETE, Scope.WORK),
        (FAIL, Scope.WORK),
        (CANCEL, Scope.SUBMIT),
        (RETRY, Scope.SUBMIT),
        (CREATE, Scope.SUBMIT),
        (JOB, Scope.READ),
    ],
)
async def test_each_scope_allowed_and_refused(
    gql: GraphQLRunner, store: Store, document: str, needs: Scope
) -> None:
    job = await make_job(store)
    variables = {"j": job.id, "w": "w", "p": 5, "lines": [{"message": "x"}], "k": None}
    for scope in Scope:
        result = await gql(document, variables, as_=principal(scopes={scope}))
        if scope in (needs, Scope.ADMIN):
            assert "FORBIDDEN" not in codes(result), scope
        else:
            assert codes(result) == ["FORBIDDEN"], scope


@pytest.mark.parametrize("document", [BEAT, LOGS, ITEM, COMPLETE, FAIL, CANCEL, RETRY, JOB])
async def test_another_tenants_job_is_not_found(
    gql: GraphQLRunner, store: Store, document: str
) -> None:
    job_id = await running_job(gql, store, tenant="acme")
    variables = {"j": job_id, "p": 5, "lines": [{"message": "x"}]}
    result = await gql(document, variables, as_=principal(tenant="umbrella"))
    assert codes(result) == ["NOT_FOUND"]
    # Nor can another tenant's worker claim it; admin sees every tenant.
    assert (await gql(CLAIM, {"w": "x"}, as_=principal(tenant="umbrella"))).data == {
        "claimJob": None
    }
    admin = await gql(JOB, {"j": job_id}, as_=principal(scopes={Scope.ADMIN}))
    assert admin.errors is None


@pytest.mark.parametrize(
    "lines",
    [
        [{"message": "x", "level": ""}],
        [{"message": "x", "level": "VERY-LOUD"}],
        [{"message": "x", "level": "A" * 17}],
        [{"message": "ok"}, {"message": "y" * 20_000}],
        [{"message": "nul\x00byte"}],
        [{"message": "x"}] * 1001,
    ],
)
async def test_bad_log_batches_are_refused_whole(
    gql: GraphQLRunner, store: Store, lines: list[dict[str, str]]
) -> None:
    job_id = await running_job(gql, store)
    assert codes(await gql(LOGS, {"j": job_id, "lines": lines})) == ["BAD_USER_INPUT"]
    assert (await store.jobs.get_job(job_id=job_id, tenant=None)).last_seq == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        ('mutation { claimJob(workerId: "w", leaseSeconds: 0) { id } }', {}),
        ('mutation { claimJob(workerId: "w", leaseSeconds: 3601) { id } }', {}),
        ('mutation { claimJob(workerId: "") { id } }', {}),
        (BEAT, {"j": "not-a-uuid"}),
        (CANCEL, {"j": "nope"}),
    ],
)
async def test_bad_arguments(gql: GraphQLRunner, document: str, variables: dict[str, str]) -> None:
    assert codes(await gql(document, variables)) == ["BAD_USER_INPUT"]


async def test_unknown_job_is_not_found(gql: GraphQLRunner) -> None:
    for document in (CANCEL, RETRY, COMPLETE):
        assert codes(await gql(document, {"j": str(uuid.uuid4())})) == ["NOT_FOUND"]


async def test_idempotency_key_same_tenant_same_job(gql: GraphQLRunner) -> None:
    first = await gql(CREATE, {"k": "submit-42"})
    again = await gql(CREATE, {"k": "submit-42"})
    assert first.errors is None and again.errors is None
    assert first.data["createJob"]["id"] == again.data["createJob"]["id"]
    other_key = await gql(CREATE, {"k": "submit-43"})
    assert other_key.data["createJob"]["id"] != first.data["createJob"]["id"]
    no_key = [(await gql(CREATE, {"k": None})).data["createJob"]["id"] for _ in range(2)]
    assert no_key[0] != no_key[1]


async def test_idempotency_key_is_per_tenant(gql: GraphQLRunner) -> None:
    mine = await gql(CREATE, {"k": "shared"}, as_=principal(tenant="acme"))
    theirs = await gql(CREATE, {"k": "shared"}, as_=principal(tenant="umbrella"))
    assert mine.data["createJob"]["id"] != theirs.data["createJob"]["id"]


RESEND = """mutation($j: ID!, $lines: [LogLineInput!]!, $after: Int) {
  appendLogs(jobId: $j, workerId: "w", lines: $lines, afterSeq: $after) }"""


async def test_append_after_seq_appends_a_resent_batch_once(
    gql: GraphQLRunner, store: Store
) -> None:
    job_id = await running_job(gql, store)
    first = [{"message": "one"}, {"message": "two"}]
    assert (await gql(RESEND, {"j": job_id, "lines": first, "after": 0})).data == {"appendLogs": 2}
    # The answer was lost; the worker sends the same batch again after the same seq.
    assert (await gql(RESEND, {"j": job_id, "lines": first, "after": 0})).data == {"appendLogs": 2}
    second = [{"message": "three"}]
    assert (await gql(RESEND, {"j": job_id, "lines": second, "after": 2})).data == {"appendLogs": 3}
    stale = await gql(RESEND, {"j": job_id, "lines": second, "after": 1})
    assert codes(stale) == ["CONFLICT"]
    assert stale.errors[0].extensions["lastSeq"] == 3
    read = await gql(JOB, {"j": job_id})
    assert read.data["job"]["logTail"] == "one\ntwo\nthree"


async def test_lines_carry_their_attempt_and_jobs_their_worker(
    gql: GraphQLRunner, store: Store
) -> None:
    job_id = await running_job(gql, store)
    await gql(LOGS, {"j": job_id, "lines": [{"message": "first run"}]})
    worker = await gql(
        "query($j: ID!) { job(id: $j) { workerId leaseExpiresAt attempt } }", {"j": job_id}
    )
    assert worker.data["job"]["workerId"] == "w"
    assert worker.data["job"]["leaseExpiresAt"] is not None
    await gql(FAIL, {"j": job_id})
    await gql(RETRY, {"j": job_id})
    assert (await gql(CLAIM, {"w": "w"})).data["claimJob"]["attempt"] == 2
    await gql(LOGS, {"j": job_id, "lines": [{"message": "second run"}]})
    lines = await gql(
        "query($j: ID!) { job(id: $j) { logs { lines { seq message attempt } } } }", {"j": job_id}
    )
    assert lines.data["job"]["logs"]["lines"] == [
        {"seq": 1, "message": "first run", "attempt": 1},
        {"seq": 2, "message": "second run", "attempt": 2},
    ]
