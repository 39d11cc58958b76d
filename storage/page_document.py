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
from typing import Any, Literal

import orjson

from storage.jobs import ITEM_COLUMNS, JOB_COLUMNS, items_of_job, job_from_row
from storage.records import ItemRecord, JobPage, JobRecord, TailRequest, TailText
from storage.tables import job_items, jobs
from storage.tails import (
    EMPTY,
    SHARE_COLUMNS,
    parse_counted,
    plain_is_exact,
    sqlite_tail,
    text_cost,
)

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


TailForm = Literal["", "plain", "windowed"]


def tail_form(tail: TailRequest | None, *, first: int, widest: int) -> TailForm:
    """How the document reads tails: not at all, plain, or windowed (``storage.tails``). The
    page's size is known only inside the statement, so plain is chosen when it is exact for a
    full page of ``first`` jobs (the smallest share)."""
    if tail is None or tail.limit <= 0:
        return ""
    share = tail.allowance.share(first)
    return "plain" if plain_is_exact(limit=tail.limit, share=share, widest=widest) else "windowed"


def statement(
    *,
    page: tuple[str, Sequence[Any]],
    count: tuple[str, Sequence[Any]] | None,
    items: bool,
    tail: TailRequest | None,
    form: TailForm,
    first: int,
) -> tuple[str, list[Any]]:
    """The document statement over the page statement's SQL and values (and the count's)."""
    page_sql, page_values = page
    count_sql, count_values = count if count is not None else (None, ())
    sql = _document_sql(page_sql, count_sql, items=items, tail=form)
    # Positional parameters in text order: the windowed tails' shares (over the page's size,
    # counted by the page statement), the count, a plain tail's length, then the page.
    shares: list[Any] = []
    if form == "windowed" and tail is not None:
        allowance = tail.allowance
        shares = [tail.limit, allowance.lines, allowance.bytes, first, *page_values]
    plain = [tail.limit] if form == "plain" and tail is not None else []
    return sql, [*shares, *count_values, *plain, *page_values]


@cache
def _document_sql(page_sql: str, count_sql: str | None, *, items: bool, tail: TailForm) -> str:
    columns = [f"p.{column.name}" for column in JOB_COLUMNS]
    if items:
        columns.append(f"json(({_ITEMS_SQL}))")
    shares = ""
    if tail == "plain":
        columns.append(_PLAIN_TAIL_SQL)
    elif tail == "windowed":
        # Each job's equal share of the allowance, worked out once from the page's size.
        shares = (
            "WITH b(read, lines, bytes) AS (SELECT min(?, s.lines + 1, s.bytes + 1), s.lines, "
            "s.bytes FROM (SELECT ? / k.n AS lines, ? / k.n AS bytes FROM (SELECT "
            f"max(1, min(count(*), ?)) AS n FROM ({page_sql})) AS k) AS s) "
        )
        columns.append(_WINDOWED_TAIL_SQL)
    total = f"({count_sql})" if count_sql is not None else "NULL"
    # The page statement orders and limits: SQLite runs it as a co-routine, so the aggregate
    # sees its rows in that order. As a BLOB, the text reaches Python without a UTF-8 decode.
    return (
        f"{shares}SELECT {total}, CAST(json_group_array(json_array({', '.join(columns)})) AS BLOB) "
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


_ITEMS_SQL = _items_sql()
# A job's tail as storage.tails reads it, over the page row's id and last seq.
_JOB, _LAST = f"p.{jobs.c.id.name}", f"p.{jobs.c.last_seq.name}"
_PLAIN_TAIL_SQL = sqlite_tail(_JOB, _LAST, limit="?")
_WINDOWED_TAIL_SQL = sqlite_tail(_JOB, _LAST, window=SHARE_COLUMNS)


def parse(
    row: Sequence[Any], *, first: int, items: bool, tail: TailRequest | None, form: TailForm
) -> JobPage:
    """The page a document statement's row holds (``first`` jobs of the ``first + 1`` read)."""
    total, document = row
    entries: list[list[Any]] = orjson.loads(document)
    records: list[JobRecord] = []
    items_by_job: dict[str, list[ItemRecord]] | None = {} if items else None
    tails: dict[str, TailText] | None = {} if tail is not None else None
    limit = tail.limit if tail is not None else 0
    for entry in entries[:first]:
        job = job_from_row(entry[:_WIDTH])
        records.append(job)
        if items_by_job is not None:
            job_id = job.id
            items_by_job[job_id] = items_of_job(job_id, entry[_WIDTH])
        if tails is not None:
            if not form or job.last_seq == 0:
                tails[job.id] = EMPTY
            elif form == "plain":
                text = entry[-1] or ""
                lines = min(limit, job.last_seq)
                tails[job.id] = TailText(text, lines, text_cost(text, lines), False)
            else:
                lines, cost, text = parse_counted(entry[-1])
                tails[job.id] = TailText(text, lines, cost, lines < min(limit, job.last_seq))
    return JobPage(
        jobs=records,
        has_next_page=len(entries) > first,
        total_count=None if total is None else int(total),
        items=items_by_job,
        tails=tails,
    )
