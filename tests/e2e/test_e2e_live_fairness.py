"""Subscribers streaming a backlog share the event loop with HTTP requests (real uvicorn).

On SQLite a follower's reads run on the event loop and a WebSocket send returns at once while
the socket is writable, so a follower that never paused sent its whole backlog in one turn of
the loop, and every other request (a worker's appendLogs, a job(id) poll) waited for all the
followers' backlogs. The check reads the order of messages on one connection, which is the
order the server sent them in: no timing thresholds.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from domain.jobs import JobStatus
from tests.e2e.test_e2e_live import APPEND, seeded
from tests.factories import make_job, make_key
from tests.gql_clients import TRANSPORT_WS, WsClient, recv_json, ws_connect
from tests.live import live_server
from tests.live_helpers import append_logs, set_status

pytestmark = pytest.mark.e2e

LOGS = "subscription($id: ID!) { jobLogs(id: $id, after: 0) { seq } }"
BACKLOG = 3000  # lines each follower of the big job has to catch up on
FOLLOWERS = 10  # connections streaming that backlog at once


async def _drain(ws: ClientConnection) -> None:
    """Read until closed, so no server-side send waits for this client (flow control)."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await ws.recv()


async def test_an_append_is_served_while_followers_stream_their_backlogs(tmp_path: Path) -> None:
    # SQLite: its reads are the ones that run on the event loop (PostgreSQL reads await I/O).
    database_url = f"sqlite+aiosqlite:///{tmp_path}/jobgraph.db"
    async with seeded(database_url) as store:
        key = await make_key(store, tenant="acme", scopes="read,work")
        big = await make_job(store, tenant="acme", lines=BACKLOG)
        await set_status(store, big.id, JobStatus.COMPLETED)
        small = await make_job(store, tenant="acme")
        claimed = await store.lifecycle.claim_next(tenant=None, worker_id="w1", lease_seconds=3600)
        assert claimed is not None and claimed.id == small.id
        await append_logs(store, small.id, 1)
    with live_server(database_url, tmp_path) as server:
        async with asyncio.timeout(120):
            sockets = [ws_connect(server.ws_url, TRANSPORT_WS) for _ in range(FOLLOWERS)]
            connections: list[ClientConnection] = [await socket for socket in sockets]
            drains: list[asyncio.Task[None]] = []
            try:
                clients = [WsClient(ws, TRANSPORT_WS) for ws in connections]
                for client in clients:
                    assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
                observer = clients[0]
                # The observer follows the small job too: its line 1 says it is subscribed.
                small_op = await observer.start(LOGS, {"id": small.id})
                first = await recv_json(observer.ws)
                assert first["id"] == small_op and first["payload"]["data"]["jobLogs"]["seq"] == 1
                big_op = await observer.start(LOGS, {"id": big.id})
                for client in clients[1:]:
                    await client.start(LOGS, {"id": big.id})
                    drains.append(asyncio.create_task(_drain(client.ws)))
                # Read the observer until the big backlog is streaming to it, then append.
                order: list[tuple[str, Any]] = []
                while not order:
                    message = await recv_json(observer.ws)
                    assert message["id"] == big_op, message
                    order.append((big_op, message["payload"]["data"]["jobLogs"]["seq"]))
                variables = {"j": small.id, "lines": [{"message": "appended"}]}
                async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
                    response = await http.post(
                        "/graphql",
                        json={"query": APPEND, "variables": variables},
                        headers={"X-API-Key": key},
                    )
                    body = response.json()
                    assert "errors" not in body, body
                # The observer's messages, in the order the server sent them, until the
                # big backlog completes.
                while True:
                    message = await recv_json(observer.ws)
                    if message["type"] == "complete":
                        assert message["id"] == big_op, message
                        break
                    order.append((message["id"], message["payload"]["data"]["jobLogs"]["seq"]))
            finally:
                # Close while still reading: a client that stops reading never sees the
                # server's close frame behind the lines it has not read.
                await asyncio.gather(*(ws.close() for ws in connections))
                await asyncio.gather(*drains)
    # Every backlog line once and in order, whatever was interleaved with it.
    assert [seq for op, seq in order if op == big_op] == list(range(1, BACKLOG + 1))
    # The appended line reached the observer while its backlog was still streaming: the
    # append was served before the followers had sent everything they were behind.
    assert (small_op, 2) in order, "the append was served only after every backlog was sent"
    assert order.index((small_op, 2)) < order.index((big_op, BACKLOG))
