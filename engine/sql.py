"""Hot statements: Core statements built once, and on SQLite compiled once and run raw.

Building a ``select(...)`` and executing it through SQLAlchemy costs more CPU than the indexed
read it runs (coercions, the cache key, the execution context, result processing), and a
``job(id, tail)`` request runs several. So the statements a request runs every time are built
once from the SQLModel tables (``Query``), and:

- with the fast paths on, on SQLite, compiled once to SQL text (``construct_expanded_state``
  for each combination of ``expanding`` lengths) and executed on the DBAPI connection under
  the Connection — same connection, same transaction. The rows are the driver's raw values, so
  record builders convert stored text themselves (``storage.coltypes``);
- otherwise (PostgreSQL, or the fast paths off), executed through SQLAlchemy as usual; on
  PostgreSQL the round trip dominates and asyncpg needs SQLAlchemy's adaptation anyway.

Whether a connection takes the fast path is an execution option its engine carries
(``FAST_PATHS_OPTION``, set by ``storage.database``).

>>> from sqlalchemy import bindparam, select
>>> from sqlalchemy.sql import column, table
>>> jobs = table("jobs", column("id"), column("status"))
>>> query = Query(select(jobs.c.status).where(jobs.c.id == bindparam("job_id")))
>>> query.sqlite_statement({"job_id": "j1"})
('SELECT jobs.status \\nFROM jobs \\nWHERE jobs.id = ?', ['j1'])
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.sql import Select
from sqlalchemy.sql.compiler import SQLCompiler

FAST_PATHS_OPTION = "jobgraph_fast_paths"
T = TypeVar("T")
# Called before each statement run on the driver directly, with its text: a context manager to
# run the statement in (a tracing span, set by the composition root when tracing is on), or
# None when this statement is not observed (a trace the sampler dropped), which then costs
# one call. SQLAlchemy's own events see the other statements.
observe: Callable[[str], AbstractContextManager[Any] | None] | None = None

# For each positional parameter of a compiled text: the parameter it takes its value from,
# the index within an expanding one (None for a plain one), and its bind processor.
_Recipe = tuple[tuple[str, int | None, Callable[[Any], Any] | None], ...]


def fast_paths(conn: Connection) -> bool:
    """Whether this connection runs statements raw on SQLite (the engine's fast path)."""
    return conn.dialect.name == "sqlite" and bool(
        conn.get_execution_options().get(FAST_PATHS_OPTION, False)
    )


def fast_postgresql(conn: Connection) -> bool:
    """Whether this connection is PostgreSQL's with the fast paths on (statements whose
    PostgreSQL form is faster, e.g. a batch insert over arrays, may be used)."""
    return conn.dialect.name == "postgresql" and bool(
        conn.get_execution_options().get(FAST_PATHS_OPTION, False)
    )


class Query:
    """A prebuilt Core SELECT whose bind parameters are named with ``bindparam``.

    Parameters take the values the statement's types expect (datetimes, not their stored
    text): on the raw path the types' bind processors run here, as SQLAlchemy would run them.
    An ``expanding`` parameter (``column.in_(bindparam("ids", expanding=True))``) takes a
    sequence; the SQL for each combination of lengths is made once.
    """

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: SQLCompiler | None = None
        self._expanding: tuple[str, ...] = ()
        self._texts: dict[tuple[int, ...], tuple[str, _Recipe, dict[str, Any]]] = {}
        self._pg_compiled: SQLCompiler | None = None
        self._pg_expanding: tuple[str, ...] = ()
        self._pg_texts: dict[tuple[int, ...], tuple[str, _Recipe, dict[str, Any]]] = {}

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        if fast_paths(conn):
            sql, values = self.sqlite_statement(params)
            return raw_rows(conn, sql, values)
        return conn.execute(self.statement, dict(params)).all()

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Sequence[Any] | None:
        if fast_paths(conn):
            sql, values = self.sqlite_statement(params)
            return raw_first_row(conn, sql, values)
        return conn.execute(self.statement, dict(params)).first()

    def sqlite_statement(self, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQLite text and positional values for ``params``."""
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = self.statement.compile(dialect=sqlite.dialect())
            self._expanding = tuple(name for name, bind in compiled.binds.items() if bind.expanding)
        lengths = tuple(len(params[name]) for name in self._expanding)
        made = self._texts.get(lengths)
        if made is None:
            made = self._texts[lengths] = _expand(
                compiled, dict(zip(self._expanding, lengths, strict=True))
            )
        return _fill(made, params)

    def pg_statement(self, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The PostgreSQL text (asyncpg's ``$n`` placeholders) and positional values for
        ``params``: what ``engine.pg.PgReads`` runs."""
        compiled = self._pg_compiled
        if compiled is None:
            dialect = pg_asyncpg.dialect()  # type: ignore[no-untyped-call]
            compiled = self._pg_compiled = self.statement.compile(dialect=dialect)
            self._pg_expanding = tuple(
                name for name, bind in compiled.binds.items() if bind.expanding
            )
        lengths = tuple(len(params[name]) for name in self._pg_expanding)
        made = self._pg_texts.get(lengths)
        if made is None:
            made = self._pg_texts[lengths] = _expand(
                compiled, dict(zip(self._pg_expanding, lengths, strict=True))
            )
        return _fill(made, params)


def _fill(
    made: tuple[str, _Recipe, dict[str, Any]], params: Mapping[str, Any]
) -> tuple[str, list[Any]]:
    sql, recipe, fixed = made
    values: list[Any] = []
    for name, index, process in recipe:
        if name in params:
            value = params[name] if index is None else params[name][index]
        else:
            value = fixed[name]
        values.append(process(value) if process is not None else value)
    return sql, values


def _expand(
    compiled: SQLCompiler, lengths: Mapping[str, int]
) -> tuple[str, _Recipe, dict[str, Any]]:
    """The SQL text for these lengths of the expanding parameters, and how to fill it."""
    placeholders: dict[str, Any] = {name: None for name in compiled.binds}
    placeholders.update({name: [None] * length for name, length in lengths.items()})
    state = compiled.construct_expanded_state(placeholders)
    # Values SQLAlchemy bound itself (e.g. the OFFSET 0 SQLite adds to a bound LIMIT).
    fixed = {k: v for k, v in compiled.params.items() if v is not None}
    dialect = compiled.dialect
    recipe = []
    for expanded in state.positiontup or ():
        name, index = expanded, None
        if expanded not in compiled.binds:
            # An expanding parameter's element: "<name>_<1-based position>".
            base, _, position = expanded.rpartition("_")
            name, index = base, int(position) - 1
        bind = compiled.binds[name]
        recipe.append((name, index, bind.type.bind_processor(dialect)))
    return state.statement, tuple(recipe), fixed


def raw_rows(conn: Connection, sql: str, values: Sequence[Any]) -> Sequence[Sequence[Any]]:
    """Runs SQL text with positional parameters on the Connection's sqlite3 connection."""
    driver = conn.connection.driver_connection
    assert driver is not None
    span = observe(sql) if observe is not None else None
    if span is not None:
        with span:
            return driver.execute(sql, values).fetchall()  # type: ignore[no-any-return]
    rows: Sequence[Sequence[Any]] = driver.execute(sql, values).fetchall()
    return rows


def raw_first_row(conn: Connection, sql: str, values: Sequence[Any]) -> Sequence[Any] | None:
    """``raw_rows`` for a statement read for its first row only: no second step to learn that
    there is no other row (each step releases the GIL and takes it back)."""
    driver = conn.connection.driver_connection
    assert driver is not None
    span = observe(sql) if observe is not None else None
    if span is not None:
        with span:
            return _first_row(driver, sql, values)
    return _first_row(driver, sql, values)


def _first_row(driver: Any, sql: str, values: Sequence[Any]) -> Sequence[Any] | None:
    cursor = driver.execute(sql, values)
    try:
        row: Sequence[Any] | None = cursor.fetchone()
    finally:
        cursor.close()  # resets the statement: its snapshot ends here
    return row


def raw_executemany(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """The sqlite3 cursor's ``executemany`` with tuples, on the Connection's connection:
    SQLAlchemy's executemany builds a parameter dict per row."""
    driver = conn.connection.driver_connection
    assert driver is not None
    span = observe(sql) if observe is not None else None
    if span is not None:
        with span:
            driver.executemany(sql, rows)
        return
    driver.executemany(sql, rows)


class SqliteReads:
    """Reads on SQLite without a pool checkout, SQLAlchemy's begin event and the reset on
    return for each one (together more CPU than the indexed reads themselves): one connection
    per thread (the event loop's, and each reader thread's), reused, its snapshot opened with
    a bare ``BEGIN`` on the driver. A statement run through SQLAlchemy on it joins that
    transaction (``storage.database``'s begin listener sees the driver already in one).

    ``errors``: what marks a connection as broken; it is then dropped and reopened next time.
    """

    def __init__(self, engine: Engine, *, threads: int, errors: tuple[type[BaseException], ...]):
        self._engine = engine
        self._threads = threads
        self._errors = errors
        self._local = threading.local()
        self._all: list[Connection] = []
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def read(self, work: Callable[[Connection], T]) -> T:
        """``work`` in one snapshot, on the calling thread."""
        conn = self._connection()
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            driver.execute("BEGIN")
            try:
                return work(conn)
            finally:
                if conn.in_transaction():
                    conn.rollback()  # SQLAlchemy joined our BEGIN; end it
                elif driver.in_transaction:
                    driver.execute("ROLLBACK")
        except self._errors:
            self._drop(conn)
            raise

    def statement(self, work: Callable[[Connection], T]) -> T:
        """``work`` that runs exactly one statement, which is its own snapshot: no ``BEGIN``/
        ``ROLLBACK`` around it (two statements, each of which hands the GIL back and forth)."""
        conn = self._connection()
        try:
            try:
                return work(conn)
            finally:
                if conn.in_transaction():
                    conn.rollback()
        except self._errors:
            self._drop(conn)
            raise

    async def statement_off_loop(self, work: Callable[[Connection], T]) -> T:
        """``statement`` on a reader thread: SQLite works with the GIL released while the loop
        serves other requests. Only for a single big statement: a thread that wants the GIL
        back while the loop is busy waits up to the switch interval at every step."""
        return await asyncio.get_running_loop().run_in_executor(
            self._readers(), self.statement, work
        )

    async def read_off_loop(self, work: Callable[[Connection], T]) -> T:
        """``read`` on a reader thread: for a few statements of which one may be big (a page
        of jobs with long tails); each statement pays the GIL's hand-over, as above."""
        return await asyncio.get_running_loop().run_in_executor(self._readers(), self.read, work)

    def _readers(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._threads, thread_name_prefix="jobgraph-sqlite-read"
            )
        return self._pool

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.invalidated or conn.closed:
            conn = self._engine.connect()
            self._local.conn = conn
            self._all.append(conn)
        return conn

    def _drop(self, conn: Connection) -> None:
        self._local.conn = None
        if conn in self._all:
            self._all.remove(conn)
        conn.invalidate()
        conn.close()

    async def close(self) -> None:
        if self._pool is not None:
            # Lets a read in progress finish before its connection closes.
            await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
            self._pool = None
        for conn in self._all:
            conn.close()
        self._all.clear()
        self._local = threading.local()
