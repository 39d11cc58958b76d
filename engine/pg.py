"""Hot reads on PostgreSQL straight on asyncpg: no SQLAlchemy pool checkout, pre-ping,
``BEGIN``/``ROLLBACK`` or execution context around a statement that is its own snapshot.

A request's hot statements (the key check, ``job(id)``'s one-statement snapshot) are each a
single ``SELECT``: PostgreSQL runs one in its own snapshot, so it needs no transaction, and
through SQLAlchemy it pays a pre-ping (a round trip), ``BEGIN`` and ``ROLLBACK`` (two more)
and the adaptation of asyncpg to a DBAPI cursor. ``PgReads`` keeps a small asyncpg pool of its
own beside SQLAlchemy's; the SQL it runs is text compiled once from Core statements
(``engine.sql.Query.pg_statement``) or built from the SQLModel tables' names, so the tables
stay the schema's one source of truth. asyncpg prepares each text once per connection and
keeps it (its statement cache), so a warm request sends one Bind/Execute per statement.

A statement that fails because its connection broke (the database restarted, a link dropped)
runs once more on a fresh connection: that is what the pre-ping bought the stock path. A
second failure is reported as ``ConnectionError`` (the caller's "unavailable").
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg

from engine import sql

# What says the connection (not the statement) is the problem.
_BROKEN: tuple[type[BaseException], ...] = (
    asyncpg.InterfaceError,  # ConnectionDoesNotExistError and "connection is closed"
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    # A backend that ends its session sends a FATAL error; when that arrives on an idle
    # connection before the socket closes, the protocol is left mid-error and the next
    # statement fails with "another operation is in progress" instead of a closed
    # connection: the same break, seen earlier.
    asyncpg.exceptions.InternalClientError,
    OSError,  # ConnectionError, TimeoutError (a connect or command timeout)
)


class PgReads:
    """Single-statement reads on an asyncpg pool of ``size`` connections, made on first use
    in the running event loop (and again if a later loop uses it: tests, the CLI)."""

    def __init__(
        self,
        dsn: str,
        *,
        size: int,
        connect_timeout: float,
        statement_timeout: float | None,
    ) -> None:
        self._dsn = dsn
        self._size = size
        self._connect_timeout = connect_timeout
        self._statement_timeout = statement_timeout
        self._pool: asyncpg.Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

    async def first(self, text: str, args: Sequence[Any]) -> asyncpg.Record | None:
        """The statement's first row (None when it has none)."""
        return await self._run(text, args, first=True)

    async def rows(self, text: str, args: Sequence[Any]) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._run(text, args, first=False)
        return rows

    async def _run(self, text: str, args: Sequence[Any], *, first: bool) -> Any:
        for attempt in (1, 2):
            pool = await self._ready()
            try:
                # Waiting for a free connection is bounded like SQLAlchemy's pool_timeout.
                conn = await pool.acquire(timeout=self._connect_timeout)
                try:
                    span = sql.observe(text) if sql.observe is not None else None
                    if span is not None:
                        with span:
                            return await _execute(conn, text, args, first)
                    return await _execute(conn, text, args, first)
                except _BROKEN:
                    # Its protocol state is not to be trusted again: it leaves the pool
                    # (release hands a terminated connection's slot back).
                    conn.terminate()
                    raise
                finally:
                    await pool.release(conn)
            except _BROKEN as error:
                if attempt == 2 or isinstance(error, TimeoutError):
                    raise ConnectionError(f"PostgreSQL read failed: {type(error).__name__}") from (
                        error
                    )
                # Connections that broke with this one (a database restart) are expired, so
                # the retry connects afresh.
                await pool.expire_connections()
        raise AssertionError("unreachable")

    async def _ready(self) -> asyncpg.Pool:
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._loop is loop:
            return self._pool
        if self._lock is None or self._loop is not loop:
            if self._pool is not None:
                self._pool.terminate()  # its connections belong to a loop no longer used
            self._lock = asyncio.Lock()
            self._loop = loop
            self._pool = None
        async with self._lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=0,
                    max_size=self._size,
                    timeout=self._connect_timeout,
                    command_timeout=self._statement_timeout,
                    # A pooled connection idle this long closes: a quiet process holds none.
                    max_inactive_connection_lifetime=60,
                    # Only single SELECTs run here: no session state to reset on release, so
                    # no RESET ALL / UNLISTEN round trip after every statement (the default).
                    reset=_keep_session,
                )
            return self._pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and self._loop is asyncio.get_running_loop():
            await pool.close()
        elif pool is not None:
            pool.terminate()


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing (``asyncpg`` still rolls back an open transaction,
    which these statements never leave)."""


async def _execute(conn: asyncpg.Connection, text: str, args: Sequence[Any], first: bool) -> Any:
    if first:
        return await conn.fetchrow(text, *args)
    return await conn.fetch(text, *args)
