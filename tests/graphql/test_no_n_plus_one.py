"""A page of jobs costs a fixed number of SQL statements, and the batched tail read is indexed.

Statements are counted where the database sees them, on the path production takes: on SQLite
by the driver's trace callback (raw statements of the fast paths included), on PostgreSQL by
SQLAlchemy's cursor events (every statement goes through SQLAlchemy there).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Connection, event, text

from schema.build import JobgraphSchema
from settings import Settings
from storage.database import Database
from storage.records import Allowance
from storage.store import Store
from storage.tails import _PG_PLAIN, _sqlite_batch_sql, read_tails
from tests.conftest import GraphQLRunner
from tests.factories import make_job

PAGE = """query Page($first: Int) { jobs(first: $first, tail: 3) { totalCount edges { node {
  id items { code } logTail itemCounts { total } } } } }"""


@asynccontextmanager
async def counted_store(settings: Settings) -> AsyncIterator[tuple[Store, list[str]]]:
    """A store over the test's database whose every statement is recorded."""
    statements: list[str] = []
    db = Database(settings)
    if db.is_sqlite:

        def trace(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.set_trace_callback(statements.append)

        # Registered before the store's first connection: every one it opens is traced.
        event.listen(db.engine, "connect", trace)
    else:

        def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield Store(db), statements
    finally:
        await db.dispose()


def _queries(statements: list[str]) -> list[str]:
    control = ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")
    return [s for s in statements if not s.strip().upper().startswith(control)]


async def test_statement_count_does_not_depend_on_page_size(
    schema: JobgraphSchema, store: Store, settings: Settings
) -> None:
    for _ in range(50):
        await make_job(store, items=2, lines=4)
    counts = {}
    async with counted_store(settings) as (counted, statements):
        gql = GraphQLRunner(schema, counted, settings)
        for first in (5, 50):
            statements.clear()
            result = await gql(PAGE, {"first": first})
            assert result.errors is None, result.errors
            edges = result.data["jobs"]["edges"]
            assert len(edges) == first
            assert all(e["node"]["logTail"] == "line 2\nline 3\nline 4" for e in edges)
            assert all(e["node"]["itemCounts"]["total"] == 2 for e in edges)
            assert all(len(e["node"]["items"]) == 2 for e in edges)
            counts[first] = _queries(statements)
        one_document = counted.db.fast_sqlite
    assert len(counts[5]) == len(counts[50]), (counts[5], counts[50])
    # Count + page + items + item counts + log tails; with the fast paths on SQLite: count,
    # page, items and tails in one statement (storage.page_document), then item counts.
    assert len(counts[50]) == (2 if one_document else 5), counts[50]


ROOMY = Allowance(lines=50_000, bytes=8 * 1024 * 1024)


def _plan(conn: Connection, ends: dict[str, int]) -> str:
    if conn.dialect.name == "sqlite":
        # The text the fast paths run (and SQLAlchemy runs with them off).
        values = [value for pair in ends.items() for value in pair]
        sql = _sqlite_batch_sql(len(ends), windowed=False)
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, (*values, 100)).all()
        return "\n".join(str(row[-1]) for row in rows)
    conn.execute(text("ANALYZE log_lines"))
    params = {"job_ids": list(ends), "last_seqs": list(ends.values()), "limit": 100}
    rows = conn.execute(text("EXPLAIN " + _PG_PLAIN.text), params).all()
    return "\n".join(str(row[0]) for row in rows)


async def test_batched_tail_is_one_indexed_statement(store: Store) -> None:
    big = [await make_job(store, lines=20_000, batch=20_000) for _ in range(3)]
    small = [await make_job(store, lines=5) for _ in range(20)]
    ends = {job.id: job.last_seq for job in big + small}
    plan = await store.db.read(lambda conn: _plan(conn, ends))
    if store.db.is_sqlite:
        assert "SEARCH log_lines USING" in plan and "seq>" in plan, plan
        assert "SCAN log_lines" not in plan, plan
    else:
        # One LIMITed backward range per job on the primary key.
        assert "Index Scan Backward using log_lines_pkey" in plan and "Limit" in plan, plan
        assert "Seq Scan on log_lines" not in plan, plan
    tails = await store.db.read(
        lambda conn: read_tails(conn, ends=ends, limit=2, allowance=ROOMY, widest=16_385)
    )
    assert tails[big[0].id].text == "line 19999\nline 20000"
    assert tails[small[-1].id].text == "line 4\nline 5"
