"""The pages jobgraph serves itself: GraphiQL on local assets, the dashboard, missing assets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

import server.frontend as frontend
from storage.store import Store
from tests.factories import make_key
from tests.frontend import ensure_web_assets
from tests.live import live_server

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
HTML = {"Accept": "text/html,application/xhtml+xml"}


def external_urls(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["'](?:https?:)?//[^"']+""", page)


async def test_graphiql_page_uses_local_assets(http: httpx.AsyncClient) -> None:
    ensure_web_assets()
    response = await http.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "/vendor/graphiql.min.js" in page and "/static/graphiql.js" in page
    assert external_urls(page) == []
    assert "jg-missing" not in page
    assert "default-src 'self'" in response.headers["content-security-policy"]
    for path in ("/vendor/graphiql.min.js", "/vendor/graphiql.min.css", "/static/graphiql.js"):
        asset = await http.get(path)
        assert asset.status_code == 200, path


async def test_dashboard_page(http: httpx.AsyncClient) -> None:
    response = await http.get("/")
    assert response.status_code == 200
    assert "/static/dashboard.js" in response.text and external_urls(response.text) == []
    assert (await http.get("/static/dashboard.js")).status_code == 200
    assert (await http.get("/static/nope.js")).status_code == 404


async def test_missing_assets_say_how_to_fix(
    http: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(frontend, "VENDOR", tmp_path / "no-vendor")
    for path, headers in (("/graphql", HTML), ("/", {})):
        response = await http.get(path, headers=headers)
        assert response.status_code == 200
        assert "jg-missing" in response.text and "make web" in response.text
        assert "graphiql.min.js" in response.text
    assert (await http.get("/vendor/graphiql.min.js")).status_code == 404
    # The API is unaffected.
    response = await http.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 401


@pytest.mark.e2e
async def test_websocket_messages_are_text_frames(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    """Browser graphql-ws clients close the connection on a binary frame."""
    key = await make_key(store, scopes="read")
    with live_server(database_url, tmp_path) as server:
        async with websockets.connect(
            server.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"X-API-Key": key}}))
            ack = await ws.recv()
            assert isinstance(ack, str) and json.loads(ack) == {"type": "connection_ack"}
