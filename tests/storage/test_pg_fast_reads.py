"""PostgreSQL's fast reads (``engine.pg``, ``storage.pg_reads``): what each costs in
statements, that they answer what the stock reads answer, that a broken connection is retried,
and that a revoked key is refused on the very next request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest

from domain.errors import Unavailable
from domain.principal import Scope
from engine import pg as pg_engine
from engine import sql
from settings import Settings
from storage.database import Database
from storage.listing import JobListFilter
from storage.migrate import upgrade_to_head
from storage.records import Allowance, TailRequest
from storage.store import Store
from tests.conftest import _truncate
from tests.factories import make_job

ROOMY = Allowance(lines=50_000, bytes=8 * 1024 * 1024)


@pytest.fixture
async def stores(pg_database: str) -> AsyncIterator[tuple[Store, Store]]:
    """The fast and the stock store over one PostgreSQL database."""
    await _truncate(pg_database)
    made = []
    for fast in (True, False):
        db = Database(Settings(database_url=pg_database, env="test", fast_paths=fast))
        await upgrade_to_head(db)
        made.append(Store(db))
    yield made[0], made[1]
    for store in made:
        await store.db.dispose()


@contextmanager
def observed() -> Iterator[list[str]]:
    """The statements run on asyncpg directly (``engine.sql.observe``)."""
    seen: list[str] = []
    before = sql.observe

    @contextmanager
    def record(text: str) -> Iterator[None]:
        seen.append(text)
        yield

    recorder: Any = record
    sql.observe = recorder
    try:
        yield seen
    finally:
        sql.observe = before


async def test_fast_reads_run_one_statement_each_and_answer_as_the_stock_ones(
    stores: tuple[Store, Store],
) -> None:
    fast, stock = stores
    assert fast.db.fast_pg and not stock.db.fast_pg
    job = await make_job(fast, items=3, lines=40)
    await make_job(fast, items=2, lines=0)
    _, key = await fast.keys.create(name="k", tenant="default", scopes=[Scope.READ])
    tail = TailRequest(10, ROOMY)
    with observed() as seen:
        principal = await fast.keys.authenticate(key)
        snapshot = await fast.jobs.get_job_snapshot(
            job_id=job.id, tenant="default", items=True, tail=tail
        )
        page = await fast.listing.job_page(
            spec=JobListFilter(tenant="default"),
            first=50,
            after=None,
            count=False,
            items=True,
            tail=tail,
        )
    assert len(seen) == 3, seen  # the key, the job with items and tail, the page
    assert principal is not None and principal.tenant == "default"
    assert snapshot == await stock.jobs.get_job_snapshot(
        job_id=job.id, tenant="default", items=True, tail=tail
    )
    assert snapshot is not None and snapshot.tail is not None
    assert snapshot.tail.text.endswith("line 40") and snapshot.tail.lines == 10
    assert page == await stock.listing.job_page(
        spec=JobListFilter(tenant="default"),
        first=50,
        after=None,
        count=False,
        items=True,
        tail=tail,
    )
    assert len(page.jobs) == 2 and page.items is not None and page.tails is not None
    # Another tenant's job is not found, on both paths.
    assert (
        await fast.jobs.get_job_snapshot(job_id=job.id, tenant="other", items=True, tail=tail)
        is None
    )


async def test_reads_the_one_statement_cannot_make_exact_go_the_stock_way(
    stores: tuple[Store, Store],
) -> None:
    fast, stock = stores
    job = await make_job(fast, items=1, lines=30)
    # A small allowance: 30 lines of the widest message might not fit, so the tail is windowed.
    tight = TailRequest(30, Allowance(lines=5, bytes=10_000))
    with observed() as seen:
        snapshot = await fast.jobs.get_job_snapshot(
            job_id=job.id, tenant=None, items=False, tail=tight
        )
        page = await fast.listing.job_page(
            spec=JobListFilter(tenant=None),
            first=10,
            after=None,
            count=True,
            items=False,
            tail=None,
        )
    assert seen == []
    assert snapshot == await stock.jobs.get_job_snapshot(
        job_id=job.id, tenant=None, items=False, tail=tight
    )
    assert snapshot is not None and snapshot.tail is not None and snapshot.tail.lines == 5
    assert page.total_count == 1


async def test_a_revoked_key_is_refused_on_the_next_request(stores: tuple[Store, Store]) -> None:
    fast, _ = stores
    record, key = await fast.keys.create(name="k", tenant="default", scopes=[Scope.READ])
    for _ in range(3):  # the key's statement is prepared and warm on the pooled connection
        assert await fast.keys.authenticate(key) is not None
    assert await fast.keys.revoke(key_id=record.id)
    assert await fast.keys.authenticate(key) is None


async def test_a_broken_connection_is_retried_and_a_dead_database_is_unavailable(
    stores: tuple[Store, Store], pg_database: str
) -> None:
    fast, _ = stores
    job = await make_job(fast, items=1, lines=3)
    assert await fast.jobs.get_job_snapshot(job_id=job.id, tenant=None, items=True, tail=None)
    admin = await asyncpg.connect(pg_database.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        # Every connection of the fast pool dies (as in a database restart).
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    found = await fast.jobs.get_job_snapshot(job_id=job.id, tenant=None, items=True, tail=None)
    assert found is not None and found.job.id == job.id

    dead = Database(
        Settings(
            database_url="postgresql+asyncpg://postgres@127.0.0.1:1/nothing",
            env="test",
            db_connect_timeout_seconds=1,
        )
    )
    try:
        with pytest.raises(Unavailable):
            await dead.pg_first("SELECT 1", [])
    finally:
        await dead.dispose()


async def test_a_connection_left_mid_error_leaves_the_pool_and_the_read_is_retried(
    stores: tuple[Store, Store], pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backend's FATAL error that lands on an idle connection before its socket closes
    leaves asyncpg's protocol mid-error: the next statement fails with InternalClientError
    ("another operation is in progress"). Which of the two a terminated backend produces is
    a race, so the first statement here is made to meet it."""
    fast, _ = stores
    job = await make_job(fast, items=1, lines=3)
    assert await fast.jobs.get_job_snapshot(job_id=job.id, tenant=None, items=True, tail=None)
    real = pg_engine._execute
    broken: list[int] = []

    async def once_mid_error(conn: asyncpg.Connection, text: str, args: Any, first: bool) -> Any:
        if not broken:
            broken.append(conn.get_server_pid())
            raise asyncpg.exceptions.InternalClientError(
                "cannot switch to state 12; another operation (2) is in progress"
            )
        return await real(conn, text, args, first)

    monkeypatch.setattr(pg_engine, "_execute", once_mid_error)
    found = await fast.jobs.get_job_snapshot(job_id=job.id, tenant=None, items=True, tail=None)
    assert found is not None and found.job.id == job.id
    admin = await asyncpg.connect(pg_database.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for _ in range(50):  # the backend notices its client's goodbye a moment later
            alive = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", broken[0]
            )
            if not alive:
                break
            await asyncio.sleep(0.02)
    finally:
        await admin.close()
    assert alive == 0, "the connection left mid-error went back into the pool"
