"""On SQLite, a page of jobs as one statement that answers one JSON document.

The three statements of a page (``storage.listing.select_job_page``) run on the event loop,
and much of their cost is the sqlite3 module turning the page's column values (~1,700 for 50
jobs with items and 10-line tails) into Python objects one at a time. Here SQLite builds the
page itself: the page's rows, each with its items and its tail, aggregated into one
JSON array, the count (when asked for) beside it. ``Database.read_statement_off_loop`` runs it
on a reader thread: SQLite works with the GIL released while the loop serves other requests,
and the loop then pays for one ``orjson.loads`` and the records. A single statement reads one
snapshot, so the count, the jobs, their items and their tails agree without a ``BEGIN`` (each
statement of a transaction would hand the GIL back and forth once more).

PostgreSQL keeps ``select_job_page``: its work already happens in another process.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from functools import cache
from typing import Any

import orjson

from storage.jobs import ITEM_COLUMNS, JOB_COLUMNS, items_of_job, job_from_row
from storage.records import ItemRecord, JobPage, JobRecord
from storage.tables import job_items, jobs, log_lines

_WIDTH = len(JOB_COLUMNS)


@cache
def supported() -> bool:
    """Whether this process's SQLite has the JSON functions (built in since 3.38)."""
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        try:
            conn.execute("SELECT json_group_array(json_array(1))").close()
        except sqlite3.OperationalError:
            return False
    return True


def statement(
    *,
    page: tuple[str, Sequence[Any]],
    count: tuple[str, Sequence[Any]] | None,
    items: bool,
    tail: int | None,
) -> tuple[str, list[Any]]:
    """The document statement over the page statement's SQL and values (and the count's)."""
    page_sql, page_values = page
    count_sql, count_values = count if count is not None else (None, ())
    tail_lines = tail is not None and tail > 0
    sql = _document_sql(page_sql, count_sql, items=items, tail=tail_lines)
    # Positional parameters in text order: the count, the tail's length, then the page.
    values = [*count_values, *((tail,) if tail_lines else ()), *page_values]
    return sql, values


@cache
def _document_sql(page_sql: str, count_sql: str | None, *, items: bool, tail: bool) -> str:
    columns = [f"p.{column.name}" for column in JOB_COLUMNS]
    if items:
        columns.append(f"json(({_ITEMS_SQL}))")
    if tail:
        columns.append(f"({_TAIL_SQL})")
    total = f"({count_sql})" if count_sql is not None else "NULL"
    # The page statement orders and limits: SQLite runs it as a co-routine, so the aggregate
    # sees its rows in that order. As a BLOB, the text reaches Python without a UTF-8 decode.
    return (
        f"SELECT {total}, CAST(json_group_array(json_array({', '.join(columns)})) AS BLOB) "
        f"FROM ({page_sql}) AS p"
    )


def _items_sql() -> str:
    table, job_id, position = job_items.name, job_items.c.job_id.name, job_items.c.position.name
    # ITEM_COLUMNS without the job id, which the page row has: the order items_of_job reads.
    names = [column.name for column in ITEM_COLUMNS[1:]]
    return (
        f"SELECT json_group_array(json_array({', '.join(f'i.{name}' for name in names)})) "
        f"FROM (SELECT {', '.join(names)} FROM {table} WHERE {table}.{job_id} = p.{jobs.c.id.name} "
        f"ORDER BY {table}.{position}) AS i"
    )


def _tail_sql() -> str:
    # Seqs are dense, so a job's last N lines are exactly seq > last_seq - N (as
    # storage.logs.tail_texts_ending).
    table, job_id, seq = log_lines.name, log_lines.c.job_id.name, log_lines.c.seq.name
    message = log_lines.c.message.name
    return (
        f"SELECT group_concat(t.{message}, char(10)) FROM (SELECT {message} FROM {table} "
        f"WHERE {table}.{job_id} = p.{jobs.c.id.name} "
        f"AND {table}.{seq} > p.{jobs.c.last_seq.name} - ? ORDER BY {table}.{seq}) AS t"
    )


_ITEMS_SQL = _items_sql()
_TAIL_SQL = _tail_sql()


def parse(row: Sequence[Any], *, first: int, items: bool, tail: int | None) -> JobPage:
    """The page a document statement's row holds (``first`` jobs of the ``first + 1`` read)."""
    total, document = row
    entries: list[list[Any]] = orjson.loads(document)
    records: list[JobRecord] = []
    items_by_job: dict[str, list[ItemRecord]] | None = {} if items else None
    tails: dict[str, str] | None = {} if tail is not None else None
    tail_lines = tail is not None and tail > 0
    for entry in entries[:first]:
        job = job_from_row(entry[:_WIDTH])
        records.append(job)
        if items_by_job is not None:
            job_id = job.id
            items_by_job[job_id] = items_of_job(job_id, entry[_WIDTH])
        if tails is not None:
            tails[job.id] = (entry[-1] or "") if tail_lines else ""
    return JobPage(
        jobs=records,
        has_next_page=len(entries) > first,
        total_count=None if total is None else int(total),
        items=items_by_job,
        tails=tails,
    )
