"""Hot-path queries: Core statements built once, and on SQLite compiled once and run raw.

Building a ``select(...)`` and executing it through SQLAlchemy costs ~0.5 ms of CPU per
statement (coercions, the cache key, the execution context, result processing); the same query
on the sqlite3 cursor takes ~20 µs, and a ``job(id, tail)`` request runs four of them. So the
statements a request runs every time are built once here from the SQLModel tables, and:

- on SQLite, compiled once to SQL text and executed on the DBAPI connection under the
  Connection (same connection, same transaction) — the result rows are the driver's raw values,
  so parameters must be plain values and record builders convert with :func:`utc`;
- on PostgreSQL, executed through SQLAlchemy as usual (prebuilt, so only its cache lookup runs):
  network round trips dominate there, and asyncpg needs SQLAlchemy's adaptation anyway.

>>> from sqlalchemy import bindparam, select
>>> from storage.tables import jobs
>>> query = Query(select(jobs.c.status).where(jobs.c.id == bindparam("job_id")))
>>> query.sqlite_sql()[1]
('job_id',)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql import Select

from storage.coltypes import utc_from_stored


class Query:
    """A prebuilt Core SELECT whose bind parameters are named with ``bindparam``."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._sqlite: tuple[str, tuple[str, ...]] | None = None
        self._fixed: dict[str, Any] = {}

    def sqlite_sql(self) -> tuple[str, tuple[str, ...]]:
        if self._sqlite is None:
            compiled = self.statement.compile(dialect=sqlite.dialect())
            # Values SQLAlchemy bound itself (e.g. the OFFSET 0 SQLite adds to a bound LIMIT).
            self._fixed = {k: v for k, v in compiled.params.items() if v is not None}
            self._sqlite = (str(compiled), tuple(compiled.positiontup or ()))
        return self._sqlite

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        if conn.dialect.name == "sqlite":
            sql, names = self.sqlite_sql()
            driver = conn.connection.driver_connection
            assert driver is not None
            fixed = self._fixed
            values = [params[name] if name in params else fixed[name] for name in names]
            rows: Sequence[Sequence[Any]] = driver.execute(sql, values).fetchall()
            return rows
        return conn.execute(self.statement, dict(params)).all()

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Sequence[Any] | None:
        rows = self.rows(conn, params)
        return rows[0] if rows else None


# Raw rows from the hot statements carry the stored form; records get aware UTC datetimes.
utc = utc_from_stored
