"""The production front: Debian's nginx with the committed deploy/nginx/jobgraph.conf in front
of a real uvicorn. It closes clients that send headers (or a body) too slowly, caps the
connections of one client, hides /metrics, and passes queries, WebSocket subscriptions and
their init timeout through."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from domain.jobs import JobStatus
from settings import Settings
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.store import Store
from tests.factories import make_job, make_key
from tests.gql_clients import LEGACY_WS, TRANSPORT_WS, WsClient, recv_json, ws_connect
from tests.live import LiveServer, live_server
from tests.live_helpers import set_status
from tests.nginx_front import Front, nginx_front, number_of, seconds_of

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

HEADER_TIMEOUT = seconds_of("client_header_timeout")
BODY_TIMEOUT = seconds_of("client_body_timeout")
PER_CLIENT = number_of(r"^\s*limit_conn jobgraph_per_client (\d+);")
INIT_TIMEOUT = 2.0
CREATE = 'mutation { createJob(input: {items: [{url: "https://youtu.be/dQw4w9WgXcQ"}]}) { id } }'
UPDATED = "subscription($id: ID!) { jobUpdated(id: $id) { id status } }"


@asynccontextmanager
async def fronted(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[LiveServer, Front, str, str]]:
    db = Database(Settings(database_url=database_url))
    await upgrade_to_head(db)
    try:
        store = Store(db)
        key = await make_key(store)
        job = await make_job(store)
        await set_status(store, job.id, JobStatus.RUNNING)
    finally:
        await db.dispose()
    env = {"JOBGRAPH_WS_INIT_TIMEOUT_SECONDS": str(INIT_TIMEOUT)}
    manager = live_server(database_url, tmp_path, env=env)
    server = await asyncio.to_thread(manager.__enter__)
    try:
        with nginx_front(server.port, tmp_path) as front:
            yield server, front, key, job.id
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)


async def _closed_after(
    port: int, first: bytes, trickle: bytes, every: float
) -> tuple[float, bytes]:
    """Open a connection, send ``first``, then one byte of ``trickle`` every ``every`` seconds;
    seconds until the peer closes it, and what it answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    answer = b""
    writer.write(first)
    await writer.drain()

    async def trickle_bytes() -> None:
        for byte in trickle:
            await asyncio.sleep(every)
            writer.write(bytes([byte]))
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    sender = asyncio.create_task(trickle_bytes())
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(4096), timeout=HEADER_TIMEOUT * 3)
            if not chunk:
                break
            answer += chunk
    except (ConnectionError, TimeoutError):
        pass
    finally:
        seconds = time.perf_counter() - started
        sender.cancel()
        with contextlib.suppress(BaseException):
            await sender
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return seconds, answer


async def test_slow_clients_are_closed_by_the_front(database_url: str, tmp_path: Path) -> None:
    async with fronted(database_url, tmp_path) as (_, front, _, _):
        slow_headers = _closed_after(
            front.port, b"GET /graphql?query={__typename} HTTP/1.1\r\nHost: x\r\n", b"X" * 200, 0.5
        )
        silent = _closed_after(front.port, b"", b"", 0)
        slow_body = _closed_after(
            front.port,
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{",
            b"",
            0,
        )
        (header_s, header_answer), (silent_s, _), (body_s, body_answer) = await asyncio.gather(
            slow_headers, silent, slow_body
        )
    print(
        f"\nslow header closed by nginx after {header_s:.1f} s, a silent connection after "
        f"{silent_s:.1f} s, a stalled body after {body_s:.1f} s "
        f"(client_header_timeout {HEADER_TIMEOUT:g} s, client_body_timeout {BODY_TIMEOUT:g} s)"
    )
    # Headers trickled a byte every 0.5 s: the timeout counts from the first byte, not each.
    assert HEADER_TIMEOUT - 1 <= header_s <= HEADER_TIMEOUT + 3, header_s
    assert b"200 OK" not in header_answer
    assert HEADER_TIMEOUT - 1 <= silent_s <= HEADER_TIMEOUT + 3, silent_s
    assert BODY_TIMEOUT - 1 <= body_s <= BODY_TIMEOUT + 3, body_s
    assert b"200 OK" not in body_answer


async def test_connections_per_client_are_capped(database_url: str, tmp_path: Path) -> None:
    async with (
        fronted(database_url, tmp_path) as (server, front, key, _),
        contextlib.AsyncExitStack() as stack,
    ):
        open_sockets = []
        for _ in range(PER_CLIENT):
            ws = await stack.enter_async_context(ws_connect(front.ws_url, TRANSPORT_WS))
            client = WsClient(ws, TRANSPORT_WS)
            assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
            open_sockets.append(ws)
        started = time.perf_counter()
        with pytest.raises(InvalidStatus) as refused:
            async with ws_connect(front.ws_url, TRANSPORT_WS):
                pass
        assert refused.value.response.status_code == 429
        async with httpx.AsyncClient(timeout=10) as http:
            over = await http.post(
                f"{front.url}/graphql",
                json={"query": "{ me { tenant } }"},
                headers={"X-API-Key": key},
            )
            assert over.status_code == 429
            # The cap is the front's: jobgraph itself still answers directly.
            direct = await http.post(
                f"{server.url}/graphql",
                json={"query": "{ me { tenant } }"},
                headers={"X-API-Key": key},
            )
            assert direct.status_code == 200
        refused_s = time.perf_counter() - started
        await open_sockets[0].close()
        await asyncio.sleep(0.3)
        async with ws_connect(front.ws_url, TRANSPORT_WS) as again:
            client = WsClient(again, TRANSPORT_WS)
            assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
    print(
        f"\nper-client cap {PER_CLIENT}: the next upgrade and request got 429 in {refused_s:.2f} s"
    )
    assert refused_s < 5


async def test_queries_and_subscriptions_pass_through(database_url: str, tmp_path: Path) -> None:
    async with (
        fronted(database_url, tmp_path) as (server, front, key, job_id),
        httpx.AsyncClient(timeout=10) as http,
    ):
        answer = await http.post(
            f"{front.url}/graphql",
            json={"query": "{ me { tenant } }"},
            headers={"X-API-Key": key},
        )
        assert answer.status_code == 200
        assert answer.json() == {"data": {"me": {"tenant": "default"}}}
        assert (await http.get(f"{front.url}/metrics")).status_code == 404
        assert (await http.get(f"{server.url}/metrics")).status_code == 200
        for protocol in (TRANSPORT_WS, LEGACY_WS):
            async with ws_connect(front.ws_url, protocol) as ws:
                client = WsClient(ws, protocol)
                assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
                op_id = await client.start(UPDATED, {"id": job_id})
                await asyncio.sleep(0.3)
                cancelled = await http.post(
                    f"{front.url}/graphql",
                    json={"query": f'mutation {{ cancelJob(id: "{job_id}") {{ status }} }}'},
                    headers={"X-API-Key": key},
                )
                assert cancelled.status_code == 200, cancelled.text
                events: list[Any] = []
                async for message in client.messages(op_id):
                    events.append(message)
                payloads = [m["payload"] for m in events if m["type"] in ("next", "data")]
                assert payloads[-1]["data"]["jobUpdated"]["status"] == "CANCELLED"
                assert events[-1]["type"] == "complete"
            # Re-run the job for the next protocol.
            job_id = await _new_running_job(http, front, key)


async def _new_running_job(http: httpx.AsyncClient, front: Front, key: str) -> str:
    created = await http.post(
        f"{front.url}/graphql", json={"query": CREATE}, headers={"X-API-Key": key}
    )
    return str(created.json()["data"]["createJob"]["id"])


async def test_an_idle_socket_is_closed_through_the_front(
    database_url: str, tmp_path: Path
) -> None:
    async with fronted(database_url, tmp_path) as (_, front, _, _):
        figures = {}
        for protocol in (TRANSPORT_WS, LEGACY_WS):
            async with ws_connect(front.ws_url, protocol) as ws:
                started = time.perf_counter()
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(recv_json(ws), timeout=INIT_TIMEOUT + 5)
                figures[protocol] = time.perf_counter() - started
                assert ws.close_code == 4408
    print(
        "\nidle sockets through nginx closed (4408) after "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in figures.items())
    )
    assert all(INIT_TIMEOUT - 0.5 <= s <= INIT_TIMEOUT + 2 for s in figures.values()), figures
