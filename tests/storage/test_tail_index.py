"""Tails within an allowance (storage.tails): the newest whole lines that fit, read through the
(job_id, seq) index on both databases, plain and windowed answering alike; proven by query
plans and by a reference model, not by timers."""

from __future__ import annotations

import random
from collections.abc import Mapping
from functools import partial

from sqlalchemy import Connection, text

from storage.coltypes import utcnow
from storage.logs import append_lines
from storage.records import Allowance, TailText
from storage.store import Store
from storage.tails import (
    _PG_PLAIN,
    _PG_WINDOWED,
    _sqlite_batch_sql,
    read_limit,
    read_tails,
    windowed_tails,
)
from tests.factories import make_job

WIDEST = 16_385  # the default message cap and its newline
ROOMY = Allowance(lines=50_000, bytes=8 * 1024 * 1024)


async def job_with(store: Store, messages: list[str]) -> tuple[str, int]:
    job = await make_job(store, items=1)
    if messages:
        lines = [(utcnow(), "INFO", message) for message in messages]
        await store.db.write(partial(append_lines, job_id=job.id, lines=lines))
    return job.id, len(messages)


def reference(messages: list[str], *, limit: int, share: Allowance) -> TailText:
    """What a tail must be: the newest lines, at most ``limit`` and the share's lines, whose
    bytes (one newline each) fit the share's bytes; truncated when fewer than asked."""
    kept: list[str] = []
    spent = 0
    for message in reversed(messages[len(messages) - min(limit, len(messages)) :]):
        cost = len(message.encode()) + 1
        if len(kept) == share.lines or spent + cost > share.bytes:
            break
        kept.append(message)
        spent += cost
    kept.reverse()
    return TailText("\n".join(kept), len(kept), spent, len(kept) < min(limit, len(messages)))


def _tails(
    conn: Connection, ends: Mapping[str, int], limit: int, allowance: Allowance
) -> dict[str, TailText]:
    return read_tails(conn, ends=ends, limit=limit, allowance=allowance, widest=WIDEST)


async def test_a_tail_keeps_the_newest_whole_lines_that_fit(store: Store) -> None:
    job_id, last = await job_with(
        store, [f"{n:03d}" + "x" * 97 for n in range(1, 51)]
    )  # 101 B a line

    async def tail(limit: int, allowance: Allowance) -> TailText:
        return await store.db.read(
            lambda conn: _tails(conn, {job_id: last}, limit, allowance)[job_id]
        )

    whole = await tail(50, ROOMY)
    assert (whole.lines, whole.bytes, whole.truncated) == (50, 5050, False)
    assert whole.text.split("\n")[0].startswith("001")
    cut = await tail(50, Allowance(lines=50_000, bytes=1010))  # ten lines exactly
    assert (cut.lines, cut.bytes, cut.truncated) == (10, 1010, True)
    assert cut.text.split("\n") == [f"{n:03d}" + "x" * 97 for n in range(41, 51)]
    assert (await tail(50, Allowance(lines=50_000, bytes=1009))).lines == 9
    assert (await tail(50, Allowance(lines=3, bytes=10**9))).text.startswith("048")
    assert await tail(50, Allowance(lines=0, bytes=0)) == TailText("", 0, 0, True)
    assert await tail(5, Allowance(lines=5, bytes=505)) == TailText(
        "\n".join(f"{n:03d}" + "x" * 97 for n in range(46, 51)), 5, 505, False
    )
    assert await tail(0, ROOMY) == TailText("", 0, 0, False)


async def test_windowed_and_plain_reads_agree_with_the_reference(store: Store) -> None:
    """Random logs (empty, multi-byte, newline-holding messages) and allowances: whichever
    statement reads a tail, it is the reference's."""
    rng = random.Random(17)
    alphabet = ["a", "é", "日", "🎬", "\n", "\\", '"', "'", "%", "_"]
    logs: dict[str, list[str]] = {}
    # Some logs longer than a windowed read's first look (storage.tails.PROBE_LINES).
    for count in (0, 1, 7, 40, 59, 150, 220):
        messages = [
            "".join(rng.choices(alphabet, k=rng.choice([0, 1, 3, 40, 300]))) for _ in range(count)
        ]
        job_id, _ = await job_with(store, messages)
        logs[job_id] = messages
    ends = {job_id: len(messages) for job_id, messages in logs.items()}
    for _ in range(40):
        limit = rng.choice([0, 1, 5, 30, 100, 200])
        allowance = Allowance(lines=rng.randrange(0, 1500), bytes=rng.randrange(0, 200_000))
        share = allowance.share(len(ends))
        for widest in (1, 10**6):  # plain where it is exact, windowed otherwise
            got = await store.db.read(
                partial(read_tails, ends=ends, limit=limit, allowance=allowance, widest=widest)
            )
            for job_id, messages in logs.items():
                assert got[job_id] == reference(messages, limit=limit, share=share), (
                    limit,
                    allowance,
                    widest,
                    messages,
                )
        with_lines = {job_id: last for job_id, last in ends.items() if last}
        forced = await store.db.read(
            partial(windowed_tails, ends=with_lines, limit=limit, share=share)
        )
        for job_id, tail in forced.items():
            assert tail == reference(logs[job_id], limit=limit, share=share)


async def test_a_tail_ends_at_the_last_seq_read_with_the_job(store: Store) -> None:
    job_id, _ = await job_with(store, [f"m{n}" for n in range(1, 21)])
    tail = await store.db.read(lambda conn: _tails(conn, {job_id: 12}, 3, ROOMY))
    assert tail[job_id] == TailText("m10\nm11\nm12", 3, 12, False)


async def test_a_line_over_the_cap_is_read_again_windowed(store: Store) -> None:
    """A plain read promises the share only for lines within the cap; a longer line (written
    before the cap was lowered) sends the job to the windowed read."""
    job_id, last = await job_with(store, ["a" * 100, "b" * 5000, "c" * 100])
    got = await store.db.read(
        lambda conn: read_tails(
            conn,
            ends={job_id: last},
            limit=3,
            allowance=Allowance(lines=100, bytes=3000),
            widest=101,  # a cap of 100 bytes: three lines "cannot" exceed 303
        )
    )
    assert got[job_id] == TailText("c" * 100, 1, 101, True)


def _plan(conn: Connection, *, job_id: str, last: int, windowed: bool) -> str:
    if conn.dialect.name == "sqlite":
        values = [job_id, last, *((10_000, 512, 8 * 2**20) if windowed else (100,))]
        sql = _sqlite_batch_sql(1, windowed=windowed)
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(values)).all()
        return "\n".join(str(row[-1]) for row in rows)
    conn.execute(text("ANALYZE log_lines"))
    params = {"job_ids": [job_id], "last_seqs": [last]}
    if windowed:
        statement, params = _PG_WINDOWED, {**params, "read": 10_000, "lines": 512, "bytes": 2**23}
    else:
        statement, params = _PG_PLAIN, {**params, "limit": 100}
    rows = conn.execute(text("EXPLAIN " + statement.text), params).all()
    return "\n".join(str(row[0]) for row in rows)


async def test_tails_read_the_index_from_the_end_on_200k_lines(store: Store) -> None:
    job = await make_job(store, lines=200_000, batch=20_000)
    await make_job(store, lines=1_000)  # another job's lines share the table
    for form in (False, True):
        plan = await store.db.write(partial(_plan, job_id=job.id, last=job.last_seq, windowed=form))
        if store.db.is_sqlite:
            # e.g. "SEARCH log_lines USING INDEX sqlite_autoindex_log_lines_1 (job_id=? AND ..."
            assert "SEARCH log_lines USING" in plan and "INDEX" in plan, plan
            assert "SCAN log_lines" not in plan, plan
            # The window runs in index order; only the lines kept are put back in seq order.
            assert plan.count("TEMP B-TREE") == (1 if form else 0), plan
        else:
            assert "Index" in plan and "log_lines_pkey" in plan, plan
            assert "Seq Scan" not in plan, plan
    tail = await store.db.read(lambda conn: _tails(conn, {job.id: job.last_seq}, 3, ROOMY))
    assert tail[job.id].text == "line 199998\nline 199999\nline 200000"
    windowed = await store.db.read(
        lambda conn: _tails(conn, {job.id: job.last_seq}, 10_000, Allowance(2, 100))
    )
    assert windowed[job.id] == TailText("line 199999\nline 200000", 2, 24, True)


async def test_tails_of_many_jobs_share_the_allowance_equally(store: Store) -> None:
    long, short, empty = [
        await job_with(store, [f"line {n}" for n in range(1, count + 1)]) for count in (1_000, 3, 0)
    ]
    ends = dict([long, short, empty])
    tails = await store.db.read(lambda conn: _tails(conn, ends, 600, ROOMY))
    assert tails[long[0]].text == "\n".join(f"line {n}" for n in range(401, 1_001))
    assert tails[short[0]] == TailText("line 1\nline 2\nline 3", 3, 21, False)
    assert tails[empty[0]] == TailText("", 0, 0, False)
    # 30 lines between three jobs: ten each, whatever the others leave unused.
    tails = await store.db.read(lambda conn: _tails(conn, ends, 600, Allowance(30, 10**6)))
    assert (tails[long[0]].lines, tails[long[0]].truncated) == (10, True)
    assert tails[short[0]].lines == 3 and not tails[short[0]].truncated


def test_a_windowed_read_looks_one_line_past_its_share() -> None:
    assert read_limit(limit=10_000, share=Allowance(50_000, 8 * 2**20)) == 10_000
    assert read_limit(limit=10_000, share=Allowance(500, 8 * 2**20)) == 501
    assert read_limit(limit=10_000, share=Allowance(500, 20)) == 21
    assert read_limit(limit=10_000, share=Allowance(0, 0)) == 1
