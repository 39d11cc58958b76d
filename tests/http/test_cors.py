"""CORS: JOBGRAPH_CORS_ORIGINS decides which browser origins may call /graphql."""

from __future__ import annotations

import httpx
import pytest

from app import create_app
from settings import Settings
from tests.factories import make_key

ALLOWED = "https://dash.example.com"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, env="test", cors_origins=f"{ALLOWED}, http://x.test")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_preflight_allows_key_and_content_type(http: httpx.AsyncClient) -> None:
    response = await http.options(
        "/graphql",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "x-api-key" in allowed and "content-type" in allowed
    assert "POST" in response.headers["access-control-allow-methods"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_unknown_origin_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.options(
        "/graphql",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key",
        },
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_actual_request_carries_the_header(http: httpx.AsyncClient, app_store) -> None:
    key = await make_key(app_store)
    response = await http.post(
        "/graphql",
        json={"query": "{ me { tenant } }"},
        headers={"Origin": ALLOWED, "X-API-Key": key},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    # Errors too: a browser can only read a 401 body that carries the header.
    response = await http.post(
        "/graphql", json={"query": "{ me { tenant } }"}, headers={"Origin": ALLOWED}
    )
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == ALLOWED


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_no_origins_configured_means_no_cors(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url, env="test"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                "/graphql", json={"query": "{ __typename }"}, headers={"Origin": ALLOWED}
            )
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_origins_from_the_environment(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("JOBGRAPH_CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]
    monkeypatch.setenv("JOBGRAPH_CORS_ORIGINS", '["https://c.example"]')
    assert Settings().cors_origins == ["https://c.example"]
