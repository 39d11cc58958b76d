"""Two server processes on one PostgreSQL (issue 6): live updates cross processes through
LISTEN/NOTIFY, claims and log seqs stay exact under concurrency spread over both, SIGTERM ends
subscriptions and in-flight requests properly, and /metrics counts what ran.

The two servers are started once for the module (starting one takes seconds); the SIGTERM
test runs last because it stops server A.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed

from settings import Settings
from storage.database import Database
from storage.store import Store
from storage.tables import log_lines
from tests.conftest import _truncate
from tests.factories import make_job, make_key
from tests.gql_clients import TRANSPORT_WS, WsClient, recv_json, ws_connect
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.e2e

LOGS = "subscription($id: ID!) { jobLogs(id: $id, after: 0) { seq message } }"
UPDATED = "subscription($id: ID!) { jobUpdated(id: $id) { status progress } }"
CLAIM = "mutation Claim($w: String!) { claimJob(workerId: $w, leaseSeconds: 600) { id } }"
APPEND = "mutation Append($j: ID!, $w: String!, $l: [LogLineInput!]!) { appendLogs(jobId: $j, workerId: $w, lines: $l) }"  # noqa: E501
HEARTBEAT = "mutation Beat($j: ID!, $w: String!, $p: Int) { heartbeat(jobId: $j, workerId: $w, progress: $p) { cancelRequested } }"  # noqa: E501
COMPLETE = "mutation Done($j: ID!, $w: String!) { completeJob(jobId: $j, workerId: $w) { status } }"


@dataclass
class Pair:
    a: LiveServer
    b: LiveServer
    url: str
    key: str


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Store]:
    db = Database(Settings(database_url=url))
    try:
        yield Store(db)
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def pair(pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    asyncio.run(_truncate(pg_database))

    async def key() -> str:
        async with opened(pg_database) as store:
            return await make_key(store, scopes="read,submit,work")

    tmp = tmp_path_factory.mktemp("scaleout")
    env = {"JOBGRAPH_LOG_FORMAT": "json"}
    with live_server(pg_database, tmp, env=env) as a, live_server(pg_database, tmp, env=env) as b:
        yield Pair(a, b, pg_database, asyncio.run(key()))


async def gql(
    client: httpx.AsyncClient, server: LiveServer, key: str, query: str, **variables: Any
) -> Any:
    response = await client.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"X-API-Key": key},
    )
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


async def claimed_job(pair: Pair, client: httpx.AsyncClient, worker: str) -> str:
    async with opened(pair.url) as store:
        job = await make_job(store, items=1)
    data = await gql(client, pair.b, pair.key, CLAIM, w=worker)
    assert data["claimJob"]["id"] == job.id  # the only pending job
    return job.id


async def test_job_logs_on_a_follow_appends_through_b(pair: Pair) -> None:
    async with (
        httpx.AsyncClient(timeout=30) as client,
        ws_connect(pair.a.ws_url, TRANSPORT_WS) as ws,
    ):
        job_id = await claimed_job(pair, client, "w-logs")

        def lines(first: int) -> list[dict[str, str]]:
            return [{"message": f"line {first + i}"} for i in range(10)]

        await gql(client, pair.b, pair.key, APPEND, j=job_id, w="w-logs", l=lines(1))
        subscriber = WsClient(ws, TRANSPORT_WS)
        await subscriber.init({"X-API-Key": pair.key})
        op = await subscriber.start(LOGS, {"id": job_id})
        received: list[dict[str, Any]] = []
        messages = subscriber.messages(op)

        async def next_message() -> dict[str, Any]:
            return dict(await asyncio.wait_for(anext(messages), timeout=10))

        while len(received) < 10:  # the backfill: the subscription is live on A now
            received.append((await next_message())["payload"]["data"]["jobLogs"])
        for first in range(11, 200, 10):  # these reach A only through NOTIFY from B
            await gql(client, pair.b, pair.key, APPEND, j=job_id, w="w-logs", l=lines(first))
        await gql(client, pair.b, pair.key, COMPLETE, j=job_id, w="w-logs")
        while (message := await next_message())["type"] == "next":
            received.append(message["payload"]["data"]["jobLogs"])
        assert message["type"] == "complete"
    assert [line["seq"] for line in received] == list(range(1, 201))
    assert [line["message"] for line in received] == [f"line {n}" for n in range(1, 201)]


async def test_job_updated_on_a_follows_changes_through_b(pair: Pair) -> None:
    async with (
        httpx.AsyncClient(timeout=30) as client,
        ws_connect(pair.a.ws_url, TRANSPORT_WS) as ws,
    ):
        async with opened(pair.url) as store:
            job = await make_job(store, items=1)
        subscriber = WsClient(ws, TRANSPORT_WS)
        await subscriber.init({"X-API-Key": pair.key})
        messages = subscriber.messages(await subscriber.start(UPDATED, {"id": job.id}))

        async def next_state() -> dict[str, Any]:
            message = await asyncio.wait_for(anext(messages), timeout=10)
            return dict(message["payload"]["data"]["jobUpdated"])

        assert await next_state() == {"status": "PENDING", "progress": 0}
        await gql(client, pair.b, pair.key, CLAIM, w="w-upd")
        assert await next_state() == {"status": "RUNNING", "progress": 0}
        await gql(client, pair.b, pair.key, HEARTBEAT, j=job.id, w="w-upd", p=40)
        assert await next_state() == {"status": "RUNNING", "progress": 40}
        await gql(client, pair.b, pair.key, COMPLETE, j=job.id, w="w-upd")
        assert await next_state() == {"status": "COMPLETED", "progress": 100}
        assert (await anext(messages))["type"] == "complete"


async def test_claimers_on_both_processes_claim_each_job_once(pair: Pair) -> None:
    async with opened(pair.url) as store:
        created = {(await make_job(store, items=1)).id for _ in range(200)}
    claims: list[str] = []

    async def claimer(client: httpx.AsyncClient, server: LiveServer, name: str) -> None:
        while True:
            data = await gql(client, server, pair.key, CLAIM, w=name)
            if data["claimJob"] is None:
                return
            claims.append(data["claimJob"]["id"])

    limits = httpx.Limits(max_connections=40)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(
            *(claimer(client, (pair.a, pair.b)[n % 2], f"claimer-{n}") for n in range(20))
        )
    assert len(claims) == 200 and set(claims) == created  # each exactly once


async def test_appenders_on_both_processes_get_seq_1_to_8000(pair: Pair) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        job_id = await claimed_job(pair, client, "w-seq")

        async def appender(server: LiveServer, name: str) -> None:
            for batch in range(10):
                lines = [{"message": f"{name} {batch * 100 + i}"} for i in range(100)]
                await gql(client, server, pair.key, APPEND, j=job_id, w="w-seq", l=lines)

        await asyncio.gather(
            *(
                appender(server, f"{label}{n}")
                for label, server in (("a", pair.a), ("b", pair.b))
                for n in range(4)
            )
        )
    async with opened(pair.url) as store:
        rows = await store.db.read(
            lambda conn: conn.execute(
                select(log_lines.c.seq, log_lines.c.message)
                .where(log_lines.c.job_id == job_id)
                .order_by(log_lines.c.seq)
            ).all()
        )
    assert [seq for seq, _ in rows] == list(range(1, 8001))
    by_appender: dict[str, list[int]] = {}
    for _, message in rows:
        name, number = message.split()
        by_appender.setdefault(name, []).append(int(number))
    assert len(by_appender) == 8
    assert all(numbers == list(range(1000)) for numbers in by_appender.values())


def operation_counts(text: str) -> dict[tuple[str, str], float]:
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "jobgraph_graphql_operations":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    key = (sample.labels["operation_name"], sample.labels["outcome"])
                    counts[key] = counts.get(key, 0) + sample.value
    return counts


async def test_metrics_of_both_processes_count_the_operations(pair: Pair) -> None:
    probe = "query Probe { me { name } }"
    servers = (pair.a, pair.b)
    async with httpx.AsyncClient(timeout=30) as client:

        async def scrape() -> list[dict[tuple[str, str], float]]:
            texts = [(await client.get(f"{server.url}/metrics")).text for server in servers]
            return [operation_counts(text) for text in texts]

        before = await scrape()
        for server, times in ((pair.a, 3), (pair.b, 2)):
            for _ in range(times):
                await gql(client, server, pair.key, probe)
        await gql(client, pair.b, pair.key, CLAIM, w="idle")  # nothing pending: null, ok
        after = await scrape()

    def delta(index: int, name: str) -> float:
        return after[index].get((name, "ok"), 0) - before[index].get((name, "ok"), 0)

    assert (delta(0, "Probe"), delta(1, "Probe")) == (3, 2)
    assert (delta(0, "Claim"), delta(1, "Claim")) == (0, 1)


async def test_sigterm_closes_subscriptions_and_finishes_requests(pair: Pair) -> None:
    server = pair.a
    async with opened(pair.url) as store:
        job = await make_job(store, items=1)
    body = json.dumps({"query": "{ me { name } }"}).encode()
    head = (
        "POST /graphql HTTP/1.1\r\nHost: jobgraph\r\nContent-Type: application/json\r\n"
        f"X-API-Key: {pair.key}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    async with ws_connect(server.ws_url, TRANSPORT_WS) as ws:
        subscriber = WsClient(ws, TRANSPORT_WS)
        await subscriber.init({"X-API-Key": pair.key})
        op = await subscriber.start(UPDATED, {"id": job.id})
        first = await recv_json(ws)
        assert first["id"] == op and first["payload"]["data"]["jobUpdated"]["status"] == "PENDING"
        async with httpx.AsyncClient() as client:
            gauge = (await client.get(f"{server.url}/metrics")).text
        assert "\njobgraph_active_subscriptions 1.0\n" in gauge
        upload = socket.create_connection(("127.0.0.1", server.port), timeout=15)
        upload.sendall(head + body[:5])  # a request in flight: its body is still coming
        await asyncio.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(recv_json(ws), timeout=15) == {"id": op, "type": "complete"}
        upload.sendall(body[5:])
        response = await asyncio.to_thread(_read_all, upload)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=15)
        assert closed.value.rcvd is not None  # a close frame, not a dropped socket
    assert response.startswith(b"HTTP/1.1 200 OK"), response
    assert response.endswith(b'{"data":{"me":{"name":"k"}}}')
    assert server.process.wait(timeout=20) in (0, -signal.SIGTERM)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    return data
