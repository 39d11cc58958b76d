"""Pages for frontends: jobs newest first by keyset, and log lines by seq in either direction.

Job pages seek on (created_at, id) — the tail of the ``ix_jobs_tenant_created`` index — instead
of skipping an offset, so each page costs the same however deep it is and a page boundary does
not move when jobs are inserted. Log pages are range reads on the (job_id, seq) primary key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
)

from domain.cursors import JobCursor
from domain.jobs import JobStatus
from domain.videos import Platform
from engine.sql import Query, raw_first_row
from storage import page_document, pg_reads
from storage.database import Database
from storage.jobs import JOB_COLUMNS, job_from_row, select_items
from storage.records import Allowance, JobPage, LogLineRecord, TailRequest, TailText
from storage.tables import LINE_COLUMNS, job_items, jobs, log_lines
from storage.tails import (
    PROBE_LINES,
    byte_length,
    is_big,
    plain_is_exact,
    read_tails,
    windowed_tails,
)


@dataclass(frozen=True, slots=True)
class JobListFilter:
    """Which jobs a list shows; ``tenant=None`` means every tenant (admin keys)."""

    tenant: str | None
    statuses: Sequence[JobStatus] = ()
    platform: Platform | None = None
    created_after: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class LogPageRecord:
    lines: list[LogLineRecord] = field(default_factory=list)
    has_more: bool = False
    bytes: int = 0  # what the lines cost: UTF-8 bytes of their messages, one newline each


@dataclass(frozen=True, slots=True)
class _Shape:
    """Which conditions a page's statements carry: one pair of statements per shape, built
    once (engine.sql), whatever values the filter holds."""

    tenant: bool
    statuses: bool
    platform: bool
    created_after: bool
    created_before: bool
    cursor: bool


@cache
def _page_queries(shape: _Shape) -> tuple[Query, Query]:
    """The count and the page statements for one shape of filter."""
    conditions: list[ColumnElement[bool]] = []
    if shape.tenant:
        conditions.append(jobs.c.tenant == bindparam("tenant"))
    if shape.statuses:
        conditions.append(jobs.c.status.in_(bindparam("statuses", expanding=True)))
    if shape.platform:
        conditions.append(
            exists().where(
                job_items.c.job_id == jobs.c.id, job_items.c.platform == bindparam("platform")
            )
        )
    if shape.created_after:
        conditions.append(jobs.c.created_at >= bindparam("created_after"))
    if shape.created_before:
        conditions.append(jobs.c.created_at < bindparam("created_before"))
    count = Query(select(func.count()).select_from(jobs).where(*conditions))
    if shape.cursor:
        # Spelled out rather than as a row-value comparison: both planners turn this into an
        # index range on (tenant, created_at, id).
        conditions.append(
            or_(
                jobs.c.created_at < bindparam("cursor_created_at"),
                and_(
                    jobs.c.created_at == bindparam("cursor_created_at"),
                    jobs.c.id < bindparam("cursor_id"),
                ),
            )
        )
    page = Query(
        select(*JOB_COLUMNS)
        .where(*conditions)
        .order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
        .limit(bindparam("limit"))
    )
    return count, page


def _page_statements(
    spec: JobListFilter, *, first: int, after: JobCursor | None
) -> tuple[Query, Query, dict[str, Any]]:
    shape = _Shape(
        tenant=spec.tenant is not None,
        statuses=bool(spec.statuses),
        platform=spec.platform is not None,
        created_after=spec.created_after is not None,
        created_before=spec.created_before is not None,
        cursor=after is not None,
    )
    params: dict[str, Any] = {
        "tenant": spec.tenant,
        "statuses": sorted({status.value for status in spec.statuses}),
        "platform": spec.platform.value if spec.platform is not None else None,
        "created_after": spec.created_after,
        "created_before": spec.created_before,
        "cursor_created_at": after.created_at if after is not None else None,
        "cursor_id": after.id if after is not None else None,
        "limit": first + 1,  # one more than asked tells whether there is a next page
    }
    count_query, page_query = _page_queries(shape)
    return count_query, page_query, params


def select_job_page(
    conn: Connection,
    *,
    spec: JobListFilter,
    first: int,
    after: JobCursor | None,
    count: bool = True,
    items: bool = False,
    tail: TailRequest | None = None,
    widest: int = 0,
) -> JobPage:
    """``count``, ``items`` and ``tail`` (None: no log read) say what the page must carry; a
    count over a large tenant costs a scan, so it is read only when the query selects it.
    Each job's tail gets an equal share of the tail's allowance (``storage.tails``);
    ``widest``: the largest cost of one line."""
    count_query, page_query, params = _page_statements(spec, first=first, after=after)
    total = count_query.rows(conn, params)[0][0] if count else None
    rows = [job_from_row(row) for row in page_query.rows(conn, params)]
    page = rows[:first]
    job_ids = [job.id for job in page]
    tails = None
    if tail is not None:
        tails = read_tails(
            conn,
            ends={job.id: job.last_seq for job in page},
            limit=tail.limit,
            allowance=tail.allowance,
            widest=widest,
        )
    return JobPage(
        jobs=page,
        has_next_page=len(rows) > first,
        total_count=None if total is None else int(total),
        items=select_items(conn, job_ids=job_ids) if items else None,
        tails=tails,
    )


def _line(row: Any) -> LogLineRecord:
    return LogLineRecord(*row)


def select_log_page(
    conn: Connection,
    *,
    job_id: str,
    after: int | None,
    before: int | None,
    limit: int,
    backward: bool,
    allowance: Allowance,
    widest: int,
) -> LogPageRecord:
    """Up to ``limit`` lines with after < seq < before, oldest first, within ``allowance``.

    Forward pages take the first lines of that range, backward pages its last lines;
    ``has_more`` says whether the range holds more lines beyond the page in that direction
    (also when the allowance stopped the page early). As for tails (``storage.tails``), a
    page whose ``limit`` lines of the widest messages fit the allowance is read plainly, and
    otherwise through a window sum of the lines' byte lengths, in SQL.
    """
    conditions = [log_lines.c.job_id == job_id]
    if after is not None:
        conditions.append(log_lines.c.seq > after)
    if before is not None:
        conditions.append(log_lines.c.seq < before)
    order = log_lines.c.seq.desc() if backward else log_lines.c.seq.asc()
    if plain_is_exact(limit=limit, share=allowance, widest=widest):
        query = select(*LINE_COLUMNS).where(*conditions).order_by(order).limit(limit + 1)
        rows = [_line(row) for row in conn.execute(query)]
        has_more = len(rows) > limit
        rows = rows[:limit]
        cost = sum(len(line.message.encode()) + 1 for line in rows)
        if cost <= allowance.bytes:  # else a line over the cap: read it again, windowed
            if backward:
                rows.reverse()
            return LogPageRecord(lines=rows, has_more=has_more, bytes=cost)
    return _windowed_log_page(conn, conditions, order, limit, backward, allowance)


def _windowed_log_page(
    conn: Connection,
    conditions: list[ColumnElement[bool]],
    order: ColumnElement[Any],
    limit: int,
    backward: bool,
    allowance: Allowance,
) -> LogPageRecord:
    keep = max(0, min(limit, allowance.lines))
    if keep > PROBE_LINES:
        # As storage.tails.windowed_tails: a page cut (or ended) within its first lines is
        # final, and costs no window over the whole page.
        probe = _window_of(conn, conditions, order, PROBE_LINES, backward, allowance)
        if len(probe.lines) < PROBE_LINES:
            return probe
    return _window_of(conn, conditions, order, keep, backward, allowance)


def _window_of(
    conn: Connection,
    conditions: list[ColumnElement[bool]],
    order: ColumnElement[Any],
    keep: int,
    backward: bool,
    allowance: Allowance,
) -> LogPageRecord:
    cost = byte_length(log_lines.c.message) + 1
    ranked = (
        select(
            *LINE_COLUMNS,
            cost.label("cost"),
            func.row_number().over(order_by=order, rows=(None, 0)).label("n"),
            func.sum(cost).over(order_by=order, rows=(None, 0)).label("total"),
        )
        .where(*conditions)
        .order_by(order)
        .limit(keep + 1)  # one more than the page can hold tells whether there is more
        .subquery("ranked")
    )
    fits = and_(ranked.c.n <= keep, ranked.c.total <= allowance.bytes)
    # The lines that fit, and the first one that does not (its message left in the database).
    query = (
        select(
            ranked.c.seq,
            ranked.c.timestamp,
            ranked.c.level,
            case((fits, ranked.c.message), else_=None),
            ranked.c.attempt,
            ranked.c.n,
            ranked.c.total,
        )
        .where(ranked.c.n - 1 <= keep, ranked.c.total - ranked.c.cost <= allowance.bytes)
        .order_by(ranked.c.seq.desc() if backward else ranked.c.seq.asc())
    )
    lines: list[LogLineRecord] = []
    spent = 0
    has_more = False
    for seq, timestamp, level, message, attempt, n, total in conn.execute(query):
        if n <= keep and total <= allowance.bytes:
            lines.append(LogLineRecord(seq, timestamp, level, message, attempt))
            spent = total
        else:
            has_more = True
    if backward:
        lines.reverse()
    return LogPageRecord(lines=lines, has_more=has_more, bytes=spent)


class ListingStore:
    """``store.listing``: the paged reads behind ``jobs(...)`` and ``Job.logs(...)``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def job_page(
        self,
        *,
        spec: JobListFilter,
        first: int,
        after: JobCursor | None,
        count: bool = True,
        items: bool = False,
        tail: TailRequest | None = None,
    ) -> JobPage:
        widest = self._widest
        if self._db.fast_sqlite and page_document.supported():
            count_query, page_query, params = _page_statements(spec, first=first, after=after)
            form = page_document.tail_form(tail, first=first, widest=widest)
            sql, values = page_document.statement(
                page=page_query.sqlite_statement(params),
                count=count_query.sqlite_statement(params) if count else None,
                items=items,
                tail=tail,
                form=form,
                first=first,
            )
            row = await self._db.read_statement_off_loop(
                lambda conn: raw_first_row(conn, sql, values)
            )
            assert row is not None  # an aggregate answers one row, also for no jobs
            page = page_document.parse(row, first=first, items=items, tail=tail, form=form)
            if form == "plain" and tail is not None and page.tails:
                await self._recheck_plain(page, page.tails, tail)
            return page
        if (
            self._db.fast_pg
            and not count
            and pg_reads.page_applies(tail, first=first, widest=widest)
        ):
            _count, page_query, params = _page_statements(spec, first=first, after=after)
            page_sql, values = page_query.pg_statement(params)
            limit = tail.limit if tail is not None else 0
            sql = pg_reads.page_statement(page_sql, len(values), items=items, tail=limit > 0)
            rows = await self._db.pg_rows(sql, [*values, limit] if limit > 0 else values)
            page = pg_reads.parse_page(rows, first=first, items=items, tail=tail)
            if tail is not None and page.tails:
                await self._recheck_plain(page, page.tails, tail)
            return page
        # One read transaction: the count, the page, its items and tails see one snapshot; on
        # a thread when the tails may be long (SQLite).
        read = self._db.read
        if tail is not None and is_big(first * min(tail.limit, tail.allowance.lines)):
            read = self._db.read_off_loop
        return await read(
            lambda conn: select_job_page(
                conn,
                spec=spec,
                first=first,
                after=after,
                count=count,
                items=items,
                tail=tail,
                widest=widest,
            )
        )

    async def _recheck_plain(
        self, page: JobPage, tails: dict[str, TailText], tail: TailRequest
    ) -> None:
        """A plain read is exact unless a stored line is longer than the message cap (written
        before the cap was lowered): such tails are read again, windowed, as
        ``storage.tails.read_tails`` does."""
        share = tail.allowance.share(len(page.jobs))
        over = {job.id: job.last_seq for job in page.jobs if tails[job.id].bytes > share.bytes}
        if over:
            tails.update(
                await self._db.read_statement(
                    lambda conn: windowed_tails(conn, ends=over, limit=tail.limit, share=share)
                )
            )

    async def log_page(
        self,
        *,
        job_id: str,
        after: int | None,
        before: int | None,
        limit: int,
        backward: bool,
        allowance: Allowance,
        last_seq: int,
    ) -> LogPageRecord:
        """``last_seq``: the job's, as last read; a page that may hold more lines than
        ``storage.tails.is_big`` allows is read on a thread (SQLite)."""
        widest = self._widest

        def work(conn: Connection) -> LogPageRecord:
            return select_log_page(
                conn,
                job_id=job_id,
                after=after,
                before=before,
                limit=limit,
                backward=backward,
                allowance=allowance,
                widest=widest,
            )

        if is_big(min(limit, last_seq)):
            return await self._db.read_statement_off_loop(work)
        return await self._db.read_statement(work)

    @property
    def _widest(self) -> int:
        return self._db.settings.max_log_message_bytes + 1
