"""An ASGI client for an app built with chosen settings (limits, env), plus a key for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from app import create_app
from settings import Settings
from storage.store import Store
from tests.factories import make_key


@dataclass
class Client:
    http: httpx.AsyncClient
    store: Store
    key: str

    async def post(self, body: Any, **headers: str) -> httpx.Response:
        return await self.http.post(
            "/graphql", json=body, headers={"X-API-Key": self.key, **headers}
        )


@asynccontextmanager
async def app_client(database_url: str, **overrides: Any) -> AsyncIterator[Client]:
    settings = Settings(database_url=database_url, **{"env": "test", **overrides})
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        store: Store = application.state.store
        key = await make_key(store)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://jobgraph.test") as http:
            yield Client(http, store, key)
