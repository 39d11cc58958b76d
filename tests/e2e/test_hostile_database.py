"""A silent database: PostgreSQL behind a link that drops every packet (not one that refuses),
and an SQLite file whose write lock another process holds. A real server answers queries,
mutations, REST and /readyz with UNAVAILABLE / 503 within a few seconds instead of hanging,
stays alive (/healthz) meanwhile, and serves again without a restart once the database is
back."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from settings import Settings
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.store import Store
from tests.factories import make_job, make_key
from tests.live import LiveServer, live_server
from tests.pg_proxy import TcpProxy

pytestmark = pytest.mark.e2e

# The defaults: 3 s to connect, 3 s a statement. A statement on a pooled connection that
# goes silent takes its timeout plus the driver's 2 s attempt to close the connection.
PG_SECONDS = 7.0
BUSY_MS = 2000  # SQLite's busy timeout for these tests


@contextlib.asynccontextmanager
async def served(database_url: str, tmp_path: Path, **env: str) -> AsyncIterator[LiveServer]:
    """A live server, started and stopped on a thread: a database proxy on this loop keeps
    serving it meanwhile."""
    manager = live_server(database_url, tmp_path, env=env)
    server = await asyncio.to_thread(manager.__enter__)
    try:
        yield server
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)


class Calls:
    """Every kind of request, timed: (status, body, seconds)."""

    def __init__(self, http: httpx.AsyncClient, server: LiveServer, key: str, job_id: str):
        self.http, self.server, self.key, self.job_id = http, server, key, job_id

    async def timed(self, name: str, method: str, path: str, **kwargs: Any) -> tuple[str, Any]:
        started = time.perf_counter()
        response = await self.http.request(method, f"{self.server.url}{path}", **kwargs)
        seconds = time.perf_counter() - started
        return name, (response.status_code, response.json(), seconds)

    def graphql(self, name: str, query: str) -> Any:
        headers = {"X-API-Key": self.key}
        return self.timed(name, "POST", "/graphql", json={"query": query}, headers=headers)

    async def every_kind(self) -> dict[str, Any]:
        headers = {"X-API-Key": self.key}
        items = '[{url: "https://youtu.be/dQw4w9WgXcQ"}]'
        calls = [
            self.graphql("query", f'{{ job(id: "{self.job_id}") {{ status logTail }} }}'),
            self.graphql(
                "mutation", f"mutation {{ createJob(input: {{items: {items}}}) {{ id }} }}"
            ),
            self.timed("rest status", "GET", f"/status/{self.job_id}", headers=headers),
            self.timed(
                "rest process",
                "POST",
                "/process",
                json={"items": [{"platform": "youtube", "code": "dQw4w9WgXcQ"}]},
                headers=headers,
            ),
            self.timed("readyz", "GET", "/readyz"),
        ]
        return dict(await asyncio.gather(*calls))


def code_of(body: dict[str, Any]) -> str | None:
    errors = body.get("errors") or [{}]
    code: str | None = errors[0].get("extensions", {}).get("code")
    return code


async def test_a_blackholed_postgresql_is_unavailable_within_seconds(
    pg_database: str, tmp_path: Path
) -> None:
    db = Database(Settings(database_url=pg_database))
    await upgrade_to_head(db)
    store = Store(db)
    key = await make_key(store, tenant="silent")
    job = await make_job(store, tenant="silent", lines=3)
    await db.dispose()
    url = make_url(pg_database)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        async with (
            served(proxied, tmp_path) as server,
            httpx.AsyncClient(timeout=60) as http,
        ):
            calls = Calls(http, server, key, job.id)
            before = await calls.every_kind()
            assert {name: status for name, (status, _, _) in before.items()} == {
                "query": 200,
                "mutation": 200,
                "rest status": 200,
                "rest process": 202,
                "readyz": 200,
            }
            proxy.blackhole()
            # Twice: requests on pooled connections that go silent, then requests that
            # need a new connection (which never completes its handshake).
            for round_ in (1, 2):
                started = time.perf_counter()
                silent, alive = await asyncio.gather(
                    calls.every_kind(), calls.timed("healthz", "GET", "/healthz")
                )
                print(f"\nblackholed PostgreSQL, round {round_}:")
                for name, (status, body, seconds) in silent.items():
                    print(f"  {name}: {status} {code_of(body) or body} after {seconds:.1f} s")
                    assert status == 503, (name, body)
                    assert seconds < PG_SECONDS, (name, seconds)
                for name in ("query", "mutation"):
                    assert code_of(silent[name][1]) == "UNAVAILABLE"
                assert silent["readyz"][1]["database"] == "unreachable"
                assert alive[1][0] == 200 and alive[1][2] < 1.0  # liveness does not wait
                assert time.perf_counter() - started < PG_SECONDS
            proxy.restore()
            started = time.perf_counter()
            while (await calls.timed("readyz", "GET", "/readyz"))[1][0] != 200:
                assert time.perf_counter() - started < PG_SECONDS
                await asyncio.sleep(0.1)
            print(f"  back: ready after {time.perf_counter() - started:.1f} s")
            after = await calls.every_kind()
            assert [status for status, _, _ in after.values()] == [200, 200, 200, 202, 200]
            assert after["query"][1]["data"]["job"]["logTail"] == "line 1\nline 2\nline 3"
    finally:
        await proxy.stop()


async def test_a_locked_sqlite_database_is_unavailable_for_writes(tmp_path: Path) -> None:
    path = tmp_path / "jobgraph.db"
    url = f"sqlite+aiosqlite:///{path}"
    db = Database(Settings(database_url=url))
    await upgrade_to_head(db)
    store = Store(db)
    key = await make_key(store)
    job = await make_job(store, lines=3)
    await db.dispose()
    async with (
        served(url, tmp_path, JOBGRAPH_SQLITE_BUSY_TIMEOUT_MS=str(BUSY_MS)) as server,
        httpx.AsyncClient(timeout=60) as http,
    ):
        calls = Calls(http, server, key, job.id)
        # Another process takes the write lock and keeps it (a backup, a long transaction).
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        try:
            # Writes queued behind one another each give up within the busy timeout.
            results = await asyncio.gather(*(calls.every_kind() for _ in range(3)))
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        print(f"\nSQLite write lock held elsewhere (busy timeout {BUSY_MS} ms):")
        for name, (status, body, seconds) in results[0].items():
            print(f"  {name}: {status} {code_of(body) or ''} after {seconds:.1f} s")
        for result in results:
            # Reads go on (WAL): only writes wait for the lock.
            assert result["query"][0] == 200 and result["rest status"][0] == 200
            assert result["readyz"][0] == 200
            status, body, seconds = result["mutation"]
            assert code_of(body) == "UNAVAILABLE" and body["data"] is None
            assert BUSY_MS / 1000 - 0.5 < seconds < BUSY_MS / 1000 + 2.0
            status, body, seconds = result["rest process"]
            assert status == 503 and seconds < BUSY_MS / 1000 + 2.0
        after = await calls.every_kind()
        assert [status for status, _, _ in after.values()] == [200, 200, 200, 202, 200]
        assert "errors" not in after["mutation"][1]
