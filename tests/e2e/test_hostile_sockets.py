"""Hostile sockets and streams (issue 17, items 3 and 9), against real uvicorn processes with
real WebSocket and multipart clients:

- a key revoked with ``app.py keys revoke`` ends its open sockets (both subprotocols) and
  multipart streams within seconds, with UNAUTHENTICATED and close 4401, in every process;
- a new operation on an open socket of a revoked key is refused at once, before it runs;
- on sockets, a throttled operation gets RATE_LIMITED (with retryAfter), never a bare
  ``complete``; the caps on sockets per key and operations per socket answer with a code.

Each case asserts the error and a bound on time; the measured times are printed (``-s``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from domain.principal import Scope
from settings import Settings
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.store import Store
from storage.tables import jobs
from tests.factories import make_job
from tests.gql_clients import (
    LEGACY_WS,
    MULTIPART_ACCEPT,
    TRANSPORT_WS,
    WsClient,
    parse_multipart,
    recv_json,
    ws_connect,
)
from tests.live import LiveServer, cli, live_server

pytestmark = pytest.mark.e2e

LOGS = "subscription($id: ID!) { jobLogs(id: $id, after: 0) { seq message } }"
CREATE = 'mutation { createJob(input: {items: [{url: "https://youtu.be/dQw4w9WgXcQ"}]}) { id } }'
ME = "{ me { name } }"
# A revoked key's connections end within one re-check interval (1 s) plus the statement;
# the bound leaves room for a busy machine.
REVOCATION_BOUND = 5.0


@asynccontextmanager
async def opened(database_url: str) -> AsyncIterator[Store]:
    db = Database(Settings(database_url=database_url))
    await upgrade_to_head(db)
    try:
        yield Store(db)
    finally:
        await db.dispose()


async def new_key(store: Store, name: str = "k") -> tuple[str, str]:
    """A key with read, submit and work: (its id, the key)."""
    record, key = await store.keys.create(
        name=name, tenant="default", scopes=[Scope.READ, Scope.SUBMIT, Scope.WORK]
    )
    return record.id, key


async def revoke_with_cli(database_url: str, key_id: str) -> float:
    """Revoke as an operator does (``app.py keys revoke``); the wall-clock time it recorded
    (the CLI starts a Python process: its own start-up is not what is measured)."""
    await asyncio.to_thread(cli, database_url, "keys", "revoke", key_id)
    async with opened(database_url) as store:
        record = next(record for record in await store.keys.list() if record.id == key_id)
    assert record.revoked_at is not None
    return record.revoked_at.replace(tzinfo=record.revoked_at.tzinfo or UTC).timestamp()


@dataclass
class Ending:
    """How a socket ended: the messages it got, its close frame, and when it closed."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    code: int | None = None
    reason: str = ""
    at: float = 0.0


async def until_closed(ws: ClientConnection, *, timeout: float = 20) -> Ending:
    ending = Ending()
    async with asyncio.timeout(timeout):
        try:
            while True:
                ending.messages.append(json.loads(await ws.recv()))
        except ConnectionClosed as closed:
            ending.at = time.time()
            if closed.rcvd is not None:
                ending.code, ending.reason = closed.rcvd.code, closed.rcvd.reason
    return ending


def errors_of(ending: Ending) -> list[dict[str, Any]]:
    """The GraphQL errors of every ``error`` message (a list or one error per protocol)."""
    found: list[dict[str, Any]] = []
    for message in ending.messages:
        if message.get("type") == "error":
            payload = message["payload"]
            found.extend(payload if isinstance(payload, list) else [payload])
    return found


async def subscribed(
    server: LiveServer, protocol: Subprotocol, key: str, job_id: str
) -> tuple[ClientConnection, WsClient]:
    """A socket following a job's log, past its first line."""
    ws = await ws_connect(server.ws_url, protocol)
    client = WsClient(ws, protocol)
    assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
    await client.start(LOGS, {"id": job_id})
    async with asyncio.timeout(10):
        while (await recv_json(ws))["type"] not in ("next", "data"):
            pass
    return ws, client


@dataclass
class MultipartFollower:
    """A multipart subscription read in the background: its text and when it ended."""

    task: asyncio.Task[None] | None = None
    text: str = ""
    status: int = 0
    ended_at: float = 0.0
    first_part: asyncio.Event = field(default_factory=asyncio.Event)

    async def follow(self, server: LiveServer, key: str, job_id: str) -> None:
        headers = {"accept": MULTIPART_ACCEPT, "X-API-Key": key}
        body = {"query": LOGS, "variables": {"id": job_id}}
        async with (
            httpx.AsyncClient(timeout=30) as http,
            http.stream("POST", f"{server.url}/graphql", json=body, headers=headers) as response,
        ):
            self.status = response.status_code
            async for chunk in response.aiter_text():
                self.text += chunk
                if '"jobLogs"' in self.text:
                    self.first_part.set()
        self.ended_at = time.time()

    async def start(self, server: LiveServer, key: str, job_id: str) -> None:
        self.task = asyncio.create_task(self.follow(server, key, job_id))
        async with asyncio.timeout(10):
            await self.first_part.wait()

    async def ended(self) -> list[dict[str, Any]]:
        assert self.task is not None
        async with asyncio.timeout(20):
            await self.task
        return parse_multipart(self.text)


def assert_revoked_part(parts: list[dict[str, Any]], text: str) -> None:
    last = parts[-1]
    assert last["payload"] is None, last
    assert last["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert text.rstrip().endswith("--graphql--"), text[-80:]


async def test_a_revoked_key_ends_its_sockets_and_streams(
    database_url: str, tmp_path: Path
) -> None:
    async with opened(database_url) as store:
        key_id, key = await new_key(store)
        _, other = await new_key(store, "other")
        job = await make_job(store, lines=3)
    with live_server(database_url, tmp_path) as server:
        transport, _ = await subscribed(server, TRANSPORT_WS, key, job.id)
        legacy, _ = await subscribed(server, LEGACY_WS, key, job.id)
        bystander, _ = await subscribed(server, TRANSPORT_WS, other, job.id)
        multipart = MultipartFollower()
        await multipart.start(server, key, job.id)

        watching = asyncio.gather(until_closed(transport), until_closed(legacy))
        revoked_at = await revoke_with_cli(database_url, key_id)
        endings = await watching
        parts = await multipart.ended()

        figures = {
            "graphql-transport-ws": endings[0].at - revoked_at,
            "graphql-ws": endings[1].at - revoked_at,
            "multipart": multipart.ended_at - revoked_at,
        }
        print(
            f"\n[{database_url.split('+')[0]}] revoked → ended:",
            {name: f"{seconds:.2f} s" for name, seconds in figures.items()},
        )
        for ending in endings:
            assert (ending.code, ending.reason) == (4401, "API key revoked")
            assert [e["extensions"]["code"] for e in errors_of(ending)] == ["UNAUTHENTICATED"]
            assert not any(m.get("type") == "complete" for m in ending.messages), ending.messages
        assert multipart.status == 200
        assert_revoked_part(parts, multipart.text)
        assert max(figures.values()) < REVOCATION_BOUND, figures

        # HTTP is refused too, and another key's socket is untouched.
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.post("/graphql", json={"query": ME}, headers={"X-API-Key": key})
            assert response.status_code == 401
        await bystander.send(json.dumps({"type": "ping"}))
        async with asyncio.timeout(5):
            while (await recv_json(bystander))["type"] != "pong":
                pass
        await bystander.close()


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_new_operation_of_a_revoked_key_is_refused_at_once(
    database_url: str, tmp_path: Path, protocol: Subprotocol
) -> None:
    # The periodic re-check is made slow here: only the per-operation check can refuse.
    url = database_url
    async with opened(url) as store:
        key_id, key = await new_key(store)
        job = await make_job(store, lines=1)
        env = {"JOBGRAPH_KEY_RECHECK_SECONDS": "60"}
        with live_server(url, tmp_path, env=env) as server:
            async with ws_connect(server.ws_url, protocol) as ws:
                client = WsClient(ws, protocol)
                assert (await client.init({"apiKey": key}))["type"] == "connection_ack"
                assert await store.keys.revoke(key_id=key_id)
                started = time.time()
                # Legacy graphql-ws carries subscriptions; graphql-transport-ws anything.
                if client.legacy:
                    await client.start(LOGS, {"id": job.id})
                else:
                    await client.start(CREATE)
                ending = await until_closed(ws)
                refused_after = ending.at - started
            where = f"{url.split('+')[0]}, {protocol}"
            print(f"\n[{where}] operation of a revoked key refused in {refused_after:.3f} s")
            assert [e["extensions"]["code"] for e in errors_of(ending)] == ["UNAUTHENTICATED"]
            assert [m["type"] for m in ending.messages] == ["error"]
            assert (ending.code, ending.reason) == (4401, "API key revoked")
            assert refused_after < 2.0
        count = await store.db.read(
            lambda conn: conn.execute(select(func.count()).select_from(jobs)).scalar_one()
        )
        assert count == 1  # the createJob never ran


async def test_revocation_reaches_every_process(pg_database: str, tmp_path: Path) -> None:
    """Two server processes on one PostgreSQL: the CLI revokes, both end the key's sockets."""
    from tests.conftest import _truncate

    await _truncate(pg_database)
    async with opened(pg_database) as store:
        key_id, key = await new_key(store)
        job = await make_job(store, lines=2)
    with live_server(pg_database, tmp_path) as a, live_server(pg_database, tmp_path) as b:
        sockets = [
            (await subscribed(a, TRANSPORT_WS, key, job.id))[0],
            (await subscribed(b, TRANSPORT_WS, key, job.id))[0],
            (await subscribed(b, LEGACY_WS, key, job.id))[0],
        ]
        multipart = MultipartFollower()
        await multipart.start(a, key, job.id)
        watching = asyncio.gather(*(until_closed(ws) for ws in sockets))
        revoked_at = await revoke_with_cli(pg_database, key_id)
        endings = await watching
        parts = await multipart.ended()
        figures = [ending.at - revoked_at for ending in endings] + [multipart.ended_at - revoked_at]
        print("\n[postgresql, two processes] revoked → ended:", [f"{s:.2f} s" for s in figures])
        for ending in endings:
            assert (ending.code, ending.reason) == (4401, "API key revoked")
            assert [e["extensions"]["code"] for e in errors_of(ending)] == ["UNAUTHENTICATED"]
        assert_revoked_part(parts, multipart.text)
        assert max(figures) < REVOCATION_BOUND, figures


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_throttled_socket_operation_gets_rate_limited(
    tmp_path: Path, protocol: Subprotocol
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/jobgraph.db"
    async with opened(url) as store:
        _, key = await new_key(store)
        job = await make_job(store, lines=1)
    env = {"JOBGRAPH_RATE_LIMIT_PER_SECOND": "0.2", "JOBGRAPH_RATE_LIMIT_BURST": "2"}
    with live_server(url, tmp_path, env=env) as server:
        async with ws_connect(server.ws_url, protocol) as ws:
            client = WsClient(ws, protocol)
            assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
            ids = [await client.start(LOGS, {"id": job.id}) for _ in range(3)]
            started = time.monotonic()
            by_id: dict[str, list[dict[str, Any]]] = {op_id: [] for op_id in ids}
            async with asyncio.timeout(10):
                while not any(m["type"] == "error" for m in by_id[ids[2]]):
                    message = await recv_json(ws)
                    if message.get("id") in by_id:
                        by_id[message["id"]].append(message)
            refused_after = time.monotonic() - started
            error = errors_of(Ending(messages=by_id[ids[2]]))[0]
            assert error["extensions"]["code"] == "RATE_LIMITED"
            assert error["extensions"]["retryAfter"] >= 1
            assert [m["type"] for m in by_id[ids[2]]] == ["error"]  # never a bare complete
            # The first two run; HTTP spends from the same bucket, and is refused too.
            assert all(m["type"] in ("next", "data") for op in ids[:2] for m in by_id[op])
            async with httpx.AsyncClient(base_url=server.url) as http:
                response = await http.post(
                    "/graphql", json={"query": ME}, headers={"X-API-Key": key}
                )
                assert response.status_code == 429
                assert (
                    await http.get(f"/status/{job.id}", headers={"X-API-Key": key})
                ).status_code == 429
            print(f"\n[{protocol}] throttled operation refused in {refused_after:.3f} s")
            assert refused_after < 2.0


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_caps_on_sockets_per_key_and_operations_per_socket(
    tmp_path: Path, protocol: Subprotocol
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/jobgraph.db"
    async with opened(url) as store:
        _, key = await new_key(store)
        _, other = await new_key(store, "other")
        job = await make_job(store, lines=1)
    env = {
        "JOBGRAPH_MAX_WS_CONNECTIONS_PER_KEY": "2",
        "JOBGRAPH_MAX_SUBSCRIPTIONS_PER_CONNECTION": "2",
    }
    with live_server(url, tmp_path, env=env) as server:
        async with (
            ws_connect(server.ws_url, protocol) as first,
            ws_connect(server.ws_url, protocol) as second,
        ):
            for ws in (first, second):
                assert (await WsClient(ws, protocol).init({"X-API-Key": key}))[
                    "type"
                ] == "connection_ack"
            # A third socket of the key is refused, with a reason; another key's is not.
            started = time.time()
            async with ws_connect(server.ws_url, protocol) as third:
                await third.send(
                    json.dumps({"type": "connection_init", "payload": {"X-API-Key": key}})
                )
                ending = await until_closed(third)
            refused_after = ending.at - started
            assert (ending.code, ending.reason) == (
                1013,
                "too many WebSocket connections for this API key",
            )
            if protocol == LEGACY_WS:
                assert ending.messages[0]["type"] == "connection_error"
                assert ending.messages[0]["payload"]["code"] == "TOO_MANY_CONNECTIONS"
            async with ws_connect(server.ws_url, protocol) as elsewhere:
                init = await WsClient(elsewhere, protocol).init({"X-API-Key": other})
                assert init["type"] == "connection_ack"

            # Two operations per socket: a third is refused with a code.
            client = WsClient(first, protocol)
            ids = [await client.start(LOGS, {"id": job.id}) for _ in range(3)]
            refusal: dict[str, Any] = {}
            async with asyncio.timeout(10):
                while not refusal:
                    message = await recv_json(first)
                    if message.get("id") == ids[2]:
                        refusal = message
            assert refusal["type"] == "error"
            error = errors_of(Ending(messages=[refusal]))[0]
            assert error["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
            assert error["extensions"]["limit"] == 2
        # Closed sockets give their slots back (once the server has seen them close).
        async with asyncio.timeout(5):
            while True:
                async with ws_connect(server.ws_url, protocol) as again:
                    try:
                        init = await WsClient(again, protocol).init({"X-API-Key": key})
                    except ConnectionClosed:
                        init = {}
                if init.get("type") == "connection_ack":
                    break
                await asyncio.sleep(0.1)
    print(f"\n[{protocol}] socket over the per-key cap refused in {refused_after:.3f} s")
    assert refused_after < 2.0
