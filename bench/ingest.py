"""appendLogs ingest: 500-line batches into SQLite, at the store and (when built) over GraphQL."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import datetime

import asyncpg
from sqlalchemy import Connection

from settings import Settings
from storage.coltypes import utcnow
from storage.database import Database
from storage.logs import append_lines


def _batch(start: int, size: int) -> list[tuple[datetime, str, str]]:
    now = utcnow()
    return [
        (now, "INFO", f"[extract] bench line {start + i}: segment downloaded") for i in range(size)
    ]


async def _store_level(database_url: str, job_id: str, batch: int, seconds: float) -> float:
    db = Database(Settings(database_url=database_url, env="development"))
    written = 0
    try:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            # A worker's batch: built from its input, then one write transaction, as the
            # mutation does after parsing (the GraphQL row below adds HTTP + GraphQL on top).
            lines = _batch(written, batch)

            def work(conn: Connection, lines: list[tuple[datetime, str, str]] = lines) -> None:
                append_lines(conn, job_id=job_id, lines=lines)

            await db.write(work)
            written += batch
        took = time.perf_counter() - started
    finally:
        await db.dispose()
    return written / took


def store_level_lines_per_second(
    database_url: str, job_id: str, *, batch: int = 500, seconds: float = 5
) -> float:
    return asyncio.run(_store_level(database_url, job_id, batch, seconds))


def raw_sqlite_lines_per_second(
    db_path: str, job_id: str, *, batch: int = 500, seconds: float = 5
) -> float:
    """The ingest floor: the same reservation + insert on bare sqlite3, no jobgraph code."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    written = 0
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < seconds:
            now = utcnow().isoformat(timespec="microseconds")
            conn.execute("BEGIN IMMEDIATE")
            (last,) = conn.execute(
                "UPDATE jobs SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq",
                (batch, job_id),
            ).fetchone()
            conn.executemany(
                "INSERT INTO log_lines (job_id, seq, timestamp, level, message) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (job_id, last - batch + 1 + i, now, "INFO", f"[extract] bench line {i}")
                    for i in range(batch)
                ],
            )
            conn.execute("COMMIT")
            written += batch
        return written / (time.perf_counter() - started)
    finally:
        conn.close()


def raw_asyncpg_lines_per_second(
    dsn: str, job_id: str, *, batch: int = 500, seconds: float = 5, workers: int = 4
) -> float:
    """The PostgreSQL ingest floor: ``workers`` appenders on bare asyncpg doing what a batch
    must (lock the job row, reserve the seq range, COPY the lines, commit), no jobgraph code."""

    async def run() -> float:
        pool = await asyncpg.create_pool(dsn, min_size=workers, max_size=workers)
        written = 0
        columns = ("job_id", "seq", "timestamp", "level", "message", "attempt")
        # The messages bench.queries.append_logs_body sends.
        messages = [f"[extract] bench line {i}: segment downloaded" for i in range(batch)]

        async def appender(until: float) -> None:
            nonlocal written
            while time.perf_counter() < until:
                now = utcnow()
                async with pool.acquire() as conn, conn.transaction():
                    await conn.fetchrow("SELECT id FROM jobs WHERE id = $1 FOR UPDATE", job_id)
                    last, attempt = await conn.fetchrow(
                        "UPDATE jobs SET last_seq = last_seq + $2, updated_at = $3 "
                        "WHERE id = $1 RETURNING last_seq, attempt",
                        job_id,
                        batch,
                        now,
                    )
                    first = last - batch + 1
                    await conn.copy_records_to_table(
                        "log_lines",
                        records=[
                            (job_id, first + i, now, "INFO", message, attempt)
                            for i, message in enumerate(messages)
                        ],
                        columns=columns,
                    )
                written += batch

        try:
            started = time.perf_counter()
            await asyncio.gather(*(appender(started + seconds) for _ in range(workers)))
            return written / (time.perf_counter() - started)
        finally:
            await pool.close()

    return asyncio.run(run())
