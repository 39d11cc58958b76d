"""Live updates across processes: two servers on one PostgreSQL, subscribers split across them.

Each row starts two jobgraph processes on a fresh PostgreSQL database — carrying change events
with LISTEN/NOTIFY, or with Redis pub/sub (``JOBGRAPH_BROKER_URL``) — and ``--clients``
separate client processes holding ``--subscribers`` jobLogs subscriptions (graphql-transport-ws,
one socket each), alternately on server A and server B. The appender sends ``--rate`` lines a
second, in appendLogs batches every 100 ms, always to server A: the subscribers on B see them
only through the broker. Latency is each line's timestamp (set by the appender) to its arrival
at a subscriber; a subscriber has lost nothing when it received every seq, in order, and then
the completion.

The clients are separate processes so that they do not share a core's event loop with the
appender; the row reports their CPU time beside the servers', so a saturated client shows.

    python -m bench.bench_scaleout                      # both rows, 1,000 x 50 lines/s
    python -m bench.bench_scaleout --brokers redis --subscribers 200 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from bench.servers import ROOT, Server
from bench.ws_client import connect

ADMIN = "postgresql://127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/0"
PROBE = b'{"query": "{ me { name } }"}'
LOGS = "subscription($id: ID!) { jobLogs(id: $id, after: 0) { seq timestamp } }"
CREATE = 'mutation { createJob(input: {items: [{url: "https://youtu.be/dQw4w9WgXcQ"}]}) { id } }'
CLAIM = 'mutation { claimJob(workerId: "bench", leaseSeconds: 3600) { id } }'
APPEND = """mutation($j: ID!, $lines: [LogLineInput!]!) {
  appendLogs(jobId: $j, workerId: "bench", lines: $lines) }"""
COMPLETE = 'mutation($j: ID!) { completeJob(jobId: $j, workerId: "bench") { status } }'
SAMPLE_EVERY = 5  # latency samples: every 5th line per subscriber
P99_TARGET_MS = 500.0


# --- the client process ---------------------------------------------------------------------


class _Tally:
    """What one subscriber got so far (kept when its task is cancelled at the deadline)."""

    __slots__ = ("completed", "in_order", "received")

    def __init__(self) -> None:
        self.received = 0
        self.in_order = True
        self.completed = False


async def _follow(
    ws_url: str, key: str, job_id: str, samples: list[float], ready: asyncio.Event, tally: _Tally
) -> None:
    try:
        await _read(ws_url, key, job_id, samples, ready, tally)
    finally:
        ready.set()  # a subscriber that failed must not hold the start back


async def _read(
    ws_url: str, key: str, job_id: str, samples: list[float], ready: asyncio.Event, tally: _Tally
) -> None:
    ws = await connect(ws_url, "graphql-transport-ws")
    try:
        await ws.send(
            orjson.dumps({"type": "connection_init", "payload": {"X-API-Key": key}}).decode()
        )
        await ws.recv()
        payload = {"query": LOGS, "variables": {"id": job_id}}
        await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": payload}).decode())
        async for raw in ws:
            message = orjson.loads(raw)
            if message["type"] != "next":
                tally.completed = message["type"] == "complete"
                break
            line = message["payload"]["data"]["jobLogs"]
            tally.received += 1
            seq = line["seq"]
            tally.in_order = tally.in_order and seq == tally.received
            if seq == 1:
                ready.set()  # the first line (appended before the run) says it is live
            elif seq % SAMPLE_EVERY == 0:
                sent = datetime.fromisoformat(line["timestamp"]).timestamp()
                samples.append(time.time() - sent)
    finally:
        ws.close()


async def _client(spec: dict[str, Any]) -> dict[str, Any]:
    # Latency samples per server: A (where the appends land) and B (through the broker).
    samples: dict[str, list[float]] = {}
    readies = [asyncio.Event() for _ in spec["urls"]]
    tallies = [_Tally() for _ in spec["urls"]]
    tasks = []
    for ws_url, ready, tally in zip(spec["urls"], readies, tallies, strict=True):
        into = samples.setdefault(ws_url, [])
        follow = _follow(ws_url, spec["key"], spec["job"], into, ready, tally)
        tasks.append(asyncio.create_task(follow))
        await asyncio.sleep(0.002)  # connect gradually: a burst of handshakes is not the point
    await asyncio.gather(*(ready.wait() for ready in readies))
    print("ready", flush=True)
    sys.stdin.readline()  # the appender starts; the run's CPU time counts from here
    cpu_start = _cpu_seconds()
    done, pending = await asyncio.wait(tasks, timeout=spec["drain"] + spec["seconds"])
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return {
        "samples": samples,
        "received": [tally.received for tally in tallies],
        "in_order": sum(1 for tally in tallies if tally.in_order),
        "completed": sum(1 for tally in tallies if tally.completed),
        "failed": sum(1 for task in done if task.exception()),
        "cpu_seconds": _cpu_seconds() - cpu_start,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _client_main() -> None:
    spec = orjson.loads(sys.stdin.readline())
    result = asyncio.run(_client(spec))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    sys.stdout.flush()


# --- the row ---------------------------------------------------------------------------------


def _process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _fresh_database(admin: str) -> tuple[str, str]:
    name = f"jobgraph_scaleout_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin.rsplit("/", 1)[0]
    return name, f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"


async def _drop_database(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "app.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


async def _gql(http: httpx.AsyncClient, url: str, query: str, **variables: Any) -> Any:
    response = await http.post(f"{url}/graphql", json={"query": query, "variables": variables})
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"{query.split('(')[0]}: {body['errors'][0]['message']}")
    return body["data"]


async def _append(
    http: httpx.AsyncClient, url: str, job_id: str, *, rate: int, seconds: float
) -> tuple[int, float]:
    batch = max(1, rate // 10)
    total = int(rate * seconds)
    started = time.monotonic()
    sent = 0
    while sent < total:
        now = datetime.now(UTC).isoformat()
        lines = [{"message": f"bench {sent + n}", "timestamp": now} for n in range(batch)]
        await _gql(http, url, APPEND, j=job_id, lines=lines)
        sent += batch
        delay = started + sent / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    return sent, time.monotonic() - started


async def run_row(
    broker: str, workdir: Path, *, subscribers: int, rate: int, seconds: float, clients: int,
    drain: float, admin: str = ADMIN, redis_url: str = REDIS,
) -> dict[str, Any]:  # fmt: skip
    """One row: ``broker`` is ``notify`` (PostgreSQL LISTEN/NOTIFY) or ``redis``."""
    name, database_url = await _fresh_database(admin)
    env = {
        "JOBGRAPH_DATABASE_URL": database_url,
        "JOBGRAPH_ENV": "development",
        "JOBGRAPH_RATE_LIMIT_PER_SECOND": "1000000",
        # One key opens every subscriber's socket.
        "JOBGRAPH_MAX_WS_CONNECTIONS_PER_KEY": "0",
    }
    if broker == "redis":
        env |= {"JOBGRAPH_BROKER_URL": redis_url, "JOBGRAPH_BROKER_CHANNEL": f"bench:{name}"}
    servers: list[Server] = []
    processes: list[subprocess.Popen[str]] = []
    try:
        await asyncio.to_thread(_cli, env, "migrate")
        key = await asyncio.to_thread(
            _cli, env, "keys", "create", "--name", "bench", "--scopes", "read,submit,work"
        )
        command = [sys.executable, "app.py", "serve", "--host", "127.0.0.1", "--no-access-log"]
        for label in ("a", "b"):
            servers.append(Server(f"jobgraph-{label}", command, env, workdir / f"{label}.log"))
        for server in servers:
            await asyncio.to_thread(server.wait_ready, PROBE, key)
        a = servers[0]
        headers = {"X-API-Key": key}
        async with httpx.AsyncClient(headers=headers, timeout=60) as http:
            job_id = (await _gql(http, a.url, CREATE))["createJob"]["id"]
            claimed = (await _gql(http, a.url, CLAIM))["claimJob"]
            assert claimed and claimed["id"] == job_id, "a fresh database has only this job"
            now = datetime.now(UTC).isoformat()
            await _gql(http, a.url, APPEND, j=job_id, lines=[{"message": "go", "timestamp": now}])
            ws = [server.url.replace("http", "ws", 1) + "/graphql" for server in servers]
            urls = [ws[n % 2] for n in range(subscribers)]
            for index in range(clients):
                process = subprocess.Popen(
                    [sys.executable, "-m", "bench.bench_scaleout", "--client"],
                    cwd=ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                spec = {
                    "urls": urls[index::clients],
                    "key": key,
                    "job": job_id,
                    "seconds": seconds,
                    "drain": drain,
                }
                assert process.stdin is not None
                process.stdin.write(orjson.dumps(spec).decode() + "\n")
                process.stdin.flush()
                processes.append(process)
            for process in processes:
                assert process.stdout is not None
                line = await asyncio.to_thread(process.stdout.readline)
                assert line.strip() == "ready", line
            cpu_before = [_process_cpu_seconds(server.process.pid) for server in servers]
            started = time.monotonic()
            for process in processes:
                assert process.stdin is not None
                process.stdin.write("go\n")
                process.stdin.flush()
            sent, append_seconds = await _append(http, a.url, job_id, rate=rate, seconds=seconds)
            await _gql(http, a.url, COMPLETE, j=job_id)
            outputs = []
            for process in processes:
                assert process.stdout is not None
                outputs.append(orjson.loads(await asyncio.to_thread(process.stdout.readline)))
            wall = time.monotonic() - started
            server_cpu = [
                _process_cpu_seconds(server.process.pid) - before
                for server, before in zip(servers, cpu_before, strict=True)
            ]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        for server in servers:
            server.stop()
        await _drop_database(admin, name)
    samples = sorted(
        sample for output in outputs for values in output["samples"].values() for sample in values
    )
    b_url = ws[1]
    through_broker = sorted(
        sample for output in outputs for sample in output["samples"].get(b_url, ())
    )
    expected = sent + 1  # the "go" line too
    received = [count for output in outputs for count in output["received"]]
    return {
        "broker": broker,
        "subscribers": subscribers,
        "rate": rate,
        "achieved_rate": sent / append_seconds,
        "delivered": sum(received),
        "expected": expected * subscribers,
        "complete_subscribers": sum(1 for count in received if count == expected),
        "in_order": sum(output["in_order"] for output in outputs),
        "completed": sum(output["completed"] for output in outputs),
        "failed": sum(output["failed"] for output in outputs),
        "p50_ms": statistics.median(samples) * 1000 if samples else float("nan"),
        "p99_ms": _p99(samples),
        "max_ms": samples[-1] * 1000 if samples else float("nan"),
        "p99_b_ms": _p99(through_broker),
        "wall_s": wall,
        "server_cpu_share": [cpu / wall for cpu in server_cpu],
        "client_cpu_share": [output["cpu_seconds"] / wall for output in outputs],
    }


def _p99(samples: list[float]) -> float:
    return samples[max(0, int(len(samples) * 0.99) - 1)] * 1000 if samples else float("nan")


def lost_nothing(row: dict[str, Any]) -> bool:
    subscribers = row["subscribers"]
    return bool(
        row["delivered"] == row["expected"]
        and row["in_order"] == subscribers
        and row["completed"] == subscribers
    )


def describe(row: dict[str, Any]) -> str:
    label = {"notify": "PostgreSQL LISTEN/NOTIFY", "redis": "Redis pub/sub"}[row["broker"]]
    servers = " + ".join(f"{share:.0%}" for share in row["server_cpu_share"])
    clients = " + ".join(f"{share:.0%}" for share in row["client_cpu_share"])
    return (
        f"  {label:<26} {row['subscribers']:>5} x {row['rate']:>4} lines/s: delivered "
        f"{row['delivered']:,}/{row['expected']:,}, {row['in_order']} in order, "
        f"{row['completed']} completed, {row['failed']} failed; "
        f"p50 {row['p50_ms']:,.0f} ms, p99 {row['p99_ms']:,.0f} ms, "
        f"max {row['max_ms']:,.0f} ms (p99 on B, through the broker: {row['p99_b_ms']:,.0f} ms);"
        f" CPU servers {servers}, clients {clients} of a core"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skip-scaleout", action="store_true", help="skip the two-process rows")
    parser.add_argument("--scaleout-subscribers", type=int, default=1000)
    parser.add_argument("--scaleout-rate", type=int, default=50, help="lines per second")
    parser.add_argument("--scaleout-seconds", type=float, default=20)
    parser.add_argument("--scaleout-clients", type=int, default=2, help="client processes")
    parser.add_argument("--scaleout-drain", type=float, default=30)
    parser.add_argument(
        "--scaleout-brokers", default="notify,redis", help="comma-separated: notify, redis"
    )


def run(args: argparse.Namespace, workdir: Path) -> list[str]:
    """The rows of ``make bench``; returns the failed targets."""
    if args.skip_scaleout:
        return []
    print(
        f"\nacross processes: two servers on PostgreSQL, subscribers split across them, "
        f"appends on one, {args.scaleout_clients} client processes, "
        f"{args.scaleout_seconds:g} s (target p99 <= {P99_TARGET_MS:.0f} ms, nothing lost)"
    )
    admin = ADMIN
    if getattr(args, "pg", None):
        from bench.pg import asyncpg_dsn, unreachable

        admin = asyncpg_dsn(args.pg)
        problem = unreachable(args.pg)
        if problem is not None:
            print(f"across processes SKIPPED: PostgreSQL at {args.pg} does not answer ({problem})")
            return []
    failures = []
    for broker in args.scaleout_brokers.split(","):
        row = asyncio.run(
            run_row(
                broker,
                workdir,
                admin=admin,
                subscribers=args.scaleout_subscribers,
                rate=args.scaleout_rate,
                seconds=args.scaleout_seconds,
                clients=args.scaleout_clients,
                drain=args.scaleout_drain,
            )
        )
        print(describe(row), flush=True)
        if not lost_nothing(row):
            failures.append(f"across processes ({broker}): lost or unordered deliveries")
        if not row["p99_ms"] <= P99_TARGET_MS:
            failures.append(f"across processes ({broker}): p99 {row['p99_ms']:.0f} ms")
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and sys.argv[1:] == ["--client"]:
        _client_main()
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.bench_scaleout", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"jobgraph-scaleout-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True)
    try:
        failures = run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
