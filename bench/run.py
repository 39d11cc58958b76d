"""The benchmark run: dataset, servers, interleaved rounds, ingest, the tables.

Floor (F) and jobgraph (J) run as separate processes on loopback; only one is under load at any
moment, and their measurements alternate F, J, F, J… so that noise from the machine (other
processes, CPU frequency) lands on both alike. Ratios within one run are what the targets use.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import orjson

from bench import bench_scaleout, extras, pg
from bench.dataset import Dataset, build_sync
from bench.ingest import (
    raw_asyncpg_lines_per_second,
    raw_sqlite_lines_per_second,
    store_level_lines_per_second,
)
from bench.load import LoadGenerator
from bench.queries import SchemaShape, append_logs_body, body, job_body, jobs_query
from bench.report import Series, Target, print_series, print_targets, ratio_range
from bench.servers import Server, start_floor, start_jobgraph

_ROTATION = 100  # the 50-line scenario cycles through this many different jobs
_BATCH = 500


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10, help="per measurement")
    parser.add_argument("--warmup", type=float, default=3, help="seconds per scenario and server")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--single-seconds", type=float, default=5)
    parser.add_argument("--ingest-seconds", type=float, default=5)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller dataset (200 jobs, 100k-line job): a smoke run",
    )
    parser.add_argument("--no-wrk", action="store_true", help="use the asyncio load generator")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--serve-args", default="", help="extra arguments for `app.py serve`")
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="both servers write uvicorn access logs (default: neither does)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument("--skip-reads", action="store_true", help="only the extra phases")
    parser.add_argument(
        "--pg",
        default=pg.DEFAULT_PG,
        metavar="URL",
        help="PostgreSQL for the PostgreSQL half (a scratch database is made beside it); "
        "the half is skipped, and says so, when it does not answer (default: %(default)s)",
    )
    parser.add_argument(
        "--only",
        choices=("sqlite", "pg"),
        help="run only the SQLite or only the PostgreSQL read benchmarks (no extra phases)",
    )
    parser.add_argument(
        "--skip-workers", action="store_true", help="skip the --workers 2 / --workers 1 rows"
    )
    extras.add_arguments(parser)
    bench_scaleout.add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="jobgraph-bench-"))
    try:
        return _run(args, workdir)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(args: argparse.Namespace, workdir: Path) -> int:
    if args.only == "pg":
        return _run_pg(args, workdir)
    status = 0 if args.skip_reads else _run_reads(args, workdir)
    if args.only == "sqlite":
        return status
    if not args.skip_reads:
        status = max(status, _run_pg(args, workdir))
    failures = extras.run(args, workdir)
    failures += bench_scaleout.run(args, workdir)
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if (failures and args.strict) else status


def _run_reads(args: argparse.Namespace, workdir: Path) -> int:
    size = {"jobs_count": 200, "big_lines": 100_000} if args.quick else {}
    data = build_sync(workdir, **size)
    load = LoadGenerator(use_wrk=not args.no_wrk)
    print(
        f"load: {load.name}, {args.connections} connections, {args.rounds} rounds x "
        f"{args.seconds:g} s, warm-up {args.warmup:g} s"
    )
    # Like for like: access logs on for both or (default) off for both.
    serve_args = ["--access-log" if args.access_log else "--no-access-log"]
    serve_args += shlex.split(args.serve_args)
    print(f"access logs: {'on' if args.access_log else 'off'} for both servers")
    floor = start_floor(workdir / "bench.db", workdir, access_log=args.access_log)
    jobgraph = start_jobgraph(data.database_url, workdir, serve_args)
    servers = (floor, jobgraph)
    try:
        probe = job_body(data.small_job_ids[0])
        for server in servers:
            server.wait_ready(probe, data.key)
        if not _same_answers(floor, jobgraph, data):
            return 2
        status = _measure(args, data, load, floor, jobgraph)
    finally:
        for server in servers:
            server.stop()
    if not args.skip_workers:
        result = pg.workers_ratio(args, workdir, "SQLite", data, load)
        targets = [_workers_target(result, 1.6)]
        _print_workers(result)
        print_targets(targets)
        if targets[0].verdict == "FAIL" and args.strict:
            status = 1
    return status


def _run_pg(args: argparse.Namespace, workdir: Path) -> int:
    """The PostgreSQL half: skipped (and said so) when ``--pg`` does not answer."""
    problem = pg.unreachable(args.pg)
    if problem is not None:
        print(f"\nPostgreSQL half SKIPPED: {args.pg} does not answer ({problem})")
        return 0
    target = pg.scratch(args.pg)
    print(f"\nPostgreSQL half: scratch database {target.name} beside {args.pg}")
    try:
        return _measure_pg(args, workdir, target)
    finally:
        target.drop()


def _measure_pg(args: argparse.Namespace, workdir: Path, target: pg.Scratch) -> int:
    data = pg.build_pg(workdir, target, quick=args.quick)
    load = LoadGenerator(use_wrk=not args.no_wrk)
    serve_args = ["--access-log" if args.access_log else "--no-access-log"]
    serve_args += shlex.split(args.serve_args)
    floor = pg.start_pg_floor(target.dsn, workdir, access_log=args.access_log)
    jobgraph = start_jobgraph(data.database_url, workdir, serve_args)
    servers = (floor, jobgraph)
    try:
        probe = job_body(data.small_job_ids[0])
        for server in servers:
            server.wait_ready(probe, data.key)
        if not _same_answers(floor, jobgraph, data):
            return 2
        small = [job_body(job_id) for job_id in data.small_job_ids[:_ROTATION]]
        shape = SchemaShape(jobgraph.post(SchemaShape.introspection_body(), data.key).json())
        query, jobs_note = jobs_query(shape)
        jobs_body = body(query)
        answer = jobgraph.post(jobs_body, data.key).json()
        if "errors" in answer:
            print(f"PostgreSQL jobs(first: 50) failed: {answer['errors'][0]}")
            return 2
        label = "job(id, tail: 100), 50-line job, PostgreSQL"
        plan: list[tuple[Series, Server, list[bytes]]] = [
            (Series(label, "asyncpg floor"), floor, small),
            (Series(label, "jobgraph"), jobgraph, small),
            (
                Series("jobs(first: 50), items, logTail 10, PostgreSQL", "jobgraph"),
                jobgraph,
                [jobs_body],
            ),
        ]
        _rounds(args, data, load, plan)
        ingest, ingest_note = _graphql_ingest(args, data, load, jobgraph, shape)
        ingest_floor = raw_asyncpg_lines_per_second(
            target.dsn, data.small_job_ids[-2], batch=_BATCH, seconds=args.ingest_seconds
        )
        rss = {server.name: server.peak_rss_mb() for server in servers}
    finally:
        for server in servers:
            server.stop()
    series = [item[0] for item in plan]
    print_series(series)
    print("peak RSS (VmHWM): " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in rss.items()))
    shown = f"{ingest:,.0f} lines/s ({ingest / ingest_floor:.2f} of the floor)" if ingest else "—"
    print(
        f"ingest, 500-line batches, 4 workers: raw asyncpg floor (lock, reserve, COPY, commit) "
        f"{ingest_floor:,.0f} lines/s, jobgraph's appendLogs {shown}"
    )
    floor_job, job, jobs_page = series
    share, low, high = ratio_range(job, floor_job)
    page, page_low, page_high = ratio_range(jobs_page, floor_job)
    targets = [
        Target(
            "PostgreSQL job(id, tail: 100): jobgraph / asyncpg floor",
            "≥ 0.40",
            share,
            0.40,
            f"{share:.2f} (rounds {low:.2f}-{high:.2f})",
        ),
        Target(
            "PostgreSQL jobs(first: 50) / asyncpg floor job(id, tail: 100)",
            "≥ 0.10",
            page,
            0.10,
            f"{page:.2f} (rounds {page_low:.2f}-{page_high:.2f})",
            jobs_note,
        ),
        Target(
            "appendLogs ingest, 500-line batches, PostgreSQL (GraphQL mutation)",
            "≥ 50,000 lines/s",
            ingest,
            50_000,
            f"{ingest:,.0f} lines/s" if ingest is not None else "",
            ingest_note,
        ),
    ]
    if not args.skip_workers:
        result = pg.workers_ratio(args, workdir, "PostgreSQL", data, load, target=target)
        _print_workers(result)
        targets.append(_workers_target(result, None))
    print_targets(targets)
    failed = any(target.verdict == "FAIL" for target in targets)
    return 1 if failed and args.strict else 0


def _rounds(
    args: argparse.Namespace,
    data: Dataset,
    load: LoadGenerator,
    plan: list[tuple[Series, Server, list[bytes]]],
) -> None:
    if args.warmup > 0:
        for _series, server, bodies in plan:
            load.run(
                server.port, bodies, data.key, connections=args.connections, seconds=args.warmup
            )
    for round_number in range(1, args.rounds + 1):
        print(f"round {round_number}/{args.rounds} …", flush=True)
        for series, server, bodies in plan:
            result = load.run(
                server.port, bodies, data.key, connections=args.connections, seconds=args.seconds
            )
            series.results.append(result)


def _print_workers(result: pg.WorkersResult) -> None:
    print_series([result.one, result.two])
    for workers, (server_cpu, db_cpu, busy) in sorted(result.cpu.items()):
        database = f", its database's backends {db_cpu:.2f}" if result.label != "SQLite" else ""
        print(
            f"{result.label} --workers {workers}: cores used by jobgraph {server_cpu:.2f}"
            f"{database}, by the whole machine {busy:.2f} of {os.cpu_count()}"
        )


def _workers_target(result: pg.WorkersResult, threshold: float | None) -> Target:
    ratio, low, high = ratio_range(result.two, result.one)
    shown = f"{ratio:.2f} (rounds {low:.2f}-{high:.2f})"
    if threshold is None:
        server_cpu, db_cpu, busy = result.cpu.get(2, (0.0, 0.0, 0.0))
        note = (
            f"with 2 workers: jobgraph {server_cpu:.2f} cores, the database {db_cpu:.2f}, "
            f"the whole machine {busy:.2f} of {os.cpu_count()}"
        )
        return Target(
            f"--workers 2 / --workers 1, {result.label}", "report", ratio, 0, shown, note, True
        )
    return Target(
        f"--workers 2 / --workers 1, {result.label}", f"≥ {threshold:.1f}", ratio, threshold, shown
    )


def _same_answers(floor: Server, jobgraph: Server, data: Dataset) -> bool:
    for job_id in (data.small_job_ids[1], data.big_job_id):
        answers = [server.post(job_body(job_id), data.key).json() for server in (floor, jobgraph)]
        if answers[0] != answers[1] or "errors" in answers[1]:
            print(f"floor and jobgraph disagree for job {job_id}:")
            for name, answer in zip(("floor", "jobgraph"), answers, strict=True):
                print(f"  {name}: {orjson.dumps(answer).decode()[:600]}")
            return False
    print("floor and jobgraph return the same JSON for job(id, tail: 100)")
    return True


def _measure(
    args: argparse.Namespace, data: Dataset, load: LoadGenerator, floor: Server, jobgraph: Server
) -> int:
    small = [job_body(job_id) for job_id in data.small_job_ids[:_ROTATION]]
    big = [job_body(data.big_job_id)]
    big_label = f"job(id, tail: 100), {data.big_lines:,}-line job"
    shape = SchemaShape(jobgraph.post(SchemaShape.introspection_body(), data.key).json())

    plan: list[tuple[Series, Server, list[bytes]]] = [
        (Series("job(id, tail: 100), 50-line job", "floor"), floor, small),
        (Series("job(id, tail: 100), 50-line job", "jobgraph"), jobgraph, small),
        (Series(big_label, "floor"), floor, big),
        (Series(big_label, "jobgraph"), jobgraph, big),
    ]
    jobs_note = ""
    if "jobs" in shape.query:
        query, jobs_note = jobs_query(shape)
        answer = jobgraph.post(body(query), data.key).json()
        if "errors" in answer:
            jobs_note = f"skipped: {answer['errors'][0].get('message')}"
            print(f"jobs(first: 50) scenario {jobs_note}")
        else:
            plan.append(
                (Series("jobs(first: 50), items, logTail 10", "jobgraph"), jobgraph, [body(query)])
            )
    else:
        jobs_note = "the server's schema has no jobs query"
        print(f"jobs(first: 50) scenario skipped: {jobs_note}")

    if args.warmup > 0:
        for _series, server, bodies in plan:
            load.run(
                server.port, bodies, data.key, connections=args.connections, seconds=args.warmup
            )
    for round_number in range(1, args.rounds + 1):
        print(f"round {round_number}/{args.rounds} …", flush=True)
        for series, server, bodies in plan:
            result = load.run(
                server.port, bodies, data.key, connections=args.connections, seconds=args.seconds
            )
            series.results.append(result)

    singles = {
        server.name: load.run(
            server.port, small, data.key, connections=1, seconds=args.single_seconds
        )
        for server in (floor, jobgraph)
    }
    ingest_store = store_level_lines_per_second(
        data.database_url, data.small_job_ids[-1], batch=_BATCH, seconds=args.ingest_seconds
    )
    ingest_raw = raw_sqlite_lines_per_second(
        data.database_url.split("///", 1)[1],
        data.small_job_ids[-2],
        batch=_BATCH,
        seconds=args.ingest_seconds,
    )
    ingest_graphql, ingest_note = _graphql_ingest(args, data, load, jobgraph, shape)
    rss = {server.name: server.peak_rss_mb() for server in (floor, jobgraph)}

    series = [item[0] for item in plan]
    print_series(series)
    print(
        "\nsingle connection p50: "
        + ", ".join(f"{name} {result.p50_ms:.2f} ms" for name, result in singles.items())
    )
    print(
        f"ingest, 500-line batches: raw sqlite3 floor {ingest_raw:,.0f} lines/s, "
        f"store level {ingest_store:,.0f} lines/s ({ingest_store / ingest_raw:.2f} of the floor)"
    )
    print("peak RSS (VmHWM): " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in rss.items()))
    targets = _targets(series, ingest_store, ingest_graphql, jobs_note, ingest_note)
    print_targets(targets)
    failed = any(target.verdict == "FAIL" for target in targets)
    return 1 if failed and args.strict else 0


def _graphql_ingest(
    args: argparse.Namespace,
    data: Dataset,
    load: LoadGenerator,
    jobgraph: Server,
    shape: SchemaShape,
) -> tuple[float | None, str]:
    if "appendLogs" not in shape.mutation or "claimJob" not in shape.mutation:
        note = "the server's schema has no appendLogs/claimJob mutation"
        print(f"appendLogs over GraphQL skipped: {note}")
        return None, note
    lease = ", leaseSeconds: 3600" if "leaseSeconds" in shape.mutation["claimJob"] else ""
    claim = jobgraph.post(
        body(f'mutation {{ claimJob(workerId: "bench-worker"{lease}) {{ id }} }}'), data.key
    ).json()
    job = (claim.get("data") or {}).get("claimJob")
    if not job:
        note = f"claimJob returned no job: {claim.get('errors')}"
        print(f"appendLogs over GraphQL skipped: {note}")
        return None, note
    batch = append_logs_body(job["id"], "bench-worker", _BATCH)
    check = jobgraph.post(batch, data.key).json()
    if "errors" in check:
        note = f"appendLogs failed: {check['errors'][0].get('message')}"
        print(f"appendLogs over GraphQL skipped: {note}")
        return None, note
    # A few workers appending at once, as a pipeline's workers do; every batch is one request.
    result = load.run(jobgraph.port, [batch], data.key, connections=4, seconds=args.ingest_seconds)
    return result.rps * _BATCH, f"4 workers, p50 {result.p50_ms:.1f} ms per batch"


def _targets(
    series: list[Series],
    ingest_store: float,
    ingest_graphql: float | None,
    jobs_note: str,
    ingest_note: str,
) -> list[Target]:
    floor50, jobgraph50, _, jobgraph_big = series[:4]
    share, low, high = ratio_range(jobgraph50, floor50)
    big_share, big_low, big_high = ratio_range(jobgraph_big, jobgraph50)
    targets = [
        Target(
            "job(id, tail: 100): jobgraph / floor",
            "≥ 0.30",
            share,
            0.30,
            f"{share:.2f} (rounds {low:.2f}-{high:.2f})",
        ),
        Target(
            "job(id, tail: 100): 1M-line job / 50-line job",
            "≥ 0.80",
            big_share,
            0.8,
            f"{big_share:.2f} (rounds {big_low:.2f}-{big_high:.2f})",
        ),
    ]
    jobs = [s for s in series if s.scenario.startswith("jobs(")]
    if jobs:
        jobs_share, jobs_low, jobs_high = ratio_range(jobs[0], floor50)
        targets.append(
            Target(
                "jobs(first: 50) / floor job(id, tail: 100)",
                "≥ 0.10",
                jobs_share,
                0.10,
                f"{jobs_share:.2f} (rounds {jobs_low:.2f}-{jobs_high:.2f})",
                jobs_note,
            )
        )
    else:
        targets.append(
            Target(
                "jobs(first: 50) / floor job(id, tail: 100)", "≥ 0.10", None, 0.10, "", jobs_note
            )
        )
    targets.append(
        Target(
            "appendLogs ingest, 500-line batches, SQLite (store level)",
            "≥ 50,000 lines/s",
            ingest_store,
            50_000,
            f"{ingest_store:,.0f} lines/s",
        )
    )
    targets.append(
        Target(
            "appendLogs ingest, 500-line batches, SQLite (GraphQL mutation)",
            "≥ 50,000 lines/s",
            ingest_graphql,
            50_000,
            f"{ingest_graphql:,.0f} lines/s" if ingest_graphql is not None else "",
            ingest_note,
        )
    )
    return targets
