"""The tail read goes through the (job_id, seq) index: proven by the query plan, not a timer."""

from __future__ import annotations

from sqlalchemy import Connection, select, text

from storage.store import Store
from storage.tables import log_lines
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
