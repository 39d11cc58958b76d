"""Secrets: keys are long and random, stored only as a hash, compared in constant time, and
never written to logs, error bodies or listings — checked on a real server at debug level."""

from __future__ import annotations

import inspect
import json
import secrets
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from storage import keys as key_module
from storage.keys import KEY_PREFIX, hash_key
from storage.store import Store
from storage.tables import api_keys
from tests.factories import make_key
from tests.live import live_server


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    # What reaches a log does not depend on the backend; one real server start is enough.
    return f"sqlite+aiosqlite:///{tmp_path}/jobgraph.db"


async def test_keys_are_random_hashed_and_compared_in_constant_time(store: Store) -> None:
    key = await make_key(store)
    body = key.removeprefix(KEY_PREFIX)
    assert len(body) >= 43  # token_urlsafe(32): 32 random bytes, base64url
    assert key != await make_key(store)
    rows = await store.db.read(lambda conn: conn.execute(select(api_keys)).mappings().all())
    for row in rows:
        assert key not in json.dumps({k: str(v) for k, v in row.items()})
    assert hash_key(key) in {row["key_hash"] for row in rows}
    assert "hmac.compare_digest" in inspect.getsource(key_module.KeyStore.authenticate)


@pytest.mark.e2e
async def test_keys_never_reach_logs_errors_or_listings(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    good = await make_key(store, name="s", scopes="read")
    revoked = await make_key(store, name="r", scopes="read")
    revoked_id = next(record.id for record in await store.keys.list() if record.name == "r")
    assert await store.keys.revoke(key_id=revoked_id)
    unknown = KEY_PREFIX + secrets.token_urlsafe(32)
    garbage = "not-a-key-" + secrets.token_hex(16)
    all_keys = [good, revoked, unknown, garbage]
    bodies: list[str] = []
    env = {
        "JOBGRAPH_LOG_LEVEL": "debug",
        "JOBGRAPH_RATE_LIMIT_BURST": "3",
        "JOBGRAPH_RATE_LIMIT_PER_SECOND": "0.1",
    }
    with live_server(database_url, tmp_path, env=env) as server:
        url = f"{server.url}/graphql"
        for key in all_keys:
            for document in ("{ me { name } }", "{ nope", '{ job(id: "x") { id } }'):
                response = httpx.post(url, json={"query": document}, headers={"X-API-Key": key})
                bodies.append(response.text)
            response = httpx.get(
                url, params={"query": "{ me { name } }"}, headers={"X-API-Key": key}
            )
            bodies.append(response.text)
            # WebSocket: the key in connection_init.
            try:
                with connect(
                    server.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]
                ) as ws:
                    ws.send(json.dumps({"type": "connection_init", "payload": {"apiKey": key}}))
                    bodies.append(str(ws.recv(timeout=5)))
            except ConnectionClosed as closed:
                bodies.append(str(closed))
        # The rate limit answered some of those with 429: that path must not leak either.
        assert any("RATE_LIMITED" in body for body in bodies)
    logs = server.logs()
    assert "DEBUG" in logs or "debug" in logs.lower()  # the server really ran at debug level
    listing = "\n".join(f"{r.id} {r.prefix} {r.name}" for r in await store.keys.list())
    assert good[:10] in listing  # shown by its prefix only (what cli.py's keys list prints)
    for key in all_keys:
        assert key not in logs, "an API key reached the server log"
        assert key[len(KEY_PREFIX) :][:16] not in logs
        assert not any(key in body for body in bodies), "an API key was echoed to a client"
        assert key not in listing
