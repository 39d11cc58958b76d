"""Log lines: one row each, read from the end through the (job_id, seq) primary key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache

from sqlalchemy import Connection, String, bindparam, func, insert, literal, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import aggregate_order_by

from engine.sql import Query, fast_paths, raw_executemany, raw_rows
from storage.coltypes import UTCDateTime, sqlite_text, utcnow
from storage.database import Database
from storage.records import LogLineRecord
from storage.tables import LINE_COLUMNS, jobs, log_lines

_TAIL_MESSAGES = Query(
    select(log_lines.c.message)
    .where(log_lines.c.job_id == bindparam("job_id"))
    .order_by(log_lines.c.seq.desc())
    .limit(bindparam("limit"))
)


def tail_messages(conn: Connection, *, job_id: str, limit: int) -> list[str]:
    """The last ``limit`` messages, oldest first: an index range scan from the end, O(limit)."""
    if limit <= 0:
        return []
    messages = [row[0] for row in _TAIL_MESSAGES.rows(conn, {"job_id": job_id, "limit": limit})]
    messages.reverse()
    return messages


def tail_texts(conn: Connection, *, job_ids: Sequence[str], limit: int) -> dict[str, str]:
    """The last ``limit`` messages of each job, oldest first, joined with newlines (what
    ``logTail`` shows), in one statement; "" for a job without lines.

    Either way the statement looks each job up by primary key, reads one (job_id, seq) index
    range of at most ``limit`` entries from the end, and joins it in the database: one row per
    job instead of one per line (building the lines' Python objects costs more than the read).
    Cost grows with the page, never with the log. PostgreSQL: ``string_agg(... ORDER BY seq)``
    over ``ORDER BY seq DESC LIMIT n``. SQLite (3.40 has no ORDER BY inside an aggregate):
    ``group_concat`` over a subquery ordered by seq, whose order SQLite keeps for an aggregate
    (it never flattens an ordered subquery into one: rule 16 of its query flattener); seqs are
    dense (1..last_seq), so the tail is exactly ``seq > last_seq - limit``.
    """
    texts: dict[str, str] = dict.fromkeys(job_ids, "")
    if limit <= 0 or not texts:
        return texts
    query = _TAIL_TEXTS_PG if conn.dialect.name == "postgresql" else _TAIL_TEXTS_SQLITE
    for job_id, text in query.rows(conn, {"job_ids": list(texts), "limit": limit}):
        texts[job_id] = text or ""
    return texts


def tail_texts_ending(
    conn: Connection, *, last_seqs: Mapping[str, int], limit: int
) -> dict[str, str]:
    """``tail_texts`` for jobs whose last seq was read in this same snapshot (a page of jobs):
    a job without lines is not looked at, and on SQLite the statement takes each job's seq
    range as given instead of looking the job up again."""
    texts: dict[str, str] = dict.fromkeys(last_seqs, "")
    if limit <= 0:
        return texts
    ends = {job_id: last for job_id, last in last_seqs.items() if last > 0}
    if not ends:
        return texts
    if not fast_paths(conn):
        texts.update(tail_texts(conn, job_ids=list(ends), limit=limit))
        return texts
    values: list[object] = []
    for job_id, last in ends.items():
        values += (job_id, last - limit)
    for job_id, text in raw_rows(conn, _tail_ranges_sql(len(ends)), values):
        texts[job_id] = text or ""
    return texts


@cache
def _tail_ranges_sql(count: int) -> str:
    # The same shape as _TAIL_TEXTS_SQLITE, over (job, seq before the tail) pairs; seqs are
    # dense, so a job's tail is exactly seq > last_seq - limit.
    lines, job_id, seq, message = (
        log_lines.name,
        log_lines.c.job_id.name,
        log_lines.c.seq.name,
        log_lines.c.message.name,
    )
    pairs = ", ".join(["(?, ?)"] * count)
    return (
        f"WITH ranges(job_id, after) AS (VALUES {pairs}) "
        f"SELECT ranges.job_id, (SELECT group_concat(tail.{message}, char(10)) FROM "
        f"(SELECT {message} FROM {lines} WHERE {lines}.{job_id} = ranges.job_id "
        f"AND {lines}.{seq} > ranges.after ORDER BY {lines}.{seq}) AS tail) FROM ranges"
    )


_NEWLINE = literal("\n", String)
_PG_TAIL = (
    select(log_lines.c.seq, log_lines.c.message)
    .where(log_lines.c.job_id == jobs.c.id)
    .order_by(log_lines.c.seq.desc())
    .limit(bindparam("limit"))
    .correlate(jobs)
    .subquery("tail")
)
_TAIL_TEXTS_PG = Query(
    select(
        jobs.c.id,
        select(func.string_agg(_PG_TAIL.c.message, aggregate_order_by(_NEWLINE, _PG_TAIL.c.seq)))
        .scalar_subquery()
        .correlate(jobs),
    ).where(jobs.c.id.in_(bindparam("job_ids", expanding=True)))
)
_SQLITE_TAIL = (
    select(log_lines.c.message)
    .where(
        log_lines.c.job_id == jobs.c.id,
        log_lines.c.seq > jobs.c.last_seq - bindparam("limit"),
    )
    .order_by(log_lines.c.seq)
    .correlate(jobs)
    .subquery("tail")
)
_TAIL_TEXTS_SQLITE = Query(
    select(
        jobs.c.id,
        select(func.group_concat(_SQLITE_TAIL.c.message, _NEWLINE))
        .scalar_subquery()
        .correlate(jobs),
    ).where(jobs.c.id.in_(bindparam("job_ids", expanding=True)))
)


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

    async def tail_messages(self, *, job_id: str, limit: int) -> list[str]:
        return await self._db.read(lambda conn: tail_messages(conn, job_id=job_id, limit=limit))

    async def tail_texts(self, *, job_ids: Sequence[str], limit: int) -> dict[str, str]:
        return await self._db.read(lambda conn: tail_texts(conn, job_ids=job_ids, limit=limit))

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
