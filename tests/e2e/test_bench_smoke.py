"""`make bench`'s harness on a tiny dataset: the floor and jobgraph answer the same JSON, the
load generator drives both, the tables print. No timing assertions."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from bench.dataset import build
from bench.load import LoadGenerator
from bench.queries import SchemaShape, job_body, jobs_query
from bench.report import Series, Target, print_series, print_targets
from bench.servers import start_floor, start_jobgraph

pytestmark = pytest.mark.e2e


async def test_floor_and_jobgraph_agree_and_take_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = await build(tmp_path, jobs_count=3, lines=5, big_lines=300, batch=100, quiet=True)
    floor = start_floor(tmp_path / "bench.db", tmp_path, access_log=False)
    jobgraph = start_jobgraph(data.database_url, tmp_path, [])
    try:
        for server in (floor, jobgraph):
            server.wait_ready(job_body(data.small_job_ids[0]), data.key)
        for job_id in (data.small_job_ids[1], data.big_job_id):
            answers = [s.post(job_body(job_id), data.key).json() for s in (floor, jobgraph)]
            assert "errors" not in answers[1]
            assert answers[0] == answers[1]
        big = floor.post(job_body(data.big_job_id), data.key).json()["data"]["job"]
        assert len(big["logTail"].split("\n")) == 100
        assert floor.post(job_body(data.big_job_id), "jg_wrong").status_code == 401

        shape = SchemaShape(jobgraph.post(SchemaShape.introspection_body(), data.key).json())
        assert {"job"} <= set(shape.query)
        query, _ = jobs_query(shape)
        assert query.startswith("{ jobs(first: 50")

        # The asyncio generator (no wrk needed here): requests flow, none fail.
        load = LoadGenerator(use_wrk=False)
        bodies = [job_body(job_id) for job_id in data.small_job_ids]
        series = Series("job(id, tail: 100)", "jobgraph")
        series.results.append(load.run(jobgraph.port, bodies, data.key, connections=2, seconds=1))
        assert series.results[0].requests > 0 and series.errors == 0
        assert floor.peak_rss_mb() > 0 and jobgraph.peak_rss_mb() > 0
    finally:
        floor.stop()
        jobgraph.stop()

    print_series([series])
    print_targets([Target("ratio", ">= 0.25", 0.3, 0.25, "0.30"), Target("x", "-", None, 1, "")])
    printed = capsys.readouterr().out
    assert "| job(id, tail: 100) | jobgraph |" in printed
    assert "| ratio | >= 0.25 | 0.30 | PASS |" in printed and "SKIP" in printed


async def test_postgresql_floor_and_jobgraph_agree(tmp_path: Path) -> None:
    """The PostgreSQL half: a scratch database beside the test database, the asyncpg floor and
    jobgraph on it answer the same JSON; the ingest floor appends."""
    from bench import pg
    from bench.ingest import raw_asyncpg_lines_per_second
    from tests.conftest import IN_CI, PG_ADMIN_URL, _pg_reachable

    problem = await _pg_reachable()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {problem}")
        pytest.skip(f"PostgreSQL unreachable ({problem})")
    target = pg.Scratch(
        pg.asyncpg_dsn(PG_ADMIN_URL), f"jobgraph_bench_smoke_{uuid.uuid4().hex[:6]}"
    )
    await asyncio.to_thread(target.create)
    try:
        data = await build(
            tmp_path,
            jobs_count=3,
            lines=5,
            big_lines=300,
            batch=100,
            quiet=True,
            database_url=target.url,
        )
        floor = pg.start_pg_floor(target.dsn, tmp_path, access_log=False)
        jobgraph = start_jobgraph(data.database_url, tmp_path, [])
        try:
            for server in (floor, jobgraph):
                server.wait_ready(job_body(data.small_job_ids[0]), data.key)
            for job_id in (data.small_job_ids[1], data.big_job_id):
                answers = [s.post(job_body(job_id), data.key).json() for s in (floor, jobgraph)]
                assert "errors" not in answers[1]
                assert answers[0] == answers[1]
            assert floor.post(job_body(data.big_job_id), "jg_wrong").status_code == 401
            assert set(await asyncio.to_thread(target.backend_pids))
        finally:
            floor.stop()
            jobgraph.stop()
        rate = await asyncio.to_thread(
            raw_asyncpg_lines_per_second, target.dsn, data.small_job_ids[0], seconds=0.5
        )
        assert rate > 0
    finally:
        await asyncio.to_thread(target.drop)


def test_live_bench_rows_run_end_to_end() -> None:
    # bench.bench_live on a handful of sockets: every row runs, every line arrives in order.
    from bench.bench_live import run_rows

    table, failures = run_rows(
        ("logs", "batches", "jobs", "idle"),
        seconds=1,
        drain=30,
        processes=1,
        idle_count=20,
        fan_out_subscribers=5,
        jobs=3,
    )
    assert len(table) == 6
    assert "failed" not in "\n".join(table)
    assert "250 of 250 lines, in order, 5/5 completed" in table[2]  # 50 lines/s for 1 s
    assert "30 of 30 lines, in order, 6/6 completed" in table[4]
    for failure in failures:  # only timing targets may miss on a busy machine
        assert "lost 0" in failure or failure.startswith("idle")
