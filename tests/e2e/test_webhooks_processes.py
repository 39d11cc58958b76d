"""End to end (real server processes): deliveries survive a SIGKILL of the server that holds
them, two processes on one PostgreSQL send each attempt exactly once, and the
``app.py webhooks secret`` command."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from domain.webhooks import WebhookEvent
from settings import Settings
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.store import Store
from storage.tables import webhook_deliveries, webhook_secrets
from storage.webhook_records import WebhookSpec
from tests.conftest import _truncate
from tests.factories import make_key, video
from tests.live import cli, live_server
from tests.webhook_receiver import Answer, Receiver

pytestmark = pytest.mark.e2e

CREATE = """mutation($url: String!) { createJob(input: {items: [{url:
  "https://youtu.be/dQw4w9WgXcQ"}], webhook: {url: $url}}) { id } }"""
CLAIM = 'mutation { claimJob(workerId: "w", leaseSeconds: 600) { id } }'
COMPLETE = 'mutation($j: ID!) { completeJob(jobId: $j, workerId: "w") { status } }'


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "JOBGRAPH_WEBHOOK_ALLOW_PRIVATE": "true",
        "JOBGRAPH_WEBHOOK_RETRY_JITTER": "0",
        "JOBGRAPH_WEBHOOK_SECRET_KEY_FILE": str(tmp_path / "webhook-secret.key"),
        **extra,
    }


@contextlib.asynccontextmanager
async def opened(url: str, tmp_path: Path) -> AsyncIterator[Store]:
    settings = Settings(
        database_url=url, webhook_secret_key_file=str(tmp_path / "webhook-secret.key")
    )
    db = Database(settings)
    try:
        await upgrade_to_head(db)
        yield Store(db)
    finally:
        await db.dispose()


async def gql(client: httpx.AsyncClient, base: str, key: str, query: str, **variables: Any) -> Any:
    response = await client.post(
        f"{base}/graphql", json={"query": query, "variables": variables}, headers={"X-API-Key": key}
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def attempts_by_status(store: Store) -> Counter[str]:
    rows = await store.db.read(
        lambda conn: conn.execute(select(webhook_deliveries.c.status)).scalars().all()
    )
    return Counter(rows)


async def test_deliveries_pending_at_sigkill_go_out_after_restart(
    database_url: str, tmp_path: Path
) -> None:
    env = server_env(
        tmp_path,
        JOBGRAPH_WEBHOOK_RETRY_SCHEDULE="0,2,2,2,2",
        JOBGRAPH_WEBHOOK_TIMEOUT_SECONDS="2",  # an attempt is held for 2 * 2 + 5 s
        JOBGRAPH_WEBHOOK_POLL_INTERVAL_SECONDS="0.2",
    )
    async with opened(database_url, tmp_path) as store, Receiver().running() as receiver:
        key = await make_key(store, scopes="read,submit,work")
        receiver.default = Answer(503)  # down: every first attempt fails, retries are pending
        receiver.script("/held", Answer(200, delay=5))  # in flight when the server dies
        with live_server(database_url, tmp_path, env=env) as first:
            async with httpx.AsyncClient(timeout=30) as client:
                paths = [f"/k{index}" for index in range(5)] + ["/held"]
                for path in paths:
                    created = await gql(client, first.url, key, CREATE, url=receiver.url(path))
                    job_id = created["createJob"]["id"]
                    assert (await gql(client, first.url, key, CLAIM))["claimJob"]["id"] == job_id
                    await gql(client, first.url, key, COMPLETE, j=job_id)
                for path in paths:
                    await receiver.wait_for(path, 1)
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(timeout=10)
        killed = time.monotonic()
        pending = await attempts_by_status(store)
        receiver.default = Answer(200)  # back up
        receiver.script("/held", 200)
        with live_server(database_url, tmp_path, env=env) as second:
            restarted = time.monotonic()
            for index in range(5):
                await receiver.wait_for(f"/k{index}", 2, timeout=30)
            held_calls = await receiver.wait_for("/held", 2, timeout=30)
            delivered = time.monotonic()
            await asyncio.sleep(0.5)
            settled = await attempts_by_status(store)
            logs = second.logs()
    secret = await _secret(database_url, tmp_path)
    assert pending["PENDING"] == 6, pending  # five retries due and the one in flight
    for index in range(5):
        calls = receiver.calls_to(f"/k{index}")
        assert len(calls) == 2 and len({call.webhook_id for call in calls}) == 1
        assert calls[1].verify(secret)["type"] == "job.completed"
    assert len({call.webhook_id for call in held_calls}) == 1
    assert settled == Counter({"FAILED": 5, "SUCCEEDED": 6}), settled
    assert "succeeded" in logs
    print(
        f"\nSIGKILL with 6 attempts pending (1 in flight): all delivered "
        f"{delivered - restarted:.1f} s after the restart ({delivered - killed:.1f} s after the "
        "kill; the one in flight waits out its 9 s hold)"
    )


async def _secret(database_url: str, tmp_path: Path) -> str:
    async with opened(database_url, tmp_path) as store:
        return await store.webhook_secrets.get_or_create(tenant="default")


def delivered_by(text: str) -> int:
    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == "jobgraph_webhook_deliveries":
            total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return int(total)


async def test_two_processes_send_each_attempt_exactly_once(
    pg_database: str, tmp_path: Path
) -> None:
    await _truncate(pg_database)
    messages = 60
    env = server_env(
        tmp_path,
        JOBGRAPH_WEBHOOK_RETRY_SCHEDULE="0,0.5,0.5",
        JOBGRAPH_WEBHOOK_POLL_INTERVAL_SECONDS="0.05",
        JOBGRAPH_WEBHOOK_CONCURRENCY="4",
    )
    async with opened(pg_database, tmp_path) as store, Receiver().running() as receiver:
        receiver.default = Answer(200, delay=0.02)
        for index in range(messages):
            receiver.script(f"/m{index}", Answer(500, delay=0.02))  # every message twice
        with (
            live_server(pg_database, tmp_path, env=env) as a,
            live_server(pg_database, tmp_path, env=env) as b,
        ):
            # Queued by this process, which sends nothing: both servers find them by polling
            # and race for every one of them.
            started = time.monotonic()
            for index in range(messages):
                job, _ = await store.jobs.create_job(
                    tenant="default",
                    items=[video(index)],
                    webhook=WebhookSpec(receiver.url(f"/m{index}"), (WebhookEvent.COMPLETED,)),
                )
                await store.lifecycle.claim_next(tenant=None, worker_id="w", lease_seconds=60)
                await store.lifecycle.complete(tenant=None, job_id=job.id, worker_id="w")
            for index in range(messages):
                await receiver.wait_for(f"/m{index}", 2, timeout=60)
            elapsed = time.monotonic() - started
            await asyncio.sleep(1.0)  # anything sent twice would have arrived by now
            async with httpx.AsyncClient() as client:
                by_a = delivered_by((await client.get(f"{a.url}/metrics")).text)
                by_b = delivered_by((await client.get(f"{b.url}/metrics")).text)
        settled = await attempts_by_status(store)
    per_message = Counter(call.webhook_id for call in receiver.calls)
    assert len(receiver.calls) == 2 * messages
    assert len(per_message) == messages and set(per_message.values()) == {2}
    assert settled == Counter({"FAILED": messages, "SUCCEEDED": messages}), settled
    assert by_a + by_b == 2 * messages and by_a > 0 and by_b > 0, (by_a, by_b)
    print(
        f"\ntwo processes, {messages} messages x 2 attempts: {len(receiver.calls)} requests, "
        f"none twice; process A sent {by_a}, B sent {by_b}; {elapsed:.1f} s"
    )


def test_webhooks_secret_command(database_url: str, tmp_path: Path) -> None:
    env = {"JOBGRAPH_WEBHOOK_SECRET_KEY_FILE": str(tmp_path / "k")}
    first = cli(database_url, "webhooks", "secret", "--tenant", "acme", env=env)
    again = cli(database_url, "webhooks", "secret", "--tenant", "acme", env=env)
    other = cli(database_url, "webhooks", "secret", env=env)
    rotated = cli(database_url, "webhooks", "secret", "--tenant", "acme", "--rotate", env=env)
    after = cli(database_url, "webhooks", "secret", "--tenant", "acme", env=env)
    secret = first.stdout.strip()
    assert first.stdout == f"{secret}\n" and secret.startswith("whsec_")
    assert again.stdout == first.stdout and other.stdout != first.stdout
    assert rotated.stdout.strip().startswith("whsec_") and rotated.stdout != first.stdout
    assert after.stdout == rotated.stdout
    assert "24 h" in rotated.stderr
    assert oct(os.stat(tmp_path / "k").st_mode & 0o777) == "0o600"

    async def stored() -> list[tuple[str, str | None]]:
        async with opened(database_url, tmp_path) as store:
            query = select(webhook_secrets.c.secret, webhook_secrets.c.previous)
            return list(await store.db.read(lambda conn: conn.execute(query).all()))

    rows = asyncio.run(stored())
    text = repr(rows)
    # Encrypted at rest: neither secret, nor its random part, is in the database.
    for plain in (secret, rotated.stdout.strip()):
        assert plain not in text and plain.removeprefix("whsec_") not in text
    # Another key (a valid one) cannot read them: the command says so, prints nothing.
    wrong_key = {"JOBGRAPH_WEBHOOK_SECRET_KEY": "x" * 43 + "="}
    with pytest.raises(subprocess.CalledProcessError) as refused:
        cli(database_url, "webhooks", "secret", "--tenant", "acme", env=wrong_key)
    assert refused.value.returncode == 1 and refused.value.stdout == ""
    assert "does not decrypt" in refused.value.stderr
