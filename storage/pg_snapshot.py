"""On PostgreSQL, what ``job(id, tail)`` shows — the job, its items and its log tail — as one
statement: one round trip, one snapshot, no transaction.

The stock read (``storage.jobs.select_job_snapshot``) runs three statements in a transaction
through SQLAlchemy: with the pre-ping, ``BEGIN`` and ``ROLLBACK`` that is six round trips.
Here the job row carries its items, aggregated by ``json_agg`` into one JSON text, and its
tail, the newest ``limit`` lines up to the row's own ``last_seq`` joined by ``string_agg``
(exactly ``storage.tails``' plain read), as two more columns. The text is built from the
SQLModel tables' names, once per shape (items or not, tail or not, tenant or not), and run on
asyncpg directly (``engine.pg``), which keeps it prepared per connection.

Only the plain tail is read here: when ``limit`` lines of the widest message might not fit
the allowance (the windowed read), or a stored line is wider than the cap, the caller reads
the stock way.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import orjson

from storage.jobs import ITEM_COLUMNS, JOB_COLUMNS, items_of_job, job_from_row
from storage.records import JobSnapshot, TailRequest, TailText
from storage.tables import job_items, jobs, log_lines
from storage.tails import EMPTY, plain_is_exact, text_cost

_WIDTH = len(JOB_COLUMNS)


def applies(tail: TailRequest | None, *, widest: int) -> bool:
    """Whether the one statement reads this snapshot exactly (the tail, if any, is plain)."""
    if tail is None or tail.limit <= 0:
        return True
    return plain_is_exact(limit=tail.limit, share=tail.allowance.share(1), widest=widest)


@cache
def statement(*, items: bool, tail: bool, tenant: bool) -> str:
    """The text: parameters $1 the job id, then the tenant (when ``tenant``), then the tail's
    limit (when ``tail``)."""
    columns = [f"j.{column.name}" for column in JOB_COLUMNS]
    where = f"j.{jobs.c.id.name} = $1"
    number = 2
    if tenant:
        where += f" AND j.{jobs.c.tenant.name} = ${number}"
        number += 1
    job_id, last_seq = f"j.{jobs.c.id.name}", f"j.{jobs.c.last_seq.name}"
    if items:
        names = [f"i.{column.name}" for column in ITEM_COLUMNS[1:]]
        columns.append(
            f"(SELECT json_agg(json_build_array({', '.join(names)}) "
            f"ORDER BY i.{job_items.c.position.name}) FROM {job_items.name} AS i "
            f"WHERE i.{job_items.c.job_id.name} = {job_id})"
        )
    if tail:
        seq, message = log_lines.c.seq.name, log_lines.c.message.name
        columns.append(
            f"(SELECT string_agg(r.{message}, E'\\n' ORDER BY r.{seq}) FROM "
            f"(SELECT {seq}, {message} FROM {log_lines.name} AS l "
            f"WHERE l.{log_lines.c.job_id.name} = {job_id} AND l.{seq} <= {last_seq} "
            f"ORDER BY l.{seq} DESC LIMIT ${number}) AS r)"
        )
    return f"SELECT {', '.join(columns)} FROM {jobs.name} AS j WHERE {where}"


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
