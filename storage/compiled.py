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

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql import Select

from storage.coltypes import utc_from_stored


class Query:
    """A prebuilt Core SELECT whose bind parameters are named with ``bindparam``.

    Parameters take the values the statement's types expect (datetimes, not their stored
    text): on SQLite the types' bind processors run here, as SQLAlchemy would run them. An
    ``expanding`` parameter (``column.in_(bindparam("ids", expanding=True))``, IN only) takes
    a sequence; the SQL for each combination of lengths is made once.
    """

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._sqlite: tuple[str, tuple[str, ...]] | None = None
        self._fixed: dict[str, Any] = {}
        self._processors: dict[str, Callable[[Any], Any]] = {}
        self._expanding: tuple[str, ...] = ()
        self._expanded: dict[tuple[int, ...], str] = {}

    def sqlite_sql(self) -> tuple[str, tuple[str, ...]]:
        if self._sqlite is None:
            compiled = self.statement.compile(dialect=sqlite.dialect())
            # Values SQLAlchemy bound itself (e.g. the OFFSET 0 SQLite adds to a bound LIMIT).
            self._fixed = {k: v for k, v in compiled.params.items() if v is not None}
            names = tuple(compiled.positiontup or ())
            dialect = compiled.dialect
            for name in names:
                process = compiled.binds[name].type.bind_processor(dialect)
                if process is not None:
                    self._processors[name] = process
            self._expanding = tuple(
                dict.fromkeys(name for name in names if compiled.binds[name].expanding)
            )
            self._sqlite = (str(compiled), names)
        return self._sqlite

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        if conn.dialect.name == "sqlite":
            sql, values = self.sqlite_statement(params)
            return sqlite_rows(conn, sql, values)
        return conn.execute(self.statement, dict(params)).all()

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Sequence[Any] | None:
        if conn.dialect.name == "sqlite":
            sql, values = self.sqlite_statement(params)
            return sqlite_first_row(conn, sql, values)
        return conn.execute(self.statement, dict(params)).first()

    def sqlite_statement(self, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQLite text and positional values for ``params``."""
        sql, names = self.sqlite_sql()
        fixed, processors = self._fixed, self._processors
        values: list[Any] = []
        for name in names:
            value = params[name] if name in params else fixed[name]
            process = processors.get(name)
            if name in self._expanding:
                values.extend(map(process, value) if process else value)
            else:
                values.append(process(value) if process else value)
        if self._expanding:
            sql = self._expand(sql, tuple(len(params[name]) for name in self._expanding))
        return sql, values

    def _expand(self, sql: str, lengths: tuple[int, ...]) -> str:
        text = self._expanded.get(lengths)
        if text is None:
            text = sql
            for name, length in zip(self._expanding, lengths, strict=True):
                # IN (NULL) matches nothing, as SQLAlchemy's own rendering of an empty IN.
                placeholders = ", ".join("?" * length) or "NULL"
                text = text.replace(f"__[POSTCOMPILE_{name}]", placeholders)
            self._expanded[lengths] = text
        return text


def sqlite_rows(conn: Connection, sql: str, values: Sequence[Any]) -> Sequence[Sequence[Any]]:
    """Runs SQL text with positional parameters on the Connection's sqlite3 connection."""
    dispatch = conn.dispatch
    if dispatch.before_cursor_execute or dispatch.after_cursor_execute:
        # Someone listens to SQLAlchemy's statement events (tracing, tests counting
        # statements): run it where they can see it, at SQLAlchemy's usual cost.
        return conn.exec_driver_sql(sql, tuple(values)).all()
    driver = conn.connection.driver_connection
    assert driver is not None
    rows: Sequence[Sequence[Any]] = driver.execute(sql, values).fetchall()
    return rows


def sqlite_first_row(conn: Connection, sql: str, values: Sequence[Any]) -> Sequence[Any] | None:
    """``sqlite_rows`` for a statement read for its first row only: no second step to learn
    that there is no other row (each step releases the GIL and takes it back)."""
    dispatch = conn.dispatch
    if dispatch.before_cursor_execute or dispatch.after_cursor_execute:
        return conn.exec_driver_sql(sql, tuple(values)).first()
    driver = conn.connection.driver_connection
    assert driver is not None
    cursor = driver.execute(sql, values)
    try:
        row: Sequence[Any] | None = cursor.fetchone()
    finally:
        cursor.close()  # resets the statement: its snapshot ends here
    return row


# Raw rows from the hot statements carry the stored form; records get aware UTC datetimes.
utc = utc_from_stored
