"""jobgraph in-process (its lifespan runs the delivery worker) beside a real receiver, for the
webhook tests: ``async with jobgraph(database_url, tmp_path) as jg: ...``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from app import create_app
from settings import Settings
from storage.store import Store
from tests.factories import make_key

CREATE = """mutation($url: String!, $events: [WebhookEvent!]) {
  createJob(input: {items: [{url: "https://youtu.be/dQw4w9WgXcQ"}, {platform: TIKTOK,
    code: "6718335390845095173"}], webhook: {url: $url, events: $events}}) {
    id webhook { url events } } }"""
CLAIM = 'mutation { claimJob(workerId: "w", leaseSeconds: 600) { id } }'
BEAT = 'mutation($j: ID!, $p: Int) { heartbeat(jobId: $j, workerId: "w", progress: $p) { cancelRequested } }'  # noqa: E501
COMPLETE = 'mutation($j: ID!) { completeJob(jobId: $j, workerId: "w") { status } }'
FAIL = 'mutation($j: ID!) { failJob(jobId: $j, workerId: "w", error: "no such video") { status } }'
CANCEL = "mutation($j: ID!) { cancelJob(id: $j) { status } }"
DELIVERIES = """query($j: ID!) { job(id: $j) { webhook { url events disabledAt }
  webhookDeliveries(first: 100) { totalCount edges { node { id webhookId event attempt status
    responseStatus error createdAt nextAttemptAt attemptedAt durationMs } } } } }"""

# Short enough for tests to watch a whole schedule; no jitter, so intervals can be measured.
FAST = {
    "webhook_allow_private": True,
    "webhook_retry_schedule": "0,0.3,0.3,0.3",
    "webhook_retry_jitter": 0,
    "webhook_timeout_seconds": 2,
    "webhook_poll_interval_seconds": 0.1,
    "webhook_progress_interval_seconds": 0,
}


@dataclass
class Jobgraph:
    app: Starlette
    store: Store
    key: str
    http: httpx.AsyncClient

    async def gql(self, query: str, **variables: Any) -> Any:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"X-API-Key": self.key},
        )
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    async def create(self, url: str, events: list[str] | None = None) -> str:
        data = await self.gql(CREATE, url=url, events=events)
        return str(data["createJob"]["id"])

    async def claim(self, job_id: str) -> None:
        assert (await self.gql(CLAIM))["claimJob"]["id"] == job_id

    async def deliveries(self, job_id: str) -> list[dict[str, Any]]:
        job = (await self.gql(DELIVERIES, j=job_id))["job"]
        return [edge["node"] for edge in job["webhookDeliveries"]["edges"]]

    async def settled(self, job_id: str, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        """The job's attempts once ``count`` exist and none is PENDING."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = await self.deliveries(job_id)
            if len(found) >= count and all(d["status"] != "PENDING" for d in found):
                return found
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"deliveries did not settle: {found}")
            await asyncio.sleep(0.05)

    async def secret(self, tenant: str = "default") -> str:
        return await self.store.webhook_secrets.get_or_create(tenant=tenant)


@contextlib.asynccontextmanager
async def jobgraph(database_url: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[Jobgraph]:
    options = {**FAST, **overrides}
    settings = Settings(
        database_url=database_url,
        env="test",
        webhook_secret_key_file=str(tmp_path / "webhook-secret.key"),
        **options,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        store: Store = app.state.store
        key = await make_key(store, scopes="read,submit,work")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://jobgraph.test") as http:
            yield Jobgraph(app, store, key, http)
