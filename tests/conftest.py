"""Fixtures: a real database per test (SQLite file, and PostgreSQL when reachable), a store,
a schema, and helpers to run GraphQL at the schema level and over HTTP."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from app import create_app
from domain.principal import Principal, Scope
from resolvers.context import Context
from schema.build import JobgraphSchema, build_schema
from settings import Settings
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.store import Store

PG_ADMIN_URL = os.environ.get("JOBGRAPH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_TABLES = (
    "webhook_deliveries",
    "job_webhooks",
    "webhook_secrets",
    "log_lines",
    "job_items",
    "jobs",
    "api_keys",
    "trusted_documents",
)


async def _pg_reachable() -> str | None:
    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError) as error:
        return f"{type(error).__name__}: {error}"
    await conn.close()
    return None


async def _create_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def pg_url_for(database: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{database}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database for this test session, migrated once; skipped when unreachable
    outside CI (in CI, unreachable PostgreSQL fails the run)."""
    problem = asyncio.run(_pg_reachable())
    if problem is not None:
        if IN_CI:
            pytest.fail(
                f"PostgreSQL is required in CI but unreachable at {PG_ADMIN_URL}: {problem}"
            )
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL} ({problem}); SQLite half still runs")
    name = f"jobgraph_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_create_pg_database(name))
    url = pg_url_for(name)

    async def migrate() -> None:
        db = Database(Settings(database_url=url))
        await upgrade_to_head(db)
        await db.dispose()

    asyncio.run(migrate())
    yield url
    asyncio.run(_drop_pg_database(name))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/jobgraph.db"
    url: str = request.getfixturevalue("pg_database")
    asyncio.run(_truncate(url))
    return url


async def _truncate(url: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f"TRUNCATE {', '.join(_TABLES)} CASCADE")
    finally:
        await conn.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Any) -> Settings:
    # The webhook secrets' key file per test, not in the working directory.
    key_file = str(tmp_path / "webhook-secret.key")
    # Generous database timeouts: many tests share one PostgreSQL server, and a connection
    # that waits its turn is not a silent database (the tests of those build their own).
    return Settings(
        database_url=database_url,
        env="test",
        webhook_secret_key_file=key_file,
        db_connect_timeout_seconds=20,
        db_statement_timeout_seconds=30,
    )


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    db = Database(settings)
    await upgrade_to_head(db)
    yield Store(db)
    await db.dispose()


@pytest.fixture(scope="session")
def schema() -> JobgraphSchema:
    return build_schema()


ALL_SCOPES = frozenset(Scope)


def principal(
    *, tenant: str = "default", scopes: frozenset[Scope] | set[Scope] = ALL_SCOPES - {Scope.ADMIN}
) -> Principal:
    return Principal(key_id=str(uuid.uuid4()), name="test", tenant=tenant, scopes=frozenset(scopes))


class GraphQLRunner:
    """Runs documents at the schema level with a chosen principal: ``await gql(query, ...)``."""

    def __init__(self, schema: JobgraphSchema, store: Store, settings: Settings) -> None:
        self.schema = schema
        self.store = store
        self.settings = settings

    async def __call__(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_: Principal | None = None,
    ) -> Any:
        context = Context.for_store(self.store, self.settings, principal=as_ or principal())
        return await self.schema.execute(query, variable_values=variables, context_value=context)


@pytest.fixture
def gql(schema: JobgraphSchema, store: Store, settings: Settings) -> GraphQLRunner:
    return GraphQLRunner(schema, store, settings)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://jobgraph.test") as client:
        yield client


@pytest.fixture
def app_store(app: Starlette) -> Store:
    store: Store = app.state.store
    return store
