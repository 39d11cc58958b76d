"""No piece of a key in the server's log (issue 17, item 8): a real server with every logger at
DEBUG (websockets' frames through uvicorn, SQLAlchemy, asyncio, ...), keys used over HTTP
(POST and GET), both WebSocket subprotocols (each place a key may sit in connection_init,
long and short frames, a key in a message type, the URL's query), multipart, REST, and a
revocation that ends sockets; then not one run of six characters of any key's secret part is
found in the log."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from domain.principal import Scope
from settings import Settings
from storage.database import Database
from storage.keys import KEY_PREFIX
from storage.migrate import upgrade_to_head
from storage.store import Store
from tests.factories import make_job
from tests.gql_clients import (
    LEGACY_WS,
    MULTIPART_ACCEPT,
    TRANSPORT_WS,
    WsClient,
    recv_json,
    ws_connect,
)
from tests.live import ROOT, LiveServer, live_server

pytestmark = pytest.mark.e2e

LOGS = "subscription($id: ID!) { jobLogs(id: $id, after: 0) { seq message } }"
PIECE = 6  # characters: 64**6 values, so a chance match in a log of megabytes is ~1e-5


def pieces(key: str) -> set[str]:
    secret = key.removeprefix(KEY_PREFIX)
    return {secret[i : i + PIECE] for i in range(len(secret) - PIECE + 1)}


async def use_sockets(server: LiveServer, key: str, job_id: str) -> None:
    """Every way a key reaches a socket, on both subprotocols."""
    payloads: list[dict[str, Any]] = [
        {"X-API-Key": key},
        {"apiKey": key},
        {"api_key": key},
        {"headers": {"X-API-Key": key}},
        # A long frame: websockets' log shows its start and end, the key in the elided end.
        {"padding": "x" * 400, "X-API-Key": key},
        {"X-API-Key": key, "padding": "y" * 40},
    ]
    for protocol in (TRANSPORT_WS, LEGACY_WS):
        for payload in payloads:
            try:
                async with ws_connect(server.ws_url, protocol) as ws:
                    client = WsClient(ws, protocol)
                    ack = await client.init(payload)
                    if ack["type"] != "connection_ack":
                        continue
                    op_id = await client.start(LOGS, {"id": job_id, "key": key})
                    async with asyncio.timeout(10):
                        while (await recv_json(ws)).get("id") != op_id:
                            pass
            except ConnectionClosed:
                pass  # a refused key (4403, 4401)
        # A key where a message type goes (its close reason echoes the type) and in the URL.
        try:
            async with ws_connect(f"{server.ws_url}?apiKey={key}", protocol) as ws:
                await ws.send(json.dumps({"type": key, "payload": {"X-API-Key": key}}))
                async with asyncio.timeout(5):
                    await ws.recv()
                    await ws.recv()
        except (ConnectionClosed, TimeoutError):
            pass


async def use_http(server: LiveServer, key: str, job_id: str) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        headers = {"X-API-Key": key}
        await http.post("/graphql", json={"query": "{ me { name } }"}, headers=headers)
        await http.post("/graphql", json={"query": "{ nope"}, headers=headers)
        await http.get("/graphql", params={"query": "{ me { name } }", "k": key}, headers=headers)
        await http.get(f"/status/{job_id}", headers=headers)
        await http.get(f"/status/{key}", headers=headers)
        await http.post("/process", json={"items": [{"platform": "youtube", "code": key}]})
        await http.post(
            "/process",
            json={"items": [{"platform": "youtube", "code": "dQw4w9WgXcQ"}]},
            headers=headers,
        )
        # A multipart subscription, read to its first part.
        multipart = {"accept": MULTIPART_ACCEPT, **headers}
        body = {"query": LOGS, "variables": {"id": job_id}}
        async with http.stream("POST", "/graphql", json=body, headers=multipart) as response:
            async for chunk in response.aiter_text():
                if "jobLogs" in chunk:
                    break


async def test_no_piece_of_a_key_reaches_a_debug_log(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/jobgraph.db"
    db = Database(Settings(database_url=url))
    await upgrade_to_head(db)
    store = Store(db)
    scopes = [Scope.READ, Scope.SUBMIT, Scope.WORK]
    _, good = await store.keys.create(name="good", tenant="default", scopes=scopes)
    revoked_record, revoked = await store.keys.create(name="r", tenant="default", scopes=scopes)
    job = await make_job(store, lines=3)
    unknown = KEY_PREFIX + secrets.token_urlsafe(32)
    env = {"JOBGRAPH_LOG_LEVEL": "debug", "JOBGRAPH_LOG_FORMAT": "json"}
    launcher = str(ROOT / "tests" / "debug_everything.py")
    try:
        with live_server(url, tmp_path, env=env, launcher=launcher) as server:
            for key in (good, revoked, unknown):
                await use_http(server, key, job.id)
                await use_sockets(server, key, job.id)
            # A revocation that ends an open socket of the key (and logs that it did).
            async with ws_connect(server.ws_url, Subprotocol(TRANSPORT_WS)) as ws:
                client = WsClient(ws, TRANSPORT_WS)
                assert (await client.init({"X-API-Key": revoked}))["type"] == "connection_ack"
                await client.start(LOGS, {"id": job.id})
                assert await store.keys.revoke(key_id=revoked_record.id)
                with pytest.raises(ConnectionClosed):
                    async with asyncio.timeout(10):
                        while True:
                            await ws.recv()
            for key in (revoked,):  # now refused everywhere
                await use_http(server, key, job.id)
                await use_sockets(server, key, job.id)
    finally:
        await db.dispose()
    logs = server.logs()
    # The server really logged at debug, frames and SQL included.
    assert '"level":"DEBUG"' in logs
    assert "[payload not logged]" in logs
    assert "TEXT" in logs and "connection_init" not in logs
    for key in (good, revoked, unknown):
        leaked = sorted(piece for piece in pieces(key) if piece in logs)
        assert not leaked, f"pieces of a key reached the log: {leaked[:5]}"
