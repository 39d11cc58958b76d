"""The whole job lifecycle against a real uvicorn, driven by the reference worker."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import cli, live_server
from worker import GraphQLClient, JobLog, Worker, WorkItem

pytestmark = pytest.mark.e2e

CREATE = """mutation($urls: [VideoItemInput!]!) { createJob(input: {items: $urls}) { id } }"""
JOB = """query($j: ID!) { job(id: $j, tail: 100) { status progress attempt error logTail
  logLineCount itemCounts { completed failed } items { status error } } }"""
CANCEL = "mutation($j: ID!) { cancelJob(id: $j) { status } }"
RETRY = "mutation($j: ID!) { retryJob(id: $j) { status attempt } }"
CODES = ["dQw4w9WgXcQ", "9bZkp7q19f0", "kJQP7kiw5Fk"]


class Api:
    def __init__(self, http: httpx.AsyncClient, url: str, key: str) -> None:
        self.http, self.url, self.key = http, url, key

    async def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.http.post(
            self.url, json={"query": query, "variables": variables}, headers={"X-API-Key": self.key}
        )
        body: dict[str, Any] = response.json()
        return body

    async def create(self, *codes: str) -> str:
        urls = [{"url": f"https://youtu.be/{code}"} for code in codes]
        job_id: str = (await self(CREATE, urls=urls))["data"]["createJob"]["id"]
        return job_id

    async def job(self, job_id: str) -> dict[str, Any]:
        job: dict[str, Any] = (await self(JOB, j=job_id))["data"]["job"]
        return job


async def test_lifecycle_end_to_end(database_url: str, tmp_path: Path) -> None:
    cli(database_url, "migrate")
    keys = {
        name: cli(
            database_url, "keys", "create", "--name", name, "--scopes", scopes, *extra
        ).stdout.strip()
        for name, scopes, extra in [
            ("client", "read,submit", ()),
            ("worker", "work", ()),
            ("stranger", "read,submit,work", ("--tenant", "other")),
        ]
    }
    env = {"JOBGRAPH_SWEEP_INTERVAL_SECONDS": "0.1"}
    with live_server(database_url, tmp_path, env=env) as server:
        url = f"{server.url}/graphql"
        async with httpx.AsyncClient(timeout=30) as http:
            api = Api(http, url, keys["client"])
            processed: list[str] = []
            flaky = {CODES[1]}

            async def process(item: WorkItem, log: JobLog) -> None:
                processed.append(item.code)
                log(f"resolving {item.url}")
                if item.code in flaky:
                    raise RuntimeError("HTTP 503 from upstream")
                log.info(f"extracted {item.code}")

            worker = Worker(url, keys["worker"], process, lease_seconds=5, http=http)

            # A run: one item fails, so the job fails; the other job completes.
            first, second = await api.create(*CODES), await api.create(CODES[0])
            assert await worker.run(until_idle=True) == 2
            failed, done = await api.job(first), await api.job(second)
            assert done["status"] == "COMPLETED" and done["progress"] == 100
            watch = f"https://www.youtube.com/watch?v={CODES[0]}"
            assert done["logTail"] == f"resolving {watch}\nextracted {CODES[0]}"
            assert failed["status"] == "FAILED" and failed["error"] == "1 of 3 failed"
            assert failed["itemCounts"] == {"completed": 2, "failed": 1}
            assert failed["items"][1]["error"] == "RuntimeError: HTTP 503 from upstream"

            # The other tenant cannot see or touch it.
            stranger = Api(http, url, keys["stranger"])
            for document in (JOB, RETRY, CANCEL):
                body = await stranger(document, j=first)
                assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"

            # Retry: same id, only the failed item runs again.
            flaky.clear()
            processed.clear()
            assert (await api(RETRY, j=first))["data"]["retryJob"] == {
                "status": "PENDING",
                "attempt": 2,
            }
            assert await worker.run(until_idle=True) == 1
            assert processed == [CODES[1]]
            again = await api.job(first)
            assert again["status"] == "COMPLETED" and again["progress"] == 100
            assert again["itemCounts"] == {"completed": 3, "failed": 0}

            # Cancel while running: the worker learns it from a heartbeat and stops.
            started = asyncio.Event()

            async def slow(item: WorkItem, log: JobLog) -> None:
                started.set()
                log("working slowly")
                await asyncio.sleep(30)

            slow_worker = Worker(url, keys["worker"], slow, heartbeat_seconds=0.1, http=http)
            third = await api.create(*CODES)
            running = asyncio.create_task(
                slow_worker.run_one(GraphQLClient(http, url, keys["worker"]))
            )
            await asyncio.wait_for(started.wait(), 10)
            assert (await api(CANCEL, j=third))["data"]["cancelJob"]["status"] == "CANCELLED"
            assert await asyncio.wait_for(running, 10) == "CANCELLED"
            assert (await api.job(third))["status"] == "CANCELLED"

            # A worker that goes silent: the server's sweeper requeues its job (attempt + 1).
            fourth = await api.create(CODES[0])
            silent = Api(http, url, keys["worker"])
            claim = 'mutation { claimJob(workerId: "silent", leaseSeconds: 1) { id } }'
            assert (await silent(claim))["data"]["claimJob"]["id"] == fourth
            for _ in range(60):
                job = await api.job(fourth)
                if job["status"] == "PENDING":
                    break
                await asyncio.sleep(0.1)
            assert job["status"] == "PENDING" and job["attempt"] == 2
    assert keys["worker"] not in server.logs()
