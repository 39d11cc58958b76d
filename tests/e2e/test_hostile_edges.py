"""Hostile edges against a real uvicorn with real WebSocket clients: sockets that never
authenticate are closed on both subprotocols, a legacy start the server cannot run gets an
error and the socket lives on, a key sent twice refuses the upgrade, the CORS origins may open
sockets and no other origin may, and a body trickled slower than allowed is a 408. Each with
the figure it measured."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from domain.jobs import JobStatus
from settings import Settings
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.store import Store
from tests.factories import make_job, make_key
from tests.gql_clients import LEGACY_WS, TRANSPORT_WS, WsClient, recv_json, ws_connect
from tests.live import LiveServer, live_server
from tests.live_helpers import set_status

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

INIT_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
ORIGIN = "https://dash.example.com"
UPDATED = "subscription($id: ID!) { jobUpdated(id: $id) { id status } }"


@asynccontextmanager
async def served(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[LiveServer, str, str]]:
    db = Database(Settings(database_url=database_url))
    await upgrade_to_head(db)
    try:
        store = Store(db)
        key = await make_key(store)
        job = await make_job(store)
        await set_status(store, job.id, JobStatus.COMPLETED)
    finally:
        await db.dispose()
    env = {
        "JOBGRAPH_WS_INIT_TIMEOUT_SECONDS": str(INIT_TIMEOUT),
        "JOBGRAPH_BODY_READ_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        "JOBGRAPH_CORS_ORIGINS": ORIGIN,
    }
    manager = live_server(database_url, tmp_path, env=env)
    server = await asyncio.to_thread(manager.__enter__)
    try:
        yield server, key, job.id
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)


async def test_sockets_that_never_authenticate_are_closed(
    database_url: str, tmp_path: Path
) -> None:
    async with served(database_url, tmp_path) as (server, key, _):
        figures: dict[str, float] = {}

        async def idle(protocol: str, first: str | None) -> None:
            async with ws_connect(server.ws_url, protocol) as ws:  # type: ignore[arg-type]
                started = time.perf_counter()
                if first is not None:
                    await ws.send(first)
                with pytest.raises(ConnectionClosed):
                    while True:
                        await asyncio.wait_for(recv_json(ws), timeout=INIT_TIMEOUT + 5)
                figures[f"{protocol} {'junk' if first else 'silent'}"] = (
                    time.perf_counter() - started
                )
                assert ws.close_code == 4408, ws.close_code

        async def authenticated(protocol: str) -> None:
            async with ws_connect(server.ws_url, protocol) as ws:  # type: ignore[arg-type]
                client = WsClient(ws, protocol)  # type: ignore[arg-type]
                assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
                await asyncio.sleep(INIT_TIMEOUT + 1)
                assert ws.close_code is None  # the deadline is for the init only

        await asyncio.gather(
            idle(TRANSPORT_WS, None),
            idle(LEGACY_WS, None),
            # A message that is not an init does not count as one.
            idle(LEGACY_WS, json.dumps({"type": "ka"})),
            authenticated(TRANSPORT_WS),
            authenticated(LEGACY_WS),
        )
    print(
        "\nidle sockets closed (4408) after "
        + ", ".join(f"{k} {v:.1f} s" for k, v in figures.items())
    )
    assert all(INIT_TIMEOUT - 0.2 <= s <= INIT_TIMEOUT + 2 for s in figures.values()), figures


async def test_legacy_starts_it_cannot_run_get_an_error(database_url: str, tmp_path: Path) -> None:
    async with (
        served(database_url, tmp_path) as (server, key, job_id),
        ws_connect(server.ws_url, LEGACY_WS) as ws,
    ):
        client = WsClient(ws, LEGACY_WS)
        assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
        started = time.perf_counter()
        await ws.send(json.dumps({"id": "1", "type": "start"}))
        no_payload = await asyncio.wait_for(recv_json(ws), timeout=5)
        await ws.send(
            json.dumps({"id": "2", "type": "start", "payload": {"query": "{ me { tenant } }"}})
        )
        query = await asyncio.wait_for(recv_json(ws), timeout=5)
        seconds = time.perf_counter() - started
        assert no_payload["type"] == "error" and no_payload["id"] == "1"
        assert no_payload["payload"]["extensions"]["code"] == "BAD_USER_INPUT"
        assert query["type"] == "error" and query["id"] == "2"
        assert query["payload"]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "subscriptions only" in query["payload"]["message"]
        # The socket lives on: a subscription on it still runs.
        *states, end = await client.collect(UPDATED, {"id": job_id})
        assert states[-1]["data"]["jobUpdated"]["status"] == "COMPLETED"
        assert end["type"] == "complete"
        # A start without an id cannot be answered: the socket closes with a reason.
        await ws.send(json.dumps({"type": "start", "payload": {"query": UPDATED}}))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(recv_json(ws), timeout=5)
        assert ws.close_code == 4400
    assert seconds < 5
    assert "Traceback" not in server.logs()


async def test_socket_operations_get_clear_errors(database_url: str, tmp_path: Path) -> None:
    """A NUL in the variables, no query at all, several operations and no name, an instant out
    of range, a document over the byte cap, a list in the variables over the list cap: an
    ``error`` message with BAD_USER_INPUT for that operation, on both subprotocols, and the
    socket serves the next one."""
    bad: list[dict[str, Any]] = [
        {"query": UPDATED, "variables": {"id": "x\x00"}},
        {"query": None},
        {"query": "subscription A { jobEvents { id } } subscription B { jobEvents { id } }"},
        {
            "query": "subscription($t: DateTime) { jobEvents { id } }",
            "variables": {"t": "0001-01-01T00:00:00+14:00"},
        },
        # Refused by an extension before the operation runs (no bare complete, no silence).
        {"query": UPDATED + " #" + "x" * 200_000, "variables": {"id": "x"}},
        {"query": UPDATED, "variables": {"id": "x", "ids": ["x"] * 1001}},
    ]
    async with served(database_url, tmp_path) as (server, key, job_id):
        for protocol in (TRANSPORT_WS, LEGACY_WS):
            async with ws_connect(server.ws_url, protocol) as ws:
                client = WsClient(ws, protocol)
                assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
                for payload in bad:
                    started = time.perf_counter()
                    op_id = await client.start_payload(payload)
                    messages = [m async for m in client.messages(op_id)]
                    assert time.perf_counter() - started < 5
                    (error,) = messages
                    assert error["type"] == "error", (payload, messages)
                    errors = (
                        error["payload"]
                        if isinstance(error["payload"], list)
                        else [error["payload"]]
                    )
                    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], errors
                *states, end = await client.collect(UPDATED, {"id": job_id})
                assert states[-1]["data"]["jobUpdated"]["status"] == "COMPLETED"
                assert end["type"] == "complete"
        assert "Traceback" not in server.logs()


def _resident_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("VmRSS")


async def test_a_dense_subscription_over_the_byte_cap_is_refused_unread(
    database_url: str, tmp_path: Path
) -> None:
    """A subscription of a megabyte of tokens (under the WebSocket message cap, eight times the
    document cap) is refused for its size before anything parses it: no seconds of the event
    loop and no parsed tokens kept, message after message."""
    document = 'subscription S { jobLogs(id: "x") { ' + "seq " * 250_000 + "} }"
    async with (
        served(database_url, tmp_path) as (server, key, _),
        ws_connect(server.ws_url, TRANSPORT_WS) as ws,
    ):
        client = WsClient(ws, TRANSPORT_WS)
        assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
        before = _resident_bytes(server.process.pid)
        for _ in range(4):
            started = time.perf_counter()
            op_id = await client.start_payload({"query": document})
            (error,) = [m async for m in client.messages(op_id)]
            seconds = time.perf_counter() - started
            assert error["type"] == "error", error
            assert error["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
            assert "at most 131072 are allowed" in error["payload"][0]["message"]
            assert seconds < 1.0, seconds
        grown = _resident_bytes(server.process.pid) - before
    assert grown < 64 * 1024 * 1024, grown


async def test_a_key_sent_twice_refuses_the_upgrade(database_url: str, tmp_path: Path) -> None:
    async with served(database_url, tmp_path) as (server, key, _):
        for protocol in (TRANSPORT_WS, LEGACY_WS):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(
                    server.ws_url,
                    subprotocols=[protocol],
                    additional_headers=[("X-API-Key", key), ("X-API-Key", key)],
                    open_timeout=5,
                ):
                    pass
            response = refused.value.response
            assert response.status_code == 400
            body = json.loads(response.body or b"{}")
            assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
            assert "X-API-Key" in body["errors"][0]["message"]


async def test_two_keys_on_one_socket_are_refused(database_url: str, tmp_path: Path) -> None:
    async with served(database_url, tmp_path) as (server, key, _):
        for protocol in (TRANSPORT_WS, LEGACY_WS):
            for payload, headers in (
                ({"X-API-Key": key, "apiKey": "jg_other"}, []),
                ({"apiKey": key}, [("X-API-Key", "jg_other")]),
            ):
                async with connect(
                    server.ws_url,
                    subprotocols=[protocol],
                    additional_headers=headers,
                    open_timeout=5,
                ) as ws:
                    client = WsClient(ws, protocol)
                    if protocol == LEGACY_WS:
                        answer = await client.init(payload)
                        assert answer["type"] == "connection_error"
                        assert answer["payload"]["code"] == "BAD_USER_INPUT"
                        assert "more than one API key" in answer["payload"]["message"]
                    else:
                        with pytest.raises(ConnectionClosed):
                            await client.init(payload)
                        assert ws.close_code == 4403
            # The same key twice is one key.
            async with connect(
                server.ws_url,
                subprotocols=[protocol],
                additional_headers=[("X-API-Key", key)],
                open_timeout=5,
            ) as ws:
                client = WsClient(ws, protocol)
                answer = await client.init({"X-API-Key": key, "apiKey": key})
                assert answer["type"] == "connection_ack"


async def test_cors_origins_may_open_sockets(database_url: str, tmp_path: Path) -> None:
    async with served(database_url, tmp_path) as (server, key, _):
        for protocol in (TRANSPORT_WS, LEGACY_WS):
            async with connect(
                server.ws_url,
                subprotocols=[protocol],
                origin=Origin(ORIGIN),
                open_timeout=5,
            ) as ws:
                client = WsClient(ws, protocol)
                assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
            with pytest.raises(InvalidStatus) as refused:
                async with connect(
                    server.ws_url,
                    subprotocols=[protocol],
                    origin=Origin("https://evil.example"),
                    open_timeout=5,
                ):
                    pass
            assert refused.value.response.status_code == 403


async def test_a_trickled_body_is_a_408(database_url: str, tmp_path: Path) -> None:
    async with served(database_url, tmp_path) as (server, key, _):
        figures = {}
        for path in ("/graphql", "/process"):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            head = (
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"X-API-Key: {key}\r\nContent-Length: 100\r\n\r\n"
            )
            writer.write(head.encode() + b"{")
            await writer.drain()
            started = time.perf_counter()

            async def trickle(writer: asyncio.StreamWriter = writer) -> None:
                # A byte every 0.2 s, each well inside a per-read timeout, until 0.4 s before
                # the deadline; then the client stalls. A per-read timeout would answer
                # BODY_TIMEOUT after the last byte (3.6 s), the body deadline at 2 s. Bytes
                # still arriving as the server closes would make its kernel reset the
                # connection, which may drop the 408 before the client reads it.
                for _ in range(int((BODY_TIMEOUT - 0.4) / 0.2)):
                    await asyncio.sleep(0.2)
                    writer.write(b" ")
                    try:
                        await writer.drain()
                    except ConnectionError:
                        return

            sender = asyncio.create_task(trickle())
            answer = await asyncio.wait_for(reader.read(65536), timeout=BODY_TIMEOUT + 5)
            figures[path] = time.perf_counter() - started
            sender.cancel()
            writer.close()
            status_line, _, rest = answer.partition(b"\r\n")
            assert b" 408 " in status_line, answer
            body = json.loads(rest.partition(b"\r\n\r\n")[2])
            text = json.dumps(body)
            assert "did not arrive within" in text
    print(
        "\ntrickled bodies answered 408 after "
        + ", ".join(f"{k} {v:.1f} s" for k, v in figures.items())
    )
    assert all(BODY_TIMEOUT - 0.2 <= s <= BODY_TIMEOUT + 1.2 for s in figures.values()), figures


MALFORMED: list[tuple[str, Any]] = [
    ("the payload must be an object", 5),
    ("variables must be an object or null", {"query": UPDATED, "variables": [1]}),
    ("operationName must be a string or null", {"query": UPDATED, "operationName": 3}),
    ("extensions must be an object or null", {"query": UPDATED, "extensions": "x"}),
]


async def test_malformed_operation_messages_are_refused_not_crashed(
    database_url: str, tmp_path: Path
) -> None:
    """graphql-transport-ws closes 4400 (the protocol's answer to a message that does not
    parse), naming what is wrong; graphql-ws answers that operation with BAD_USER_INPUT and
    the socket lives on. Never an internal error, never a traceback."""
    async with served(database_url, tmp_path) as (server, key, job_id):
        for reason, payload in [*MALFORMED, ("the id must be a string", {"query": UPDATED})]:
            async with ws_connect(server.ws_url, TRANSPORT_WS) as ws:
                client = WsClient(ws, TRANSPORT_WS)
                assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
                message_id: Any = 7 if reason.startswith("the id") else "1"
                await ws.send(
                    json.dumps({"id": message_id, "type": "subscribe", "payload": payload})
                )
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(recv_json(ws), timeout=5)
                assert ws.close_code == 4400 and ws.close_reason is not None
                assert reason in ws.close_reason
        async with ws_connect(server.ws_url, LEGACY_WS) as ws:
            client = WsClient(ws, LEGACY_WS)
            assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
            for index, (reason, payload) in enumerate(MALFORMED[1:]):
                await ws.send(json.dumps({"id": str(index), "type": "start", "payload": payload}))
                error = await asyncio.wait_for(recv_json(ws), timeout=5)
                assert error["type"] == "error" and error["id"] == str(index), error
                assert error["payload"]["extensions"]["code"] == "BAD_USER_INPUT"
                assert reason in error["payload"]["message"]
            *states, end = await client.collect(UPDATED, {"id": job_id})
            assert states[-1]["data"]["jobUpdated"]["status"] == "COMPLETED"
            assert end["type"] == "complete"  # the socket lived on
    assert "Traceback" not in server.logs()
