"""One rate limit on every entry point (issue 17, item 9): GraphQL over HTTP, multipart
subscriptions, REST ``/status`` and ``/process`` spend from the same per-key buckets, and each
answers 429 JSON with ``Retry-After`` before doing any work. (The WebSocket half is in
tests/e2e/test_hostile_sockets.py.) Also: the batched key re-check behind revocation."""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager

import httpx
from sqlalchemy import func, select

from domain.jobs import JobStatus
from domain.principal import Scope
from storage.store import Store
from storage.tables import jobs
from tests.factories import make_job, make_key
from tests.gql_clients import MULTIPART_ACCEPT
from tests.http_client import Client, app_client
from tests.live_helpers import set_status

ME = {"query": "{ me { name } }"}
LOGS = "subscription($id: ID!) { jobLogs(id: $id, after: 0) { seq } }"
PROCESS = {"items": [{"platform": "youtube", "code": "dQw4w9WgXcQ"}]}


def limited(database_url: str) -> AbstractAsyncContextManager[Client]:
    return app_client(database_url, rate_limit_per_second=0.5, rate_limit_burst=2)


async def drain(client: Client) -> None:
    """Spend the key's burst (2) on GraphQL over HTTP."""
    assert [(await client.post(ME)).status_code for _ in range(2)] == [200, 200]


def assert_rest_429(response: httpx.Response) -> None:
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.headers["content-type"] == "application/json"
    assert "too many requests" in response.json()["detail"]


async def test_rest_status_and_process_share_graphqls_buckets(database_url: str) -> None:
    async with limited(database_url) as client:
        job = await make_job(client.store)
        headers = {"X-API-Key": client.key}
        await drain(client)
        started = time.perf_counter()
        assert_rest_429(await client.http.get(f"/status/{job.id}", headers=headers))
        assert_rest_429(await client.http.post("/process", json=PROCESS, headers=headers))
        assert time.perf_counter() - started < 1.0
        # Nothing was created by the refused /process.
        count = await client.store.db.read(
            lambda conn: conn.execute(select(func.count()).select_from(jobs)).scalar_one()
        )
        assert count == 1


async def test_rest_spends_before_graphql_and_unknown_keys_spend_nothing(
    database_url: str,
) -> None:
    async with limited(database_url) as client:
        job = await make_job(client.store)
        headers = {"X-API-Key": client.key}
        for _ in range(3):  # an unknown key is 401 and spends no one's tokens
            response = await client.http.get(f"/status/{job.id}", headers={"X-API-Key": "jg_x"})
            assert response.status_code == 401
        assert (await client.http.get(f"/status/{job.id}", headers=headers)).status_code == 200
        assert (
            await client.http.post("/process", json=PROCESS, headers=headers)
        ).status_code == 202
        response = await client.post(ME)
        assert response.status_code == 429
        assert response.json()["errors"][0]["extensions"] == {
            "code": "RATE_LIMITED",
            "retryAfter": 2,
        }
        # Another key has its own bucket.
        other = await make_key(client.store, name="other")
        assert (
            await client.http.get(f"/status/{job.id}", headers={"X-API-Key": other})
        ).status_code == 200


async def test_a_throttled_multipart_subscription_is_a_json_429_before_streaming(
    database_url: str,
) -> None:
    async with limited(database_url) as client:
        job = await make_job(client.store, lines=1)
        await drain(client)
        headers = {"X-API-Key": client.key, "accept": MULTIPART_ACCEPT}
        body = {"query": LOGS, "variables": {"id": job.id}}
        response = await client.http.post("/graphql", json=body, headers=headers)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "2"
        assert response.headers["content-type"].startswith("application/json")
        error = response.json()["errors"][0]
        assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 2}
        assert "data" not in response.json()


async def test_an_admitted_multipart_subscription_spends_one_token(database_url: str) -> None:
    async with limited(database_url) as client:
        job = await make_job(client.store, lines=1)
        await set_status(client.store, job.id, JobStatus.CANCELLED)  # the stream ends at once
        headers = {"X-API-Key": client.key, "accept": MULTIPART_ACCEPT}
        body = {"query": LOGS, "variables": {"id": job.id}}
        response = await client.http.post("/graphql", json=body, headers=headers)
        assert response.status_code == 200
        assert "multipart/mixed" in response.headers["content-type"]
        # One token spent (not two: the extension does not charge it again), one left.
        assert (await client.post(ME)).status_code == 200
        assert (await client.post(ME)).status_code == 429


async def test_the_key_recheck_reads_any_number_of_keys_at_once(store: Store) -> None:
    created = [
        await store.keys.create(name=f"k{i}", tenant="default", scopes=[Scope.READ])
        for i in range(600)
    ]
    ids = [record.id for record, _ in created]
    for key_id in ids[::7]:
        assert await store.keys.revoke(key_id=key_id)
    active = await store.keys.active_among([*ids, "no-such-key"])
    assert active == set(ids) - set(ids[::7])
    assert await store.keys.active_among([]) == set()
    assert await store.keys.active_among(ids[1:4]) == set(ids[1:4])
    assert await store.keys.is_active(ids[1]) and not await store.keys.is_active(ids[0])
    assert not await store.keys.is_active("no-such-key")
