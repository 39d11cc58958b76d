"""The tail read goes through the (job_id, seq) index: proven by the query plan, not a timer."""

from __future__ import annotations

from functools import partial

from sqlalchemy import Connection, select, text

from storage.logs import _TAIL_TEXTS_SQLITE, _tail_ranges_sql, tail_texts, tail_texts_ending
from storage.store import Store
from storage.tables import jobs, log_lines
from tests.factories import make_job


def _tail_statement(job_id: str, limit: int):  # the exact statement storage.logs issues
    return (
        select(log_lines.c.message)
        .where(log_lines.c.job_id == job_id)
        .order_by(log_lines.c.seq.desc())
        .limit(limit)
    )


def _plan(conn: Connection, job_id: str) -> str:
    statement = _tail_statement(job_id, 100)
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    if conn.dialect.name == "postgresql":
        conn.execute(text("ANALYZE log_lines"))
    rows = conn.execute(text(prefix + str(compiled))).all()
    return "\n".join(str(row[-1]) for row in rows)


async def test_tail_uses_index_on_200k_lines(store: Store) -> None:
    job = await make_job(store, lines=200_000, batch=20_000)
    await make_job(store, lines=1_000)  # another job's lines share the table
    plan = await store.db.write(lambda conn: _plan(conn, job.id))
    if store.db.is_sqlite:
        # e.g. "SEARCH log_lines USING INDEX sqlite_autoindex_log_lines_1 (job_id=?)"
        assert "SEARCH log_lines USING" in plan and "INDEX" in plan, plan
        assert "SCAN log_lines" not in plan and "TEMP B-TREE" not in plan, plan
    else:
        assert "Index" in plan and "log_lines_pkey" in plan, plan
        assert "Seq Scan" not in plan and "Sort" not in plan, plan
    tail = await store.logs.tail_messages(job_id=job.id, limit=3)
    assert tail == ["line 199998", "line 199999", "line 200000"]


async def test_tails_of_a_page_read_index_ranges_without_a_sort(store: Store) -> None:
    made = [await make_job(store, lines=30) for _ in range(3)]
    ids = [job.id for job in made]
    if not store.db.is_sqlite:
        # PostgreSQL reads a LATERAL (ORDER BY seq DESC LIMIT n) per job: its plan is its own.
        tails = await store.db.read(lambda conn: tail_texts(conn, job_ids=ids, limit=2))
        assert tails == dict.fromkeys(ids, "line 29\nline 30")
        return

    def plan(conn: Connection) -> str:
        sql, values = _TAIL_TEXTS_SQLITE.sqlite_statement({"job_ids": ids, "limit": 2})
        assert values == ["\n", 2, *ids]
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(values)).all()
        return "\n".join(str(row[-1]) for row in rows)

    found = await store.db.read(plan)
    assert "SEARCH log_lines USING" in found and "TEMP B-TREE" not in found, found
    tails = await store.db.read(lambda conn: tail_texts(conn, job_ids=ids, limit=2))
    assert tails == dict.fromkeys(ids, "line 29\nline 30")


async def test_tail_texts_keep_seq_order_and_handle_short_and_empty_logs(store: Store) -> None:
    long, short, empty = [await make_job(store, lines=n) for n in (1_000, 3, 0)]
    texts = await store.logs.tail_texts(job_ids=[long.id, short.id, empty.id], limit=600)
    assert texts[long.id] == "\n".join(f"line {n}" for n in range(401, 1_001))
    assert texts[short.id] == "line 1\nline 2\nline 3"
    assert texts[empty.id] == ""
    assert await store.logs.tail_texts(job_ids=[long.id], limit=0) == {long.id: ""}


async def test_tails_of_known_ends_match_tail_texts(store: Store) -> None:
    long, short, empty = [await make_job(store, lines=n) for n in (1_000, 3, 0)]
    ids = [long.id, short.id, empty.id]

    def both(conn: Connection, limit: int) -> tuple[dict[str, str], dict[str, str]]:
        rows = conn.execute(select(jobs.c.id, jobs.c.last_seq).where(jobs.c.id.in_(ids))).all()
        ends = {job_id: last_seq for job_id, last_seq in rows}
        return (
            tail_texts_ending(conn, last_seqs=ends, limit=limit),
            tail_texts(conn, job_ids=ids, limit=limit),
        )

    for limit in (600, 2, 1, 0):
        ending, reference = await store.db.read(partial(both, limit=limit))
        assert ending == reference, limit
    ending, _ = await store.db.read(lambda conn: both(conn, 600))
    assert ending[long.id] == "\n".join(f"line {n}" for n in range(401, 1_001))
    assert ending[short.id] == "line 1\nline 2\nline 3"
    assert ending[empty.id] == ""


async def test_tails_of_known_ends_read_index_ranges_without_a_sort(store: Store) -> None:
    if not store.db.is_sqlite:
        return  # PostgreSQL takes tail_texts' statement, planned above
    made = [await make_job(store, lines=30) for _ in range(3)]

    def plan(conn: Connection) -> str:
        values = [value for job in made for value in (job.id, 28)]
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + _tail_ranges_sql(3), tuple(values))
        return "\n".join(str(row[-1]) for row in rows.all())

    found = await store.db.read(plan)
    assert "SEARCH log_lines USING" in found and "TEMP B-TREE" not in found, found
    assert "jobs" not in found, found
