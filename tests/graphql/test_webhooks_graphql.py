"""Schema level (schema.execute, no server): createJob's webhook and every malformed one,
Job.webhook, Job.webhookDeliveries as a connection, redeliverWebhook's scope and tenancy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from domain.principal import Scope
from domain.webhooks import Outcome, WebhookEvent
from schema.build import JobgraphSchema
from settings import Settings
from storage.store import Store
from storage.tables import jobs
from storage.webhook_deliveries import AttemptResult
from storage.webhook_records import WebhookSpec
from tests.conftest import GraphQLRunner, principal
from tests.factories import video

CREATE = """mutation($webhook: WebhookInput) { createJob(input: {items: [{url:
  "https://youtu.be/dQw4w9WgXcQ"}], webhook: $webhook}) {
    id webhook { url events disabledAt } } }"""
JOB = """query($j: ID!, $first: Int, $after: String) { job(id: $j) { webhook { url events }
  webhookDeliveries(first: $first, after: $after) { totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id webhookId event attempt status responseStatus error createdAt
      nextAttemptAt attemptedAt durationMs } } } } }"""
REDELIVER = "mutation($d: ID!) { redeliverWebhook(deliveryId: $d) { id attempt status event } }"
URL = "https://hooks.example.com/jobgraph?token=abc"


def codes(result: Any) -> list[str]:
    return [error.extensions["code"] for error in result.errors or []]


async def job_count(store: Store) -> int:
    query = select(func.count()).select_from(jobs)
    return int(await store.db.read(lambda conn: conn.execute(query).scalar_one()))


async def test_create_job_with_a_webhook(gql: GraphQLRunner) -> None:
    plain = await gql(CREATE, {"webhook": None})
    assert plain.errors is None and plain.data["createJob"]["webhook"] is None
    default = await gql(CREATE, {"webhook": {"url": URL}})
    assert default.errors is None
    assert default.data["createJob"]["webhook"] == {
        "url": URL,
        "events": ["COMPLETED", "FAILED", "CANCELLED"],
        "disabledAt": None,
    }
    chosen = await gql(
        CREATE,
        {"webhook": {"url": " HTTPS://Hooks.Example.com/x ", "events": ["PROGRESS", "STARTED"]}},
    )
    assert chosen.data["createJob"]["webhook"] == {
        "url": "https://hooks.example.com/x",
        "events": ["STARTED", "PROGRESS"],
        "disabledAt": None,
    }
    job_id = chosen.data["createJob"]["id"]
    read = await gql(JOB, {"j": job_id})
    assert read.data["job"]["webhook"]["events"] == ["STARTED", "PROGRESS"]
    assert read.data["job"]["webhookDeliveries"]["totalCount"] == 0
    # Another tenant's key does not see the job, so not its webhook either.
    other = await gql(JOB, {"j": job_id}, as_=principal(tenant="other"))
    assert codes(other) == ["NOT_FOUND"]


MALFORMED: list[tuple[str, Any]] = [
    ("empty url", {"url": ""}),
    ("blank url", {"url": "   "}),
    ("not a url", {"url": "not a url"}),
    ("no scheme", {"url": "hooks.example.com/x"}),
    ("ftp", {"url": "ftp://hooks.example.com/"}),
    ("javascript", {"url": "javascript:alert(1)"}),
    ("no host", {"url": "https://"}),
    ("credentials", {"url": "https://user:pass@hooks.example.com/"}),
    ("bad port", {"url": "https://hooks.example.com:70000/"}),
    ("too long", {"url": "https://hooks.example.com/" + "a" * 2048}),
    ("space", {"url": "https://hooks.example.com/a b"}),
    ("loopback", {"url": "http://127.0.0.1:8080/hook"}),
    ("ipv6 loopback", {"url": "http://[::1]:8080/hook"}),
    ("metadata", {"url": "http://169.254.169.254/latest/meta-data/"}),
    ("private", {"url": "http://10.0.0.1/hook"}),
    ("v4-mapped", {"url": "http://[::ffff:127.0.0.1]/hook"}),
    ("short ipv4", {"url": "http://127.1/hook"}),
    ("localhost", {"url": "http://localhost:8000/hook"}),
    ("no events", {"url": URL, "events": []}),
    ("unknown event", {"url": URL, "events": ["DONE"]}),
    ("lowercase event", {"url": URL, "events": ["completed"]}),  # GraphQL enums are exact
    ("null url", {"url": None}),
    ("number url", {"url": 42}),
    ("missing url", {"events": ["COMPLETED"]}),
    ("unknown field", {"url": URL, "secret": "x"}),
    ("not an object", "https://hooks.example.com/"),
    ("a list", [{"url": URL}]),
]


@pytest.mark.parametrize(("name", "webhook"), MALFORMED, ids=[name for name, _ in MALFORMED])
async def test_every_malformed_webhook_is_bad_user_input_and_creates_no_job(
    gql: GraphQLRunner, store: Store, name: str, webhook: Any
) -> None:
    before = await job_count(store)
    result = await gql(CREATE, {"webhook": webhook})
    assert codes(result) == ["BAD_USER_INPUT"], (name, result)
    assert result.data is None
    assert await job_count(store) == before


async def test_the_error_names_the_field(gql: GraphQLRunner) -> None:
    result = await gql(CREATE, {"webhook": {"url": "http://10.0.0.1/hook"}})
    (error,) = result.errors
    assert error.extensions == {"code": "BAD_USER_INPUT", "field": "webhook.url"}
    assert "private address" in error.message
    # Written in the document instead of a variable: the same check.
    inline = await gql(
        'mutation { createJob(input: {items: [{url: "https://youtu.be/dQw4w9WgXcQ"}], '
        'webhook: {url: "ftp://x.example.com/", events: [COMPLETED]}}) { id } }'
    )
    assert codes(inline) == ["BAD_USER_INPUT"]


async def test_private_receivers_when_allowed(
    schema: JobgraphSchema, store: Store, settings: Settings
) -> None:
    allowed = GraphQLRunner(
        schema, store, settings.model_copy(update={"webhook_allow_private": True})
    )
    result = await allowed(CREATE, {"webhook": {"url": "http://127.0.0.1:9000/hook"}})
    assert result.errors is None
    assert result.data["createJob"]["webhook"]["url"] == "http://127.0.0.1:9000/hook"


async def deliveries_of(store: Store, count: int) -> str:
    """A job of tenant default with ``count`` settled attempts (one message, retried)."""
    job, _ = await store.jobs.create_job(
        tenant="default",
        items=[video(0)],
        webhook=WebhookSpec(URL, (WebhookEvent.STARTED,)),
    )
    await store.lifecycle.claim_next(tenant=None, worker_id="w", lease_seconds=60)
    for attempt in range(count):
        (claimed,) = await store.webhooks.claim_due(owner="w", limit=1, lease_seconds=30)
        last = attempt == count - 1
        result = (
            AttemptResult(Outcome.SUCCEEDED, 4.0, 200)
            if last
            else AttemptResult(Outcome.HTTP_ERROR, 4.0, 500, "HTTP 500")
        )
        await store.webhooks.settle(claimed=claimed, result=result)
        store.webhooks.clock = _later(store.webhooks.clock)
    return job.id


def _later(clock: Any) -> Any:
    return lambda: clock() + timedelta(hours=1)


async def test_deliveries_page_by_page(gql: GraphQLRunner, store: Store) -> None:
    job_id = await deliveries_of(store, 3)
    first = await gql(JOB, {"j": job_id, "first": 2})
    page = first.data["job"]["webhookDeliveries"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"] is True
    assert page["pageInfo"]["hasPreviousPage"] is False
    nodes = [edge["node"] for edge in page["edges"]]
    assert [(n["attempt"], n["status"], n["responseStatus"]) for n in nodes] == [
        (1, "FAILED", 500),
        (2, "FAILED", 500),
    ]
    assert nodes[0]["error"] == "HTTP 500" and nodes[0]["durationMs"] == 4.0
    assert nodes[0]["event"] == "STARTED" and nodes[0]["webhookId"] == nodes[1]["webhookId"]
    rest = await gql(JOB, {"j": job_id, "first": 2, "after": page["pageInfo"]["endCursor"]})
    more = rest.data["job"]["webhookDeliveries"]
    assert [edge["node"]["status"] for edge in more["edges"]] == ["SUCCEEDED"]
    assert more["pageInfo"]["hasNextPage"] is False and more["pageInfo"]["hasPreviousPage"]
    for bad in ({"first": 0}, {"first": 101}, {"after": "nonsense"}, {"after": "am9iOjE"}):
        result = await gql(JOB, {"j": job_id, **bad})
        assert codes(result) == ["BAD_USER_INPUT"], bad


async def test_redeliver_webhook(gql: GraphQLRunner, store: Store) -> None:
    job_id = await deliveries_of(store, 1)
    page = await gql(JOB, {"j": job_id})
    delivery = page.data["job"]["webhookDeliveries"]["edges"][0]["node"]
    again = await gql(REDELIVER, {"d": delivery["id"]})
    assert again.errors is None
    assert again.data["redeliverWebhook"]["attempt"] == 2
    assert again.data["redeliverWebhook"]["status"] == "PENDING"
    reader = principal(scopes={Scope.READ})
    assert codes(await gql(REDELIVER, {"d": delivery["id"]}, as_=reader)) == ["FORBIDDEN"]
    stranger = principal(tenant="other")
    assert codes(await gql(REDELIVER, {"d": delivery["id"]}, as_=stranger)) == ["NOT_FOUND"]
    admin = principal(tenant="other", scopes={Scope.ADMIN})
    assert (await gql(REDELIVER, {"d": delivery["id"]}, as_=admin)).errors is None
    assert codes(await gql(REDELIVER, {"d": "not-a-uuid"})) == ["BAD_USER_INPUT"]
    unknown = "00000000-0000-4000-8000-000000000000"
    assert codes(await gql(REDELIVER, {"d": unknown})) == ["NOT_FOUND"]
