"""The database runner: one way to run a unit of work on SQLite and on PostgreSQL.

Store code is written once, as synchronous functions over a SQLAlchemy Core ``Connection``.
On PostgreSQL they run through the asyncpg engine with ``AsyncConnection.run_sync`` (greenlet
bridged, no thread). On SQLite they run on the stdlib driver: reads synchronously on the event
loop (a WAL snapshot read of a few indexed rows takes microseconds, less than a thread hop),
except big ones (``read_off_loop``: long log tails and pages) on a thread; writes in one worker
thread per unit of work, behind a per-process lock and ``BEGIN IMMEDIATE`` so that concurrent
writers queue instead of failing on lock upgrades.

With the fast paths on, SQLite reads go through ``engine.sql.SqliteReads`` (a reused
connection per thread, a bare ``BEGIN`` on the driver) and big reads (a page of jobs:
``storage.page_document``; long tails: ``storage.tails``) run on a reader thread; the engine
carries the ``engine.sql.FAST_PATHS_OPTION`` execution option, so hot statements run raw on
the driver. Off, every read checks a connection out of the pool and begins through SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from domain.errors import Unavailable
from engine.pg import PgReads
from engine.sql import FAST_PATHS_OPTION, Query, SqliteReads
from settings import Settings

T = TypeVar("T")
Work = Callable[[Connection], T]
log = logging.getLogger("jobgraph.db")

_UNREACHABLE: tuple[type[BaseException], ...] = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.TimeoutError,
    ConnectionError,
    OSError,
    # Hot reads run on the sqlite3 cursor directly (engine.sql), unwrapped by SQLAlchemy.
    sqlite3.OperationalError,
)
# A connection that dies in the middle of a statement surfaces as the driver's generic error
# (asyncpg: "connection was closed in the middle of operation"); SQLAlchemy marks it
# connection_invalidated, and _unavailable tells it from a real error.
_MAYBE_UNREACHABLE: tuple[type[BaseException], ...] = (*_UNREACHABLE, exc.DBAPIError)


class Database:
    """Owns the engine; ``read``/``write`` run a function in a transaction, returning its value.

    On PostgreSQL a database that stops answering (a link that drops packets says nothing) is
    found out by timeouts: opening a connection (``JOBGRAPH_DB_CONNECT_TIMEOUT_SECONDS``, also
    the wait for a pooled one) and each statement (``JOBGRAPH_DB_STATEMENT_TIMEOUT_SECONDS``;
    ``patient=True`` leaves statements unbounded, for work that may take long: migrations).
    Either way the request is UNAVAILABLE, and the pool replaces the connection once the
    database answers again.
    """

    def __init__(self, settings: Settings, *, patient: bool = False) -> None:
        self.settings = settings
        self.dialect = "sqlite" if settings.is_sqlite else "postgresql"
        self._write_lock = asyncio.Lock()
        self._sync_engine: Engine | None = None
        self._async_engine: AsyncEngine | None = None
        self._fast: SqliteReads | None = None
        self._pg: PgReads | None = None
        if settings.is_sqlite:
            self._sync_engine = _sqlite_engine(settings)
            if settings.fast_paths:
                self._fast = SqliteReads(
                    self._sync_engine,
                    threads=settings.sqlite_reader_threads,
                    errors=_UNREACHABLE,
                )
        else:
            statement_timeout = None if patient else settings.db_statement_timeout_seconds
            self._async_engine = create_async_engine(
                settings.database_url,
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_pool_size,
                pool_pre_ping=True,
                pool_timeout=settings.db_connect_timeout_seconds,
                # asyncpg's own: the connect timeout covers the handshake and authentication,
                # the command timeout every statement (the pre-ping's included).
                connect_args={
                    "timeout": settings.db_connect_timeout_seconds,
                    "command_timeout": statement_timeout,
                },
                execution_options={FAST_PATHS_OPTION: settings.fast_paths},
            )
            if settings.fast_paths:
                self._pg = PgReads(
                    make_url(settings.database_url)
                    .set(drivername="postgresql")
                    .render_as_string(hide_password=False),
                    size=settings.db_pool_size,
                    connect_timeout=settings.db_connect_timeout_seconds,
                    statement_timeout=statement_timeout,
                )

    @property
    def is_sqlite(self) -> bool:
        return self._sync_engine is not None

    @property
    def fast_sqlite(self) -> bool:
        """SQLite with the fast paths on: statements may run raw on the driver."""
        return self._fast is not None

    @property
    def fast_pg(self) -> bool:
        """PostgreSQL with the fast paths on: single-statement reads may run on asyncpg
        directly (``first``, ``pg_first``)."""
        return self._pg is not None

    @property
    def engine(self) -> Engine:
        """The synchronous engine every statement passes through, for event listeners
        (on PostgreSQL, the async engine's ``sync_engine``)."""
        if self._sync_engine is not None:
            return self._sync_engine
        assert self._async_engine is not None
        return self._async_engine.sync_engine

    @property
    def sync_url(self) -> str:
        """The URL for synchronous tools (Alembic) on the same database."""
        url = make_url(self.settings.database_url)
        driver = "sqlite" if self.is_sqlite else "postgresql+asyncpg"
        return url.set(drivername=driver).render_as_string(hide_password=False)

    async def read(self, work: Work[T]) -> T:
        try:
            if self._fast is not None:
                return self._fast.read(work)
            if self._sync_engine is not None:
                with self._sync_engine.connect() as conn, conn.begin():
                    return work(conn)
            assert self._async_engine is not None
            async with self._async_engine.connect() as aconn:
                return await aconn.run_sync(work)
        except _MAYBE_UNREACHABLE as error:
            raise _unavailable(error) from error

    async def read_statement(self, work: Work[T]) -> T:
        """``read`` for work that runs exactly one statement, which is its own snapshot (with
        the fast paths on SQLite: no ``BEGIN``/``ROLLBACK`` around it)."""
        if self._fast is None:
            return await self.read(work)
        try:
            return self._fast.statement(work)
        except _MAYBE_UNREACHABLE as error:
            raise _unavailable(error) from error

    async def first(self, query: Query, params: dict[str, Any]) -> Any:
        """The first row of a one-statement read, on whichever path is fastest here: asyncpg
        directly on PostgreSQL with the fast paths on, else ``read_statement``."""
        if self._pg is None:
            return await self.read_statement(lambda conn: query.first(conn, params))
        sql, values = query.pg_statement(params)
        try:
            return await self._pg.first(sql, values)
        except _MAYBE_UNREACHABLE as error:
            raise _unavailable(error) from error

    async def pg_first(self, sql: str, values: list[Any]) -> Any:
        """The first row of one PostgreSQL statement (``$n`` placeholders) run on asyncpg
        directly; only when ``fast_pg``."""
        assert self._pg is not None
        try:
            return await self._pg.first(sql, values)
        except _MAYBE_UNREACHABLE as error:
            raise _unavailable(error) from error

    async def pg_rows(self, sql: str, values: list[Any]) -> list[Any]:
        """The rows of one PostgreSQL statement run on asyncpg directly; only when
        ``fast_pg``."""
        assert self._pg is not None
        try:
            return await self._pg.rows(sql, values)
        except _MAYBE_UNREACHABLE as error:
            raise _unavailable(error) from error

    async def read_statement_off_loop(self, work: Work[T]) -> T:
        """``read_statement`` for a big statement: on SQLite it runs on a thread (with the fast
        paths on, a reader thread), and SQLite works with the GIL released while the loop
        serves."""
        if self._fast is None:
            return await self.read_off_loop(work)
        try:
            return await self._fast.statement_off_loop(work)
        except _MAYBE_UNREACHABLE as error:
            raise _unavailable(error) from error

    async def read_off_loop(self, work: Work[T]) -> T:
        """``read`` for work that may read a lot (long log tails): on SQLite it runs on a
        thread, so that the loop serves meanwhile; on PostgreSQL it is ``read``."""
        if self._sync_engine is None:
            return await self.read(work)
        try:
            if self._fast is not None:
                return await self._fast.read_off_loop(work)
            return await anyio.to_thread.run_sync(_run_read, self._sync_engine, work)
        except _MAYBE_UNREACHABLE as error:
            raise _unavailable(error) from error

    async def write(self, work: Work[T]) -> T:
        try:
            if self._sync_engine is not None:
                return await self._sqlite_write(self._sync_engine, work)
            assert self._async_engine is not None
            async with self._async_engine.begin() as aconn:
                return await aconn.run_sync(work)
        except _MAYBE_UNREACHABLE as error:
            raise _unavailable(error) from error

    async def _sqlite_write(self, engine: Engine, work: Work[T]) -> T:
        """One write at a time per process, and each within the busy timeout from when it was
        asked for: while another process holds the database's write lock, writes queued here
        must not wait a busy timeout each, one after the other."""
        loop = asyncio.get_running_loop()
        patience = self.settings.sqlite_busy_timeout_ms / 1000
        deadline = loop.time() + patience
        try:
            async with asyncio.timeout(patience):
                await self._write_lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        try:
            left_ms = max(0, int((deadline - loop.time()) * 1000))
            full_ms = self.settings.sqlite_busy_timeout_ms
            return await anyio.to_thread.run_sync(_run_immediate, engine, work, left_ms, full_ms)
        finally:
            self._write_lock.release()

    async def ping(self) -> None:
        await self.read(lambda conn: conn.execute(text("SELECT 1")).scalar_one())

    def pool_status(self) -> dict[str, int]:
        pool: Any = (self._sync_engine or self._async_engine.sync_engine).pool  # type: ignore[union-attr]
        stats = {"size": 0, "checked_out": 0}
        if hasattr(pool, "size"):
            stats["size"] = int(pool.size())
            stats["checked_out"] = int(pool.checkedout())
        return stats

    async def dispose(self) -> None:
        if self._fast is not None:
            await self._fast.close()
        if self._pg is not None:
            await self._pg.close()
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        if self._async_engine is not None:
            await self._async_engine.dispose()


def _run_read(engine: Engine, work: Work[T]) -> T:
    with engine.connect() as conn, conn.begin():
        return work(conn)


def _run_immediate(engine: Engine, work: Work[T], busy_ms: int, full_ms: int) -> T:
    with engine.connect().execution_options(sqlite_immediate=True) as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute(f"PRAGMA busy_timeout={busy_ms}")  # what is left of this write's wait
        try:
            with conn.begin():
                return work(conn)
        finally:
            driver.execute(f"PRAGMA busy_timeout={full_ms}")  # pooled: reads use it too


def _unavailable(error: BaseException) -> Unavailable:
    if (
        isinstance(error, exc.DBAPIError)
        and not isinstance(error, _UNREACHABLE)
        and not error.connection_invalidated
    ):
        raise error  # a constraint, a bad statement: not the database going away
    # The driver's message can carry SQL and parameters: log it, tell the caller only the kind.
    log.warning("database unavailable: %s", type(error).__name__, exc_info=error)
    return Unavailable("the database is unavailable; try again shortly")


def _sqlite_engine(settings: Settings) -> Engine:
    url = make_url(settings.database_url).set(drivername="sqlite")
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={
            "check_same_thread": False,
            "timeout": settings.sqlite_busy_timeout_ms / 1000,
        },
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        execution_options={FAST_PATHS_OPTION: settings.fast_paths},
    )
    busy_timeout = settings.sqlite_busy_timeout_ms

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that we decide between BEGIN and
        # BEGIN IMMEDIATE (SQLAlchemy's documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        driver = conn.connection.driver_connection
        if driver is not None and driver.in_transaction:
            return  # engine.sql.SqliteReads already opened this read's snapshot
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
