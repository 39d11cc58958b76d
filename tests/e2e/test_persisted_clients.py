"""Documents by reference with real clients against a real server: @apollo/client's
persisted-queries link (miss, register, hit; GET hit), and a trusted-documents-only server
refusing text and answering ids over HTTP and over both WebSocket protocols."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server.persisted import sha256_hex
from storage.store import Store
from tests.factories import make_job, make_key
from tests.frontend import ensure_web_assets, run_node
from tests.gql_clients import WsClient, ws_connect
from tests.live import LiveServer, live_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

ME = "query Me { me { name } }"
UPDATED = "subscription Watch($id: ID!) { jobUpdated(id: $id) { id status } }"


@pytest.fixture
def server(database_url: str, tmp_path: Path, store: Store) -> Iterator[LiveServer]:
    with live_server(database_url, tmp_path) as running:
        yield running


async def test_apollo_persisted_query_link(store: Store, server: LiveServer) -> None:
    ensure_web_assets()
    key = await make_key(store, scopes="read", name="apollo")
    result = run_node("apollo-persisted.mjs", json.dumps({"url": server.url, "key": key}))
    assert result["ok"], result.get("error")
    assert (
        result["first"]
        == result["second"]
        == result["third"]
        == {
            "__typename": "ApiKeyInfo",
            "name": "apollo",
            "tenant": "default",
        }
    )
    posts = result["postRequests"]
    # The miss (hash only), the resend with the text, then a hit by hash alone.
    assert [(r["hasQuery"], r["hashed"]) for r in posts] == [
        (False, True),
        (True, True),
        (False, True),
    ], posts
    assert posts[2]["status"] == 200
    (get,) = result["getRequests"]
    assert get["method"] == "GET" and get["hashed"] and not get["hasQuery"]
    assert get["status"] == 200 and get["cacheControl"].startswith("private")


@pytest.fixture
def trusted_server(database_url: str, tmp_path: Path, store: Store) -> Iterator[LiveServer]:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({sha256_hex(ME): ME, sha256_hex(UPDATED): UPDATED}))
    env = {
        "JOBGRAPH_TRUSTED_DOCUMENTS": str(manifest),
        "JOBGRAPH_TRUSTED_DOCUMENTS_ONLY": "true",
    }
    with live_server(database_url, tmp_path, env=env) as running:
        yield running


async def test_a_trusted_only_server_over_http(store: Store, trusted_server: LiveServer) -> None:
    key = await make_key(store, scopes="read")
    async with httpx.AsyncClient(base_url=trusted_server.url) as http:
        headers = {"X-API-Key": key, "accept": "application/graphql-response+json"}
        refused = await http.post("/graphql", json={"query": ME}, headers=headers)
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
        answered = await http.post(
            "/graphql", json={"documentId": f"sha256:{sha256_hex(ME)}"}, headers=headers
        )
        assert answered.json() == {"data": {"me": {"name": "k"}}}


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_trusted_only_server_over_websockets(
    store: Store, trusted_server: LiveServer, protocol: str
) -> None:
    key = await make_key(store, scopes="read")
    job = await make_job(store)
    async with ws_connect(trusted_server.ws_url, protocol) as ws:  # type: ignore[arg-type]
        client = WsClient(ws, protocol)  # type: ignore[arg-type]
        await client.init({"X-API-Key": key})
        (refusal,) = await client.collect(UPDATED, {"id": job.id})
        assert refusal["type"] == "error", refusal
        error = refusal["payload"] if client.legacy else refusal["payload"][0]
        assert error["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
        op_id = await client.start_payload(
            {"documentId": f"sha256:{sha256_hex(UPDATED)}", "variables": {"id": job.id}}
        )
        async for message in client.messages(op_id):
            assert message["type"] in ("next", "data"), message
            assert message["payload"]["data"]["jobUpdated"] == {"id": job.id, "status": "PENDING"}
            break
