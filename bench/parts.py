"""What each part of the engine buys: CPU per request with the fast paths on, with one part
turned off at a time, and with all of them off.

    python -m bench.parts [--rounds 3] [--requests 1000]

Each variant runs in its own process: it builds the app (one part replaced by its stock
counterpart, as ``JOBGRAPH_FAST_PATHS=false`` would replace it), sends requests straight to the
ASGI app (no sockets: the HTTP parsing is the same for every variant) and reports the process's
CPU time per request — the reader thread's included. Rounds interleave the variants, so noise
from the machine lands on all of them alike; the table shows each variant's median against the
"all on" median of the same run. The HTTP write coalescing (``engine.http``) only shows on a
real socket: ``--http`` measures it with wrk against two uvicorn processes, one with each
protocol, the rest of the fast paths on in both. ``--tracing`` adds two variants with
OpenTelemetry on (all fast paths on too), exporting over OTLP/HTTP to a local sink: one with
1 % of requests sampled, one with every request sampled; ``--tracing-only`` runs just those
and "all on".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.queries import JOB_FIELDS, append_logs_body, body, job_body

PARTS: dict[str, str] = {
    "all on": "",
    "executor (answers, codegen)": "executor",
    "direct resolvers": "resolvers",
    "variables": "variables",
    "lookahead": "lookahead",
    "hooks runner": "hooks",
    "JSON POST lane": "lane",
    "raw SQLite statements": "sql",
    "SQLite reads, page document": "reads",
    "datetimes": "datetimes",
    "gc thresholds": "gc",
    "all off": "off",
}
TRACING: dict[str, str] = {
    "tracing on, 1 % sampled": "trace-0.01",
    "tracing on, every request": "trace-1.0",
}
PAGE = f"{{ jobs(first: 50, tail: 10) {{ edges {{ node {{ {JOB_FIELDS} }} }} }} }}"


def _turn_off(part: str) -> None:
    """Replace one part by its stock counterpart, before the app is built."""
    import engine
    import schema.lookahead
    import server.graphql_view
    import storage.coltypes
    import storage.database
    import storage.jobs
    import storage.logs
    import storage.tails
    from engine import codegen, compat, sql
    from engine.executor import FastExecutionContext

    if part == "executor":
        engine.FastExecutionContext = compat.EventSafeExecutionContext  # type: ignore[misc]
    elif part == "resolvers":
        engine.resolvers.install = lambda _schema: None
    elif part == "variables":
        FastExecutionContext.coerce_fast = classmethod(lambda cls, *_: {})  # type: ignore[method-assign,assignment]
    elif part == "lookahead":
        engine.lookahead.selected_names = schema.lookahead.public_selected_names
    elif part == "hooks":
        from strawberry.extensions.runner import SchemaExtensionsRunner

        engine.hooks_runner = lambda _schema: SchemaExtensionsRunner
    elif part == "lane":

        async def stock(view: Any, request: Any, _body: Any) -> Any:
            return await view.run(request)

        server.graphql_view.run_json_post = stock  # type: ignore[assignment]
    elif part == "sql":
        sql.fast_paths = lambda _conn: False
        storage.logs.fast_paths = lambda _conn: False  # type: ignore[assignment]
        storage.tails.fast_paths = lambda _conn: False  # type: ignore[assignment]
    elif part == "reads":
        storage.database.SqliteReads = lambda *_a, **_k: None  # type: ignore[assignment,misc]
    elif part == "datetimes":
        from datetime import datetime

        codegen.isoformat = datetime.isoformat
        storage.jobs.job_timestamp = storage.coltypes.utc_from_stored


async def _measure(part: str, directory: Path, requests: int) -> dict[str, float]:
    if part == "off":
        os.environ["JOBGRAPH_FAST_PATHS"] = "false"
    elif part.startswith("trace-"):
        os.environ.update(
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_TRACES_SAMPLER="traceidratio",
            OTEL_TRACES_SAMPLER_ARG=part.removeprefix("trace-"),
        )
    else:
        _turn_off(part)
    from app import create_app
    from engine.gc import tune_for_serving
    from settings import Settings

    meta = json.loads((directory / "meta.json").read_text())
    settings = Settings(
        database_url=meta["url"], env="development", access_log=False, rate_limit_per_second=0
    )
    app = create_app(settings)
    key = meta["key"].encode()

    async def call(payload: bytes) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "POST",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "root_path": "",
            "scheme": "http",
            "query_string": b"",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 5000),
            "headers": [
                (b"host", b"bench"),
                (b"content-type", b"application/json"),
                (b"x-api-key", key),
                (b"content-length", str(len(payload)).encode()),
            ],
            "state": {},
        }
        sent: list[dict[str, Any]] = []
        received = False

        async def receive() -> dict[str, Any]:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": payload, "more_body": False}
            await asyncio.Event().wait()
            raise AssertionError

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    results: dict[str, float] = {}
    async with app.router.lifespan_context(app):
        if part not in ("gc", "off"):
            tune_for_serving(settings.gc_gen0_threshold)
        jobs = meta["small"]
        claim = body('mutation { claimJob(workerId: "parts", leaseSeconds: 3600) { id } }')
        status, answer = await call(claim)
        assert status == 200, answer
        job_id = json.loads(answer)["data"]["claimJob"]["id"]
        scenarios: list[tuple[str, Callable[[int], bytes], int]] = [
            ("job(id, tail: 100)", lambda i: job_body(jobs[i % len(jobs)], 100), requests),
            ("jobs(first: 50)", lambda _i: body(PAGE), requests // 4),
            ("appendLogs, 500 lines", lambda _i: append_logs_body(job_id, "parts", 500), 40),
        ]
        for name, make, count in scenarios:
            for index in range(min(count, 100)):
                status, answer = await call(make(index))
                assert status == 200, (name, answer[:200])
            started = time.process_time()
            for index in range(count):
                await call(make(index))
            results[name] = (time.process_time() - started) / count * 1e6
    return results


def _dataset(directory: Path) -> None:
    from bench.dataset import build_sync

    data = build_sync(directory, jobs_count=1000, big_lines=1000, quiet=True)
    meta = {"url": data.database_url, "key": data.key, "small": data.small_job_ids[:200]}
    (directory / "meta.json").write_text(json.dumps(meta))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.parts", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--tracing", action="store_true", help="add the tracing variants")
    parser.add_argument(
        "--tracing-only", action="store_true", help="only 'all on' and the tracing variants"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--directory", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(asyncio.run(_measure(args.one, Path(args.directory), args.requests))))
        return 0
    variants = {**PARTS, **TRACING} if args.tracing else PARTS
    if args.tracing_only:
        variants = {"all on": "", **TRACING}
    with tempfile.TemporaryDirectory(prefix="jobgraph-parts-") as tmp, _trace_sink() as sink:
        directory = Path(tmp)
        _dataset(directory)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}/{args.rounds} …", flush=True)
            for name, part in variants.items():
                fresh = directory / f"round{round_number}-{part or 'on'}"
                fresh.mkdir()
                _copy_database(directory, fresh)
                output = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bench.parts",
                        "--one",
                        part,
                        "--directory",
                        str(fresh),
                        "--requests",
                        str(args.requests),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=_environment(part, sink),
                )
                runs[name].append(json.loads(output.stdout.strip().splitlines()[-1]))
        _print(runs)
    return 0


def _environment(part: str, sink: str) -> dict[str, str]:
    """The variant's environment: tracing variants export to the sink; every other variant runs
    with no OpenTelemetry variable at all, so tracing stays off."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    if part.startswith("trace-"):
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = sink
    return env


@contextmanager
def _trace_sink() -> Iterator[str]:
    """An OTLP/HTTP receiver on loopback that takes every export and keeps nothing, so the
    traced variants pay for building, batching, encoding and sending their spans."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    finally:
        server.shutdown()
        server.server_close()


def _copy_database(source: Path, target: Path) -> None:
    """Each variant works on its own copy: appends change the database."""
    import shutil
    import sqlite3

    meta = json.loads((source / "meta.json").read_text())
    database = Path(meta["url"].split("///", 1)[1])
    copy = target / database.name
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(database, copy)
    meta.update(url=f"sqlite+aiosqlite:///{copy}")
    (target / "meta.json").write_text(json.dumps(meta))


def _print(runs: dict[str, list[dict[str, float]]]) -> None:
    scenarios = list(runs["all on"][0])
    base = {name: statistics.median(r[name] for r in runs["all on"]) for name in scenarios}
    header = " | ".join(f"{name}: µs CPU (vs all on)" for name in scenarios)
    print(f"\n| variant (one part turned off, or tracing on) | {header} |")
    print("| --- |" + " ---: |" * len(scenarios))
    for part, results in runs.items():
        cells = []
        for name in scenarios:
            values = [r[name] for r in results]
            median = statistics.median(values)
            change = (median / base[name] - 1) * 100
            cells.append(
                f"{median:,.0f} ({change:+.0f} %)" if part != "all on" else f"{median:,.0f}"
            )
        print(f"| {part} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
