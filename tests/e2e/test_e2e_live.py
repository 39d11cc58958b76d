"""Subscriptions end to end: real clients on every transport against a real uvicorn."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from domain.jobs import JobStatus
from settings import Settings
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.store import Store
from storage.tables import jobs
from tests.factories import make_job, make_key
from tests.gql_clients import (
    LEGACY_WS,
    TRANSPORT_WS,
    WsClient,
    multipart_collect,
    recv_json,
    ws_connect,
)
from tests.live import live_server
from tests.live_helpers import set_status

pytestmark = pytest.mark.e2e

LOGS = "subscription($id: ID!, $tail: Int, $after: Int) { jobLogs(id: $id, tail: $tail, after: $after) { seq message } }"  # noqa: E501
UPDATED = "subscription($id: ID!) { jobUpdated(id: $id) { id status } }"
EVENTS = "subscription { jobEvents { id status } }"
CREATE = 'mutation { createJob(input: {items: [{url: "https://youtu.be/dQw4w9WgXcQ"}]}) { id } }'


@asynccontextmanager
async def seeded(database_url: str) -> AsyncIterator[Store]:
    db = Database(Settings(database_url=database_url))
    await upgrade_to_head(db)
    try:
        yield Store(db)
    finally:
        await db.dispose()


def seqs(payloads: list[dict[str, object]]) -> list[int]:
    return [p["data"]["jobLogs"]["seq"] for p in payloads]  # type: ignore[index]


async def test_every_transport_tails_follows_and_refuses(database_url: str, tmp_path: Path) -> None:
    async with seeded(database_url) as store:
        key = await make_key(store, tenant="acme", scopes="read,submit")
        done = await make_job(store, tenant="acme", lines=20)
        await set_status(store, done.id, JobStatus.COMPLETED)
        theirs = await make_job(store, tenant="umbrella", lines=2)
    with live_server(database_url, tmp_path) as server:
        async with ws_connect(server.ws_url, TRANSPORT_WS) as ws:
            client = WsClient(ws, TRANSPORT_WS)
            assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
            *lines, end = await client.collect(LOGS, {"id": done.id, "tail": 5})
            assert seqs(lines) == [16, 17, 18, 19, 20] and end["type"] == "complete"
            assert lines[-1]["data"]["jobLogs"]["message"] == "line 20"
            *states, end = await client.collect(UPDATED, {"id": done.id})
            assert [s["data"]["jobUpdated"]["status"] for s in states] == ["COMPLETED"]
            assert end["type"] == "complete"
            (error,) = await client.collect(LOGS, {"id": theirs.id})
            assert error["type"] == "error"
            assert error["payload"][0]["extensions"]["code"] == "NOT_FOUND"

            # A change made through the server reaches a jobEvents subscriber at once.
            events = await client.start(EVENTS)
            await asyncio.sleep(0.2)  # the operation subscribes as soon as it starts
            async with httpx.AsyncClient(base_url=server.url) as http:
                created = await http.post(
                    "/graphql", json={"query": CREATE}, headers={"X-API-Key": key}
                )
            job_id = created.json()["data"]["createJob"]["id"]
            async with asyncio.timeout(10):
                message = await anext(client.messages(events))
            assert message["payload"]["data"]["jobEvents"] == {"id": job_id, "status": "PENDING"}

        async with ws_connect(server.ws_url, LEGACY_WS) as ws:
            client = WsClient(ws, LEGACY_WS)
            assert (await client.init({"apiKey": key}))["type"] == "connection_ack"
            *lines, end = await client.collect(LOGS, {"id": done.id, "after": 17})
            assert seqs(lines) == [18, 19, 20] and end["type"] == "complete"
            (error,) = await client.collect(LOGS, {"id": theirs.id})
            assert error["type"] == "error"
            assert error["payload"]["extensions"]["code"] == "NOT_FOUND"

        url = f"{server.url}/graphql"
        async with httpx.AsyncClient(timeout=10) as http:
            variables = {"id": done.id, "tail": 3}
            response, parts, body = await multipart_collect(http, url, LOGS, variables, key)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("multipart/mixed")
            assert seqs([part["payload"] for part in parts]) == [18, 19, 20]
            assert body.rstrip().endswith("--graphql--")
            for bad_key in (None, "jg_wrong"):
                response, _, body = await multipart_collect(http, url, LOGS, variables, bad_key)
                assert response.status_code == 401
                assert response.headers["content-type"].startswith("application/json")
                assert '"UNAUTHENTICATED"' in body
    assert key not in server.logs()


async def count_jobs(database_url: str) -> int:
    async with seeded(database_url) as store:
        query = select(func.count()).select_from(jobs)
        return int(await store.db.read(lambda conn: conn.execute(query).scalar_one()))


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_websocket_refusals(database_url: str, tmp_path: Path, protocol: Subprotocol) -> None:
    async with seeded(database_url) as store:
        await make_key(store, tenant="acme", scopes="read,submit")
    legacy = protocol == LEGACY_WS
    with live_server(database_url, tmp_path) as server:
        for payload in ({"X-API-Key": "jg_wrong"}, None, {}, {"apiKey": ""}):
            async with ws_connect(server.ws_url, protocol) as ws:
                client = WsClient(ws, protocol)
                if legacy:
                    reply = await client.init(payload)
                    assert reply["type"] == "connection_error"
                    assert reply["payload"]["code"] == "UNAUTHENTICATED"
                else:
                    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
                    with pytest.raises(ConnectionClosed) as closed:
                        await recv_json(ws)
                    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403

        # Before connection_init nothing runs: the server closes the socket (4401).
        async with ws_connect(server.ws_url, protocol) as ws:
            client = WsClient(ws, protocol)
            await client.start(CREATE)
            with pytest.raises(ConnectionClosed) as closed:
                await recv_json(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert await count_jobs(database_url) == 0


async def test_shutdown_completes_open_subscriptions(database_url: str, tmp_path: Path) -> None:
    async with seeded(database_url) as store:
        key = await make_key(store, tenant="acme", scopes="read")
        job = await make_job(store, tenant="acme", lines=3)
        await set_status(store, job.id, JobStatus.RUNNING)
    with live_server(database_url, tmp_path) as server:
        async with (
            ws_connect(server.ws_url, TRANSPORT_WS) as modern_ws,
            ws_connect(server.ws_url, LEGACY_WS) as legacy_ws,
            httpx.AsyncClient(timeout=20) as http,
        ):
            modern = WsClient(modern_ws, TRANSPORT_WS)
            legacy = WsClient(legacy_ws, LEGACY_WS)
            await modern.init({"X-API-Key": key})
            await legacy.init({"X-API-Key": key})
            modern_run = asyncio.create_task(modern.collect(LOGS, {"id": job.id}))
            legacy_run = asyncio.create_task(legacy.collect(UPDATED, {"id": job.id}))
            multipart_run = asyncio.create_task(
                multipart_collect(http, f"{server.url}/graphql", LOGS, {"id": job.id}, key)
            )
            await asyncio.sleep(1.0)  # all three are following a running job
            assert not (modern_run.done() or legacy_run.done() or multipart_run.done())
            server.process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(15):
                *lines, end = await modern_run
                assert seqs(lines) == [1, 2, 3] and end["type"] == "complete"
                *states, end = await legacy_run
                assert [s["data"]["jobUpdated"]["status"] for s in states] == ["RUNNING"]
                assert end["type"] == "complete"
                _, parts, body = await multipart_run
            assert seqs([part["payload"] for part in parts]) == [1, 2, 3]
            assert body.rstrip().endswith("--graphql--")
            with pytest.raises(ConnectionClosed) as closed:
                await recv_json(modern_ws)
            assert closed.value.rcvd is not None  # a close frame, not a dropped socket
        server.process.wait(timeout=15)  # uvicorn re-raises SIGTERM once it has shut down
    assert "timeout graceful shutdown exceeded" not in server.logs()


APPEND = """mutation($j: ID!, $lines: [LogLineInput!]!) {
  appendLogs(jobId: $j, workerId: "w1", lines: $lines) }"""


async def test_follow_real_appends_then_resume_after_disconnect(
    database_url: str, tmp_path: Path
) -> None:
    async with seeded(database_url) as store:
        key = await make_key(store, tenant="acme", scopes="read,submit,work")
    with live_server(database_url, tmp_path) as server:
        headers = {"X-API-Key": key}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=20) as http:

            async def gql(query: str, variables: dict[str, object] | None = None) -> Any:
                body = (
                    await http.post("/graphql", json={"query": query, "variables": variables or {}})
                ).json()
                assert "errors" not in body, body
                return body["data"]

            job_id = (await gql(CREATE))["createJob"]["id"]
            claim = 'mutation { claimJob(workerId: "w1") { id } }'
            assert (await gql(claim))["claimJob"]["id"] == job_id

            async def append(first: int, count: int) -> None:
                lines = [{"message": f"line {n}"} for n in range(first, first + count)]
                await gql(APPEND, {"j": job_id, "lines": lines})

            await append(1, 30)

            async def worker() -> None:
                for batch in range(20):  # lines 31..130 while the subscriber follows
                    await append(31 + batch * 5, 5)
                    await asyncio.sleep(0.01)

            # Tail then follow over graphql-transport-ws while the worker appends.
            async with ws_connect(server.ws_url, TRANSPORT_WS) as ws:
                client = WsClient(ws, TRANSPORT_WS)
                await client.init({"X-API-Key": key})
                op = await client.start(LOGS, {"id": job_id, "tail": 10})
                appender: asyncio.Task[None] | None = None
                received: list[int] = []
                async with asyncio.timeout(30):
                    async for message in client.messages(op):
                        received.append(message["payload"]["data"]["jobLogs"]["seq"])
                        # The worker starts once the tail has been read: which 10 lines are
                        # "the last 10" is then fixed, whatever the scheduling.
                        appender = appender or asyncio.create_task(worker())
                        if received[-1] == 80:
                            break  # disconnect mid-stream
            assert received == list(range(21, 81))

            # Resume on the legacy protocol with `after`; the job completes meanwhile.
            async with ws_connect(server.ws_url, LEGACY_WS) as ws:
                client = WsClient(ws, LEGACY_WS)
                await client.init({"apiKey": key})
                op = await client.start(LOGS, {"id": job_id, "after": received[-1]})
                assert appender is not None
                await appender
                complete = 'mutation($j: ID!) { completeJob(jobId: $j, workerId: "w1") { id } }'
                await gql(complete, {"j": job_id})
                async with asyncio.timeout(30):
                    rest = [m async for m in client.messages(op)]
            assert rest[-1]["type"] == "complete"
            resumed = [m["payload"]["data"]["jobLogs"] for m in rest[:-1]]
            assert received + [line["seq"] for line in resumed] == list(range(21, 131))
            assert [line["message"] for line in resumed] == [f"line {n}" for n in range(81, 131)]
