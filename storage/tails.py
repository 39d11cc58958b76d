"""Log tails within an allowance: the newest whole lines of each job that fit in what a response
may still carry, read in one statement for any number of jobs.

A tail is what ``logTail`` shows: a job's last ``limit`` lines, oldest first, joined with
newlines. Each read is bounded twice: ``limit`` lines, and an :class:`Allowance` of lines and
UTF-8 bytes (each line counting its newline) shared equally by the jobs read together. The
bound is applied in SQL, so no read brings more than the allowance out of the database:

- *plain*: when the allowance cannot run out (``limit`` lines of the widest message a worker may
  write fit in each job's share), the statement reads the last ``limit`` lines by index and
  nothing more;
- *windowed*: otherwise a window sum of the lines' byte lengths, newest first, keeps the
  lines that fit, and ``LIMIT`` stops the index range one line past what the share allows.
  The cost grows with the lines a share can hold, never with the log.

A tail ends at the ``last_seq`` the caller read with the job: seqs are dense and lines never
change, so a tail is fully determined by (job, last_seq, limit, share), whichever statement,
snapshot or database reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Integer, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from engine.sql import fast_paths, raw_rows
from storage.records import Allowance, TailText
from storage.tables import log_lines

EMPTY = TailText("", 0, 0, False)
# Reads of more lines than this run on a thread (SQLite; a reader thread with the fast paths
# on): 256 lines of the widest messages take a few milliseconds, a tail of 10,000 up to a few
# hundred.
OFF_LOOP_LINES = 256


def is_big(lines: int) -> bool:
    """Whether a read of up to ``lines`` lines belongs on a reader thread."""
    return lines > OFF_LOOP_LINES


def text_cost(text_: str, lines: int) -> int:
    """The cost of ``lines`` lines joined into ``text_``: their bytes and a newline each."""
    return len(text_.encode()) + 1 if lines else 0


def plain_is_exact(*, limit: int, share: Allowance, widest: int) -> bool:
    """Whether ``limit`` lines always fit ``share``: ``widest`` is the largest cost a line may
    have (the message cap plus its newline)."""
    return limit <= share.lines and limit * widest <= share.bytes


def read_limit(*, limit: int, share: Allowance) -> int:
    """How many index entries a windowed read looks at: one past what the share can hold
    (every line costs at least its newline), so that a cut is seen."""
    return max(0, min(limit, share.lines + 1, share.bytes + 1))


def read_tails(
    conn: Connection,
    *,
    ends: Mapping[str, int],
    limit: int,
    allowance: Allowance,
    widest: int,
) -> dict[str, TailText]:
    """The tails of the jobs in ``ends`` (job id -> the last seq read with the job), each
    within an equal share of ``allowance``, in one statement."""
    tails = dict.fromkeys(ends, EMPTY)
    wanted = {job_id: last for job_id, last in ends.items() if last > 0}
    if limit <= 0 or not wanted:
        return tails
    share = allowance.share(len(ends))
    if plain_is_exact(limit=limit, share=share, widest=widest):
        found = _plain(conn, wanted, limit)
        # A line longer than the cap (written before the cap was lowered) can break the
        # promise: those jobs are read again, windowed.
        over = {
            job_id: wanted[job_id] for job_id, read in found.items() if read.bytes > share.bytes
        }
        if over:
            found.update(windowed_tails(conn, ends=over, limit=limit, share=share))
    else:
        found = windowed_tails(conn, ends=wanted, limit=limit, share=share)
    tails.update(found)
    return tails


def _plain(conn: Connection, ends: Mapping[str, int], limit: int) -> dict[str, TailText]:
    found: dict[str, TailText] = {}
    rows: Sequence[Sequence[Any]]
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            _PG_PLAIN, {"job_ids": list(ends), "last_seqs": list(ends.values()), "limit": limit}
        ).all()
    else:
        values: list[Any] = []
        for job_id, last in ends.items():
            values += (job_id, last)
        values.append(limit)
        rows = _sqlite_rows(conn, _sqlite_batch_sql(len(ends), windowed=False), values)
    for job_id, text_ in rows:
        lines = min(limit, ends[job_id])
        found[job_id] = TailText(text_ or "", lines, text_cost(text_ or "", lines), False)
    return found


def windowed_tails(
    conn: Connection, *, ends: Mapping[str, int], limit: int, share: Allowance
) -> dict[str, TailText]:
    """The windowed read: each job's tail within ``share`` (jobs with lines only).

    A window cannot stop at the first line that does not fit: it sums every line up to its
    ``LIMIT``. So a long read first looks at the newest ``PROBE_LINES`` lines; a tail cut among
    them is final (the lines that fit are a prefix, newest first), and only the others are
    read in full. A field that finds little left (an alias after the first) costs a probe."""
    read = read_limit(limit=limit, share=share)
    if read <= PROBE_LINES:
        return _windowed(conn, ends, limit, share, read)
    found = _windowed(conn, ends, limit, share, PROBE_LINES)
    longer = {
        job_id: last
        for job_id, last in ends.items()
        if last > PROBE_LINES and found[job_id].lines == PROBE_LINES
    }
    if longer:
        found.update(_windowed(conn, longer, limit, share, read))
    return found


# How many of the newest lines a long windowed read looks at first (windowed_tails).
PROBE_LINES = 64


def _windowed(
    conn: Connection, ends: Mapping[str, int], limit: int, share: Allowance, read: int
) -> dict[str, TailText]:
    found: dict[str, TailText] = {}
    if conn.dialect.name == "postgresql":
        params = {
            "job_ids": list(ends),
            "last_seqs": list(ends.values()),
            "read": read,
            "lines": share.lines,
            "bytes": share.bytes,
        }
        rows = [
            (job_id, lines, total, text_ or "")
            for job_id, lines, total, text_ in conn.execute(_PG_WINDOWED, params)
        ]
    else:
        values: list[Any] = []
        for job_id, last in ends.items():
            values += (job_id, last)
        values += (read, share.lines, share.bytes)
        rows = [
            (job_id, *parse_counted(encoded))
            for job_id, encoded in _sqlite_rows(
                conn, _sqlite_batch_sql(len(ends), windowed=True), values
            )
        ]
    for job_id, lines, total, text_ in rows:
        asked = min(limit, ends[job_id])
        found[job_id] = TailText(text_, lines, total, lines < asked)
    return found


class byte_length(FunctionElement[int]):  # named like the SQL function it stands for
    """The UTF-8 byte length of a text column, on either database."""

    type = Integer()
    inherit_cache = True


@compiles(byte_length, "sqlite")
def _sqlite_byte_length(element: byte_length, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite 3.40 has no octet_length: a text cast to a BLOB is its UTF-8 bytes.
    return f"length(CAST({compiler.process(element.clauses, **kw)} AS BLOB))"


@compiles(byte_length)
def _byte_length(element: byte_length, compiler: SQLCompiler, **kw: Any) -> str:
    return f"octet_length({compiler.process(element.clauses, **kw)})"


def parse_counted(encoded: str) -> tuple[int, int, str]:
    """SQLite's windowed tail, ``"<lines>:<bytes>:<text>"`` (a scalar subquery answers one
    value), as (lines, bytes, text)."""
    lines, total, text_ = encoded.split(":", 2)
    return int(lines), int(total), text_


def _sqlite_rows(conn: Connection, sql: str, values: Sequence[Any]) -> Sequence[Sequence[Any]]:
    if fast_paths(conn):
        return raw_rows(conn, sql, values)
    rows: Sequence[Sequence[Any]] = conn.exec_driver_sql(sql, tuple(values)).all()
    return rows


# SQLite: the text of a statement per number of jobs and form, made once. ``length`` of the
# message cast to a BLOB is its UTF-8 byte length (SQLite 3.40 has no octet_length).
_LINES, _JOB_ID, _SEQ, _MESSAGE = (
    log_lines.name,
    log_lines.c.job_id.name,
    log_lines.c.seq.name,
    log_lines.c.message.name,
)
_COST = f"length(CAST({_MESSAGE} AS BLOB)) + 1"


def sqlite_tail(
    job_id: str, last_seq: str, *, limit: str = "", window: tuple[str, str, str] | None = None
) -> str:
    """A scalar subquery over one job's tail: its text (plain: ``limit`` lines), or with
    ``window`` (its read limit, lines and bytes) ``parse_counted``'s encoding. Every argument
    is an SQL expression (the job's id and last seq: columns of the enclosing statement)."""
    where = f"{_LINES}.{_JOB_ID} = {job_id} AND {_LINES}.{_SEQ} <= {last_seq}"
    if window is None:
        # Seqs are dense, so the last N lines are exactly seq > last_seq - N.
        return (
            f"(SELECT group_concat(t.{_MESSAGE}, char(10)) FROM (SELECT {_MESSAGE} FROM {_LINES} "
            f"WHERE {where} AND {_LINES}.{_SEQ} > {last_seq} - {limit} ORDER BY {_LINES}.{_SEQ})"
            " AS t)"
        )
    read, lines, bytes_ = window
    # The window runs newest first in index order (no sort); the outer ORDER BY puts the lines
    # that fit, at most a share's worth, back in seq order for group_concat.
    return (
        "(SELECT count(*) || ':' || ifnull(sum(t.cost), 0) || ':' || "
        f"ifnull(group_concat(t.{_MESSAGE}, char(10)), '') FROM ("
        f"SELECT r.{_MESSAGE}, r.cost FROM (SELECT {_SEQ}, {_MESSAGE}, {_COST} AS cost, "
        f"row_number() OVER w AS n, sum({_COST}) OVER w AS total FROM {_LINES} WHERE {where} "
        f"WINDOW w AS (ORDER BY {_SEQ} DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) "
        f"ORDER BY {_SEQ} DESC LIMIT {read}) AS r "
        f"WHERE r.n <= {lines} AND r.total <= {bytes_} ORDER BY r.{_SEQ}) AS t)"
    )


@cache
def _sqlite_batch_sql(count: int, *, windowed: bool) -> str:
    # Parameters: the (job id, last seq) pairs, then the limit (plain) or the read limit and
    # the share (windowed); each tail's parameters are bound once in the CTE below.
    pairs = ", ".join(["(?, ?)"] * count)
    if windowed:
        bound = "b(read, lines, bytes) AS (SELECT ?, ?, ?)"
        tail = sqlite_tail("ends.job_id", "ends.last_seq", window=SHARE_COLUMNS)
    else:
        bound = "b(tail) AS (SELECT ?)"
        tail = sqlite_tail("ends.job_id", "ends.last_seq", limit="(SELECT tail FROM b)")
    return (
        f"WITH ends(job_id, last_seq) AS (VALUES {pairs}), {bound} "
        f"SELECT ends.job_id, {tail} FROM ends"
    )


# A windowed tail's bounds, read from a one-row CTE ``b(read, lines, bytes)`` of the statement.
SHARE_COLUMNS = ("(SELECT read FROM b)", "(SELECT lines FROM b)", "(SELECT bytes FROM b)")


# PostgreSQL: one LATERAL read per job over unnest()ed (job id, last seq) arrays; octet_length
# reads a stored (even TOASTed) text's length without decompressing it.
_PG_ENDS = (
    "unnest(CAST(:job_ids AS text[]), CAST(:last_seqs AS integer[])) AS ends(job_id, last_seq)"
)
_PG_WHERE = "log_lines.job_id = ends.job_id AND log_lines.seq <= ends.last_seq"
_PG_PLAIN = text(
    f"SELECT ends.job_id, t.text FROM {_PG_ENDS} CROSS JOIN LATERAL ("
    "SELECT string_agg(r.message, E'\\n' ORDER BY r.seq) AS text FROM ("
    f"SELECT seq, message FROM log_lines WHERE {_PG_WHERE} "
    "ORDER BY seq DESC LIMIT :limit) AS r) AS t"
)
_PG_COST = "octet_length(message) + 1"
_PG_WINDOWED = text(
    f"SELECT ends.job_id, t.lines, t.bytes, t.text FROM {_PG_ENDS} CROSS JOIN LATERAL ("
    "SELECT count(*) AS lines, coalesce(sum(r.cost), 0) AS bytes, "
    "string_agg(r.message, E'\\n' ORDER BY r.seq) AS text FROM ("
    f"SELECT seq, message, {_PG_COST} AS cost, row_number() OVER w AS n, "
    f"sum({_PG_COST}) OVER w AS total FROM log_lines WHERE {_PG_WHERE} "
    "WINDOW w AS (ORDER BY seq DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) "
    "ORDER BY seq DESC LIMIT :read) AS r WHERE r.n <= :lines AND r.total <= :bytes) AS t"
)
