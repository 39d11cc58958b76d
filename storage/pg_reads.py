"""On PostgreSQL, what ``job(id, tail)`` shows — the job, its items and its log tail — as one
statement: one round trip, one snapshot, no transaction; and a page of jobs (``jobs(...)``)
with its items and tails the same way.

The stock read (``storage.jobs.select_job_snapshot``) runs three statements in a transaction
through SQLAlchemy: with the pre-ping, ``BEGIN`` and ``ROLLBACK`` that is six round trips.
Here the job row carries its items, aggregated by ``json_agg`` into one JSON text, and its
tail, the newest ``limit`` lines up to the row's own ``last_seq`` joined by ``string_agg``
(exactly ``storage.tails``' plain read), as two more columns. The text is built from the
SQLModel tables' names, once per shape (items or not, tail or not, tenant or not), and run on
asyncpg directly (``engine.pg``), which keeps it prepared per connection.

Only the plain tail is read here: when ``limit`` lines of the widest message might not fit
the allowance (the windowed read), or a stored line is wider than the cap, the caller reads
the stock way. A page that asks for its total count also reads the stock way.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import orjson

from storage.jobs import ITEM_COLUMNS, JOB_COLUMNS, items_of_job, job_from_row
from storage.records import ItemRecord, JobPage, JobRecord, JobSnapshot, TailRequest, TailText
from storage.tables import job_items, jobs, log_lines
from storage.tails import EMPTY, plain_is_exact, text_cost

_WIDTH = len(JOB_COLUMNS)


def applies(tail: TailRequest | None, *, widest: int) -> bool:
    """Whether the one statement reads this snapshot exactly (the tail, if any, is plain)."""
    if tail is None or tail.limit <= 0:
        return True
    return plain_is_exact(limit=tail.limit, share=tail.allowance.share(1), widest=widest)


def _items_column(job: str) -> str:
    names = [f"i.{column.name}" for column in ITEM_COLUMNS[1:]]
    return (
        f"(SELECT json_agg(json_build_array({', '.join(names)}) "
        f"ORDER BY i.{job_items.c.position.name}) FROM {job_items.name} AS i "
        f"WHERE i.{job_items.c.job_id.name} = {job}.{jobs.c.id.name})"
    )


def _tail_column(job: str, limit: str) -> str:
    # storage.tails' plain read: the newest ``limit`` lines up to the row's own last seq.
    seq, message = log_lines.c.seq.name, log_lines.c.message.name
    return (
        f"(SELECT string_agg(r.{message}, E'\\n' ORDER BY r.{seq}) FROM "
        f"(SELECT {seq}, {message} FROM {log_lines.name} AS l "
        f"WHERE l.{log_lines.c.job_id.name} = {job}.{jobs.c.id.name} "
        f"AND l.{seq} <= {job}.{jobs.c.last_seq.name} ORDER BY l.{seq} DESC LIMIT {limit}) AS r)"
    )


@cache
def statement(*, items: bool, tail: bool, tenant: bool) -> str:
    """The job's text: parameters $1 the job id, then the tenant (when ``tenant``), then the
    tail's limit (when ``tail``)."""
    columns = [f"j.{column.name}" for column in JOB_COLUMNS]
    where = f"j.{jobs.c.id.name} = $1"
    number = 2
    if tenant:
        where += f" AND j.{jobs.c.tenant.name} = ${number}"
        number += 1
    if items:
        columns.append(_items_column("j"))
    if tail:
        columns.append(_tail_column("j", f"${number}"))
    return f"SELECT {', '.join(columns)} FROM {jobs.name} AS j WHERE {where}"


@cache
def page_statement(page_sql: str, parameters: int, *, items: bool, tail: bool) -> str:
    """A page's text over the page statement's (``storage.listing``, compiled for asyncpg,
    ``parameters`` placeholders): its rows, each with its items and its plain tail, whose
    limit is the parameter after the page's."""
    columns = [f"p.{column.name}" for column in JOB_COLUMNS]
    if items:
        columns.append(_items_column("p"))
    if tail:
        columns.append(_tail_column("p", f"${parameters + 1}"))
    order = f"p.{jobs.c.created_at.name} DESC, p.{jobs.c.id.name} DESC"
    return f"SELECT {', '.join(columns)} FROM ({page_sql}) AS p ORDER BY {order}"


def page_applies(tail: TailRequest | None, *, first: int, widest: int) -> bool:
    """Whether the page statement reads these tails exactly: plain for a full page of
    ``first`` jobs (each job's share is at least that), as ``storage.page_document`` chooses."""
    if tail is None or tail.limit <= 0:
        return True
    return plain_is_exact(limit=tail.limit, share=tail.allowance.share(first), widest=widest)


def parse_page(
    rows: Sequence[Sequence[Any]], *, first: int, items: bool, tail: TailRequest | None
) -> JobPage:
    """The page the rows hold (``first`` jobs of the ``first + 1`` read)."""
    records: list[JobRecord] = []
    items_by_job: dict[str, list[ItemRecord]] | None = {} if items else None
    tails: dict[str, TailText] | None = {} if tail is not None else None
    limit = tail.limit if tail is not None else 0
    for row in rows[:first]:
        job = job_from_row(row[:_WIDTH])
        records.append(job)
        if items_by_job is not None:
            document = row[_WIDTH]
            items_by_job[job.id] = items_of_job(job.id, orjson.loads(document) if document else ())
        if tails is not None:
            if limit <= 0 or job.last_seq == 0:
                tails[job.id] = EMPTY
            else:
                text = row[-1] or ""
                lines = min(limit, job.last_seq)
                tails[job.id] = TailText(text, lines, text_cost(text, lines), False)
    return JobPage(
        jobs=records,
        has_next_page=len(rows) > first,
        total_count=None,
        items=items_by_job,
        tails=tails,
    )


def arguments(*, job_id: str, tenant: str | None, tail: TailRequest | None) -> list[Any]:
    values: list[Any] = [job_id]
    if tenant is not None:
        values.append(tenant)
    if tail is not None and tail.limit > 0:
        values.append(tail.limit)
    return values


def parse(row: Sequence[Any], *, items: bool, tail: TailRequest | None) -> JobSnapshot | None:
    """The snapshot the statement's row holds; None when its tail broke the plain read's
    promise (a line wider than the cap): the caller then reads it the stock way."""
    job = job_from_row(row[:_WIDTH])
    position = _WIDTH
    job_items_ = None
    if items:
        document = row[position]
        job_items_ = items_of_job(job.id, orjson.loads(document) if document else ())
        position += 1
    text = None
    if tail is not None:
        if tail.limit <= 0 or job.last_seq == 0:
            text = EMPTY
        else:
            found = row[position] or ""
            lines = min(tail.limit, job.last_seq)
            text = TailText(found, lines, text_cost(found, lines), False)
            if text.bytes > tail.allowance.share(1).bytes:
                return None
    return JobSnapshot(job=job, items=job_items_, tail=text)
