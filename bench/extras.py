"""The benchmarks other issues add to `make bench`: live fan-out, live updates at scale
(``bench.bench_live``) and the mixed load.

Both run against their own jobgraph process on a fresh SQLite database (the fan-out bench
claims the oldest pending job and must find its own), after the read benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

from bench import bench_live, bench_subscribers, load_mix
from bench.servers import ROOT, Server, start_jobgraph

PROBE = b'{"query": "{ me { name } }"}'
_SCOPES = "read,submit,work"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skip-live", action="store_true", help="skip the jobLogs fan-out bench")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--lines-per-second", type=int, default=1000)
    parser.add_argument("--live-seconds", type=float, default=5)
    parser.add_argument("--live-drain", type=float, default=60, help="seconds to wait for delivery")
    parser.add_argument(
        "--skip-live-scale", action="store_true", help="skip the live-updates-at-scale rows"
    )
    parser.add_argument(
        "--live-rows", default=",".join(bench_live.ROWS), help="live-updates-at-scale rows to run"
    )
    parser.add_argument("--skip-mix", action="store_true", help="skip the mixed load")
    parser.add_argument("--mix-clients", type=int, default=50)
    parser.add_argument("--mix-seconds", type=float, default=60)


def _fresh_server(workdir: Path, name: str) -> tuple[Server, str]:
    database_url = f"sqlite+aiosqlite:///{workdir}/{name}.db"
    env = {"JOBGRAPH_DATABASE_URL": database_url}
    key = subprocess.run(
        [sys.executable, "app.py", "keys", "create", "--name", name, "--scopes", _SCOPES],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    server = start_jobgraph(database_url, workdir, ["--no-access-log"])
    server.wait_ready(PROBE, key)
    return server, key


def run(args: argparse.Namespace, workdir: Path) -> list[str]:
    """Runs the phases asked for; returns failed checks (empty when all passed)."""
    failures: list[str] = []
    if not args.skip_live:
        server, key = _fresh_server(workdir, "live")
        try:
            result = asyncio.run(
                bench_subscribers.run(
                    server.url,
                    key,
                    subscribers=args.subscribers,
                    lines_per_second=args.lines_per_second,
                    seconds=args.live_seconds,
                    server_pid=server.process.pid,
                    drain_seconds=args.live_drain,
                )
            )
        finally:
            server.stop()
        print(
            f"\njobLogs fan-out: {args.subscribers} subscribers, {args.lines_per_second} lines/s "
            f"for {args.live_seconds:g} s (appends achieved "
            f"{result['achieved_lines_per_second']:.0f} lines/s)"
        )
        print(
            f"  delivered {result['delivered_fraction']:.1%} of "
            f"{result['lines'] * result['subscribers']:,.0f} messages within the drain window, "
            f"{result['delivered_messages_per_second']:,.0f} messages/s; latency p50 "
            f"{result['latency_p50_ms']:,.0f} ms, p99 {result['latency_p99_ms']:,.0f} ms; "
            f"server peak RSS {result['server_peak_rss_mb']:.0f} MB"
        )
    if not args.skip_live_scale:
        table, live_failures = bench_live.run_rows(tuple(args.live_rows.split(",")))
        print("\nLive updates at scale (bench.bench_live):")
        print("\n".join(table))
        failures += live_failures
    if not args.skip_mix:
        server, key = _fresh_server(workdir, "mix")
        try:
            mix = asyncio.run(load_mix.run(server.url, key, args.mix_seconds, args.mix_clients))
        finally:
            server.stop()
        print(
            f"\nmixed load: {mix['clients']} clients for {mix['seconds']:g} s, "
            f"{mix['requests_per_second']:,.0f} operations/s, errors {mix['errors']}, "
            f"lost lines {mix['lost_lines']} of {mix['acknowledged_lines']:,} acknowledged"
        )
        print(f"  {'operation':<12} {'count':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for name, op in mix["operations"].items():
            print(f"  {name:<12} {op['count']:>8} {op['p50_ms']:>8.1f} {op['p99_ms']:>8.1f}")
        for sample in mix["error_samples"]:
            print(f"  error: {sample}")
        if mix["errors"]:
            failures.append(f"mixed load had {mix['errors']} errors")
        if mix["lost_lines"]:
            failures.append(f"mixed load lost {mix['lost_lines']} lines")
    return failures
