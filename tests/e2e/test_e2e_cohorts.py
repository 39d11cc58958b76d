"""Cohorts end to end: subscribers of one operation share its execution, on every transport.

Real clients on graphql-transport-ws, legacy graphql-ws and multipart against a real server;
the shared executions are read from /metrics.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_e2e_live import APPEND, CREATE, seeded
from tests.factories import make_key
from tests.gql_clients import (
    LEGACY_WS,
    MULTIPART_ACCEPT,
    TRANSPORT_WS,
    WsClient,
    parse_multipart,
    ws_connect,
)
from tests.live import live_server

pytestmark = pytest.mark.e2e

LOGS = "subscription($id: ID!, $tail: Int) { jobLogs(id: $id, tail: $tail) { seq message } }"
BATCHES = """subscription($id: ID!, $tail: Int) {
  jobLogBatches(id: $id, tail: $tail, maxLines: 7) { lastSeq lines { seq } } }"""


def executions(metrics: str) -> float:
    found = re.search(r"^jobgraph_live_cohort_executions_total (\S+)$", metrics, re.M)
    return float(found.group(1)) if found else 0.0


class Server:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        response = await self.http.post("/graphql", json={"query": query, "variables": variables})
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    async def job(self) -> str:
        job_id: str = (await self.gql(CREATE))["createJob"]["id"]
        claimed = await self.gql('mutation { claimJob(workerId: "w1") { id } }')
        assert claimed["claimJob"]["id"] == job_id
        return job_id

    async def append(self, job_id: str, first: int, count: int, size: int = 0) -> None:
        pad = "x" * size
        lines = [{"message": f"line {n}{pad}"} for n in range(first, first + count)]
        await self.gql(APPEND, {"j": job_id, "lines": lines})

    async def complete(self, job_id: str) -> None:
        done = 'mutation($j: ID!) { completeJob(jobId: $j, workerId: "w1") { id } }'
        await self.gql(done, {"j": job_id})


def seqs_from(payloads: list[Any]) -> list[int]:
    out: list[int] = []
    for payload in payloads:
        data = payload["data"]
        if "jobLogs" in data:
            out.append(data["jobLogs"]["seq"])
        else:
            batch = data["jobLogBatches"]
            got = [line["seq"] for line in batch["lines"]]
            assert got[-1] == batch["lastSeq"]
            out.extend(got)
    return out


async def follow_ws(url: str, protocol: Any, key: str, query: str, variables: Any) -> list[Any]:
    async with ws_connect(url, protocol) as ws:
        client = WsClient(ws, protocol)
        assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
        out = await client.collect(query, variables)
    assert out[-1]["type"] == "complete", out[-1]
    return out[:-1]


async def follow_multipart(base: str, key: str, query: str, variables: Any) -> list[Any]:
    headers = {"accept": MULTIPART_ACCEPT, "X-API-Key": key}
    body = ""
    async with (
        httpx.AsyncClient(timeout=60) as http,
        http.stream(
            "POST",
            f"{base}/graphql",
            json={"query": query, "variables": variables},
            headers=headers,
        ) as response,
    ):
        async for text in response.aiter_text():
            body += text
    assert body.rstrip().endswith("--graphql--")
    return [part["payload"] for part in parse_multipart(body)]


@pytest.mark.parametrize("query", [LOGS, BATCHES])
async def test_one_execution_per_event_for_a_cohort_on_every_transport(
    database_url: str, tmp_path: Path, query: str
) -> None:
    async with seeded(database_url) as store:
        key = await make_key(store, tenant="acme", scopes="read,submit,work")
        other = await make_key(store, tenant="umbrella", scopes="read")
    with live_server(database_url, tmp_path) as server:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"X-API-Key": key}, timeout=30
        ) as http:
            api = Server(http)
            job_id = await api.job()
            await api.append(job_id, 1, 10)
            variables = {"id": job_id, "tail": 5}
            followers = [
                *(follow_ws(server.ws_url, TRANSPORT_WS, key, query, variables) for _ in range(12)),
                *(follow_ws(server.ws_url, LEGACY_WS, key, query, variables) for _ in range(4)),
                *(follow_multipart(server.url, key, query, variables) for _ in range(4)),
            ]
            tasks = [asyncio.create_task(f) for f in followers]
            # Another tenant's key, same document and variables: never shares the cohort.
            async with ws_connect(server.ws_url, TRANSPORT_WS) as ws:
                client = WsClient(ws, TRANSPORT_WS)
                await client.init({"X-API-Key": other})
                (refused,) = await client.collect(query, variables)
                assert refused["payload"][0]["extensions"]["code"] == "NOT_FOUND"
            await asyncio.sleep(1.0)
            before = executions((await http.get("/metrics")).text)
            late: list[asyncio.Task[list[Any]]] = []
            for batch in range(20):  # lines 11..210
                await api.append(job_id, 11 + batch * 10, 10)
                await asyncio.sleep(0.05)
                if batch in (5, 12):  # late joiners: their own backfill, then the cohort
                    late.append(
                        asyncio.create_task(
                            follow_ws(server.ws_url, TRANSPORT_WS, key, query, variables)
                        )
                    )
            await asyncio.sleep(0.5)
            await api.complete(job_id)
            async with asyncio.timeout(60):
                results = await asyncio.gather(*tasks)
                late_results = await asyncio.gather(*late)
            after = executions((await http.get("/metrics")).text)
    for payloads in results:
        assert seqs_from(payloads) == list(range(6, 211))
    for payloads in late_results:
        got = seqs_from(payloads)
        assert got == list(range(got[0], 211)) and got[0] > 6
    if os.environ.get("JOBGRAPH_FAST_PATHS", "true").lower() in ("false", "0"):
        assert after == 0  # cohorts are a fast path: each follower ran its own execution
        return
    # 20 followers, 200 lines: about one execution per message, not one per follower.
    messages = 200 if query == LOGS else 200 / 7
    assert 0 < after - before <= 3 * messages + 10, (before, after)


async def test_a_slow_member_never_slows_its_cohort(database_url: str, tmp_path: Path) -> None:
    async with seeded(database_url) as store:
        key = await make_key(store, tenant="acme", scopes="read,submit,work")
    env = {"JOBGRAPH_LIVE_QUEUE_SIZE": "100"}
    with live_server(database_url, tmp_path, env=env) as server:
        async with (
            httpx.AsyncClient(base_url=server.url, headers={"X-API-Key": key}, timeout=30) as http,
            ws_connect(server.ws_url, TRANSPORT_WS) as slow_ws,
        ):
            api = Server(http)
            job_id = await api.job()
            variables = {"id": job_id}
            slow = WsClient(slow_ws, TRANSPORT_WS)
            await slow.init({"X-API-Key": key})
            slow_op = await slow.start(LOGS, variables)
            fast = [
                asyncio.create_task(follow_ws(server.ws_url, TRANSPORT_WS, key, LOGS, variables))
                for _ in range(3)
            ]
            await asyncio.sleep(1.0)
            for batch in range(60):  # 600 lines of 8 KiB: more than the sockets buffer
                await api.append(job_id, 1 + batch * 10, 10, size=8000)
                await asyncio.sleep(0.02)
            await api.complete(job_id)
            async with asyncio.timeout(60):
                for payloads in await asyncio.gather(*fast):
                    assert seqs_from(payloads) == list(range(1, 601))
                got = [m async for m in slow.messages(slow_op)]
    *lines, last, end = got
    assert end["type"] == "complete"
    if "errors" in last["payload"]:
        # Dropped alone, saying where to resume (when the socket's buffers filled up).
        extensions = last["payload"]["errors"][0]["extensions"]
        assert extensions["code"] == "SUBSCRIPTION_OVERFLOW"
        resume = extensions["resumeAfter"]
        assert seqs_from([m["payload"] for m in lines]) == list(range(1, resume + 1))
    else:
        assert seqs_from([m["payload"] for m in [*lines, last]]) == list(range(1, 601))


async def test_shared_messages_of_every_frame_length_arrive_intact(
    database_url: str, tmp_path: Path
) -> None:
    """A cohort writes its members' frames itself: messages under 126 bytes, up to 64 KiB and
    over it (the three lengths of a WebSocket frame header) reach every member whole, on both
    WebSocket protocols."""
    async with seeded(database_url) as store:
        key = await make_key(store, tenant="acme", scopes="read,submit,work")
    query = """subscription($id: ID!) {
      jobLogBatches(id: $id, after: 0, maxLines: 5) { lastSeq lines { seq message } } }"""
    # (lines, padding) per append: a batch of five 15,000-byte lines is a 75 KB message.
    appends = [(1, 0), (1, 0), (1, 300), (1, 3000), (5, 15_000), (1, 0), (4, 15_000), (1, 0)]
    expected = ["line 1"]
    with live_server(database_url, tmp_path) as server:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"X-API-Key": key}, timeout=30
        ) as http:
            api = Server(http)
            job_id = await api.job()
            variables = {"id": job_id}
            followers = [
                *(follow_ws(server.ws_url, TRANSPORT_WS, key, query, variables) for _ in range(3)),
                *(follow_ws(server.ws_url, LEGACY_WS, key, query, variables) for _ in range(2)),
            ]
            tasks = [asyncio.create_task(f) for f in followers]
            await asyncio.sleep(1.0)
            await api.append(job_id, 1, 1)  # the members join the cohort's stream
            await asyncio.sleep(0.3)
            for count, size in appends:
                first = len(expected) + 1
                await api.append(job_id, first, count, size=size)
                expected += [f"line {n}" + "x" * size for n in range(first, first + count)]
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            await api.complete(job_id)
            async with asyncio.timeout(60):
                results = await asyncio.gather(*tasks)
    for payloads in results:
        lines = [line for p in payloads for line in p["data"]["jobLogBatches"]["lines"]]
        assert [line["message"] for line in lines] == expected
        assert [line["seq"] for line in lines] == list(range(1, len(expected) + 1))
