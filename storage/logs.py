"""Log lines: one row each, appended in batches under the job row's lock, read from the end
through the (job_id, seq) primary key (tails: ``storage.tails``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import sqlite

from engine.sql import fast_paths, fast_postgresql, raw_executemany
from storage.coltypes import UTCDateTime, sqlite_text, utcnow
from storage.database import Database
from storage.records import Allowance, LogLineRecord, TailText
from storage.tables import LINE_COLUMNS, jobs, log_lines
from storage.tails import is_big, read_tails


def tail_lines(conn: Connection, *, job_id: str, limit: int) -> list[LogLineRecord]:
    if limit <= 0:
        return []
    query = (
        select(*LINE_COLUMNS)
        .where(log_lines.c.job_id == job_id)
        .order_by(log_lines.c.seq.desc())
        .limit(limit)
    )
    lines = [LogLineRecord(*row) for row in conn.execute(query)]
    lines.reverse()
    return lines


class LogStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def tails(
        self, *, ends: Mapping[str, int], limit: int, allowance: Allowance
    ) -> dict[str, TailText]:
        """``storage.tails.read_tails`` in one statement, on a thread when it may be big
        (SQLite)."""
        widest = self._db.settings.max_log_message_bytes + 1

        def work(conn: Connection) -> dict[str, TailText]:
            return read_tails(conn, ends=ends, limit=limit, allowance=allowance, widest=widest)

        if is_big(sum(min(limit, last) for last in ends.values())):
            return await self._db.read_statement_off_loop(work)
        return await self._db.read_statement(work)

    async def tail_lines(self, *, job_id: str, limit: int) -> list[LogLineRecord]:
        return await self._db.read(lambda conn: tail_lines(conn, job_id=job_id, limit=limit))


_INSERT_LINE_SQL = str(
    insert(log_lines)
    .values(
        job_id=bindparam("job_id"),
        seq=bindparam("seq"),
        timestamp=bindparam("timestamp"),
        level=bindparam("level"),
        message=bindparam("message"),
        attempt=bindparam("attempt"),
    )
    .compile(dialect=sqlite.dialect())
)


def _pg_insert_lines() -> str:
    """PostgreSQL: a batch as one INSERT over three arrays (timestamps, levels, messages), the
    seqs numbered from the first by ``WITH ORDINALITY``. One prepared statement whatever the
    batch's size, six parameters instead of six per line, and no per-line parameter dict; it
    runs through SQLAlchemy, so its errors are SQLAlchemy's as on every other path."""
    c = log_lines.c
    columns = (c.job_id, c.seq, c.timestamp, c.level, c.message, c.attempt)
    return (
        f"INSERT INTO {log_lines.name} ({', '.join(column.name for column in columns)}) "
        "SELECT $1, $2 + l.n - 1, l.ts, l.level, l.message, $3 "
        "FROM unnest($4::timestamptz[], $5::varchar[], $6::text[]) "
        "WITH ORDINALITY AS l(ts, level, message, n)"
    )


_PG_INSERT_LINES = _pg_insert_lines()


# Built once (building an UPDATE costs more than running it); bound per batch.
_RESERVE = (
    update(jobs)
    .where(jobs.c.id == bindparam("reserve_job_id"))
    .values(
        last_seq=jobs.c.last_seq + bindparam("reserve_count"),
        updated_at=bindparam("reserve_now", type_=UTCDateTime()),
    )
    .returning(jobs.c.last_seq, jobs.c.attempt)
)


def append_lines(
    conn: Connection, *, job_id: str, lines: Sequence[tuple[datetime, str, str]]
) -> int | None:
    """Append (timestamp, level, message) lines; returns the last seq, or None if no such job.

    The seq range is reserved by one UPDATE of the job row, which holds the row's write lock
    until commit: concurrent appenders, in any process, queue there and get disjoint ranges,
    and a batch that fails rolls back its reservation with it — no gap, no duplicate.
    """
    count = len(lines)
    params = {"reserve_job_id": job_id, "reserve_count": count, "reserve_now": utcnow()}
    reserved = conn.execute(_RESERVE, params).first()
    if reserved is None:
        return None
    last_seq, attempt = reserved
    first_seq = last_seq - count + 1
    if count and fast_paths(conn):
        # SQLAlchemy's executemany builds a parameter dict per row; the sqlite3 cursor takes
        # tuples (engine.sql).
        rows = []
        last_ts, text = None, ""
        for offset, (ts, level, message) in enumerate(lines):
            if ts is not last_ts:  # a batch stamped by the server shares one datetime
                last_ts, text = ts, sqlite_text(ts)
            rows.append((job_id, first_seq + offset, text, level, message, attempt))
        raw_executemany(conn, _INSERT_LINE_SQL, rows)
    elif count and fast_postgresql(conn):
        stamps, levels, messages = zip(*lines, strict=True)
        conn.exec_driver_sql(
            _PG_INSERT_LINES,
            (job_id, first_seq, attempt, list(stamps), list(levels), list(messages)),
        )
    elif count:
        conn.execute(
            insert(log_lines),
            [
                {
                    "job_id": job_id,
                    "seq": first_seq + offset,
                    "timestamp": ts,
                    "level": level,
                    "message": message,
                    "attempt": attempt,
                }
                for offset, (ts, level, message) in enumerate(lines)
            ],
        )
    return int(last_seq)
