"""Live updates at scale: fan-out, batches, many jobs, idle subscribers (``make bench``).

One jobgraph process on a fresh SQLite database; the subscribers are real graphql-transport-ws
clients, one socket each, in separate processes (``bench.live_clients``), so the server's
event loop is the only thing measured. The appender sends a batch every 100 ms through the
worker protocol (appendLogs), each line stamped with the time it was sent; latency is that
stamp to the moment a client read the line. Client CPU is reported as a share of one core per
client process, to show they were not the bottleneck.

    python -m bench.bench_live                      # every row
    python -m bench.bench_live --rows logs,idle --server-root ../other-checkout
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.servers import ROOT, free_port

CREATE = 'mutation { createJob(input: {items: [{url: "https://youtu.be/dQw4w9WgXcQ"}]}) { id } }'
CLAIM = 'mutation { claimJob(workerId: "bench", leaseSeconds: 3600) { id } }'
APPEND = """mutation($j: ID!, $lines: [LogLineInput!]!) {
  appendLogs(jobId: $j, workerId: "bench", lines: $lines) }"""
COMPLETE = 'mutation($j: ID!) { completeJob(jobId: $j, workerId: "bench") { status } }'
LOGS = "subscription($id: ID!) { jobLogs(id: $id, after: 0) { seq timestamp } }"
BATCHES = "subscription($id: ID!) { jobLogBatches(id: $id, after: 0) { lastSeq lines { seq timestamp } } }"  # noqa: E501
UPDATED = "subscription($id: ID!) { jobUpdated(id: $id) { id status progress } }"
ROWS = ("logs", "batches", "jobs", "idle")


class LiveServer:
    def __init__(self, workdir: Path, name: str, root: Path) -> None:
        database_url = f"sqlite+aiosqlite:///{workdir}/{name}.db"
        env = {
            **os.environ,
            "JOBGRAPH_DATABASE_URL": database_url,
            "JOBGRAPH_ENV": "development",
            "JOBGRAPH_RATE_LIMIT_PER_SECOND": "1000000",
            "JOBGRAPH_RATE_LIMIT_BURST": "1000000",
            # One key opens every subscriber's socket.
            "JOBGRAPH_MAX_WS_CONNECTIONS_PER_KEY": "0",
        }
        py = sys.executable
        subprocess.run(
            [py, "app.py", "migrate"], cwd=root, env=env, check=True, capture_output=True
        )
        self.key = subprocess.run(
            [py, "app.py", "keys", "create", "--name", name, "--scopes", "read,submit,work"],
            cwd=root, env=env, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        self.port = free_port()
        self.log = workdir / f"{name}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [py, "app.py", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--no-access-log"],
                cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(self.log.read_text(errors="replace"))
            time.sleep(0.1)

    def rss_mb(self, field: str = "VmRSS:") -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_STARTED: list[subprocess.Popen[str]] = []  # client processes, stopped after each row


class Clients:
    """One client process with its share of the subscriptions."""

    def __init__(self, workdir: Path, index: int, spec: dict[str, Any]) -> None:
        path = workdir / f"clients-{index}.json"
        path.write_bytes(orjson.dumps(spec))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.live_clients", str(path)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        _STARTED.append(self.process)

    async def expect(self, word: str) -> None:
        assert self.process.stdout is not None
        line = await asyncio.to_thread(self.process.stdout.readline)
        if line.strip() != word:
            raise RuntimeError(f"client process said {line!r}, expected {word}")

    def tell(self, word: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(word + "\n")
        self.process.stdin.flush()

    async def result(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        # One read of the result line: a timed-out read's thread still gets it.
        reading = asyncio.ensure_future(asyncio.to_thread(self.process.stdout.readline))
        try:
            line = await asyncio.wait_for(asyncio.shield(reading), timeout=timeout)
        except TimeoutError:
            self.tell("stop")  # report what arrived within the drain window
            line = await reading
        self.process.wait(timeout=60)
        return dict(orjson.loads(line))


def _split(subs: list[dict[str, Any]], parts: int) -> list[list[dict[str, Any]]]:
    return [subs[index::parts] for index in range(parts)]


async def _gql(http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}})
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"{query[:40]}: {body['errors'][0]['message']}")
    return body["data"]


async def _append(
    http: httpx.AsyncClient, gate: asyncio.Semaphore, job_id: str, lines: list[Any]
) -> None:
    """appendLogs as a worker sends it: retried after an UNAVAILABLE (a busy database)."""
    async with gate:
        for attempt in range(5):
            try:
                await _gql(http, APPEND, {"j": job_id, "lines": lines})
                return
            except RuntimeError:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.1 * (attempt + 1))


async def _claimed_jobs(http: httpx.AsyncClient, count: int) -> list[str]:
    ids = [(await _gql(http, CREATE))["createJob"]["id"] for _ in range(count)]
    for _ in ids:
        await _gql(http, CLAIM)
    return ids


async def _health_probe(url: str, samples: list[float], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        while not stop.is_set():
            began = time.perf_counter()
            await http.get("/healthz")
            samples.append(time.perf_counter() - began)
            await asyncio.sleep(0.05)


def _p(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def _fan_out(
    server: LiveServer,
    workdir: Path,
    *,
    jobs: int,
    per_job: list[tuple[str, str]],
    lines_per_second: float,
    seconds: float,
    processes: int,
    drain: float,
) -> dict[str, Any]:
    """``jobs`` jobs, each watched by the (query, kind) subscriptions in ``per_job``, each
    job getting ``lines_per_second`` lines in a batch every 100 ms; every job completes."""
    ws_url = server.url.replace("http", "ws", 1) + "/graphql"
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=server.url, headers={"X-API-Key": server.key}, timeout=60, limits=limits
    ) as http:
        job_ids = await _claimed_jobs(http, jobs)
        subs = [
            {"query": query, "variables": {"id": job_id}, "kind": kind}
            for job_id in job_ids
            for query, kind in per_job
        ]
        clients = [
            Clients(workdir, index, {"ws_url": ws_url, "key": server.key, "subs": part})
            for index, part in enumerate(_split(subs, processes))
        ]
        await asyncio.gather(*(client.expect("ready") for client in clients))
        await asyncio.sleep(2.0)  # every subscription is running on the server
        rss_ready = server.rss_mb()
        health: list[float] = []
        stop = asyncio.Event()
        probe = asyncio.create_task(_health_probe(server.url, health, stop))
        # One job: a batch every 100 ms. Many jobs: each job a batch a second, the jobs spread
        # over the ten ticks of each second (one call per job per second, not ten).
        many = len(job_ids) > 1
        gate = asyncio.Semaphore(16)  # appends in flight at once, as a pool of workers
        batch = max(1, round(lines_per_second / (1 if many else 10)))
        ticks = int(seconds * 10)
        started = time.monotonic()
        sent = 0
        for tick in range(ticks):
            now = datetime.now(UTC).isoformat()
            due = job_ids[tick % 10 :: 10] if many else job_ids
            if not many or tick % 10 == 0:
                first = sent
                sent += batch
            lines = [{"message": f"bench {first + n}", "timestamp": now} for n in range(batch)]
            await asyncio.gather(*(_append(http, gate, j, lines) for j in due))
            delay = started + (tick + 1) / 10 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        append_seconds = time.monotonic() - started
        for job_id in job_ids:
            await _gql(http, COMPLETE, {"j": job_id})
        results = await asyncio.gather(*(client.result(drain) for client in clients))
        stop.set()
        await probe
    samples = [s for r in results for s in r["samples"]]
    log_subs = sum(1 for _, kind in per_job if kind != "updated") * jobs
    expected = sent * log_subs
    delivered_lines = sum(r["delivered"] for r in results)
    updated = sum(1 for _, kind in per_job if kind == "updated") * jobs
    return {
        "subscribers": len(subs),
        "lines_per_job": sent,
        "achieved_lines_per_second_per_job": sent / append_seconds,
        "expected": expected,
        "delivered": delivered_lines,
        "out_of_order": sum(r["out_of_order"] for r in results),
        "errors": sum(r["error_count"] for r in results),
        "error_samples": [e for r in results for e in r["errors"]][:3],
        "completed": sum(r["completed"] for r in results),
        "updated_subscribers": updated,
        "p50_ms": _p(samples, 0.50),
        "p99_ms": _p(samples, 0.99),
        "health_p99_ms": _p(health, 0.99),
        "client_cpu_share": [r["cpu_seconds"] / max(r["seconds"], 1e-9) for r in results],
        "deliveries_per_second": sum(r["delivered"] for r in results)
        / max(max(r["seconds"] for r in results), 1e-9),
        "rss_ready_mb": rss_ready,
        "rss_peak_mb": server.rss_mb("VmHWM:"),
    }


async def _idle(server: LiveServer, workdir: Path, *, count: int, processes: int) -> dict[str, Any]:
    ws_url = server.url.replace("http", "ws", 1) + "/graphql"
    async with httpx.AsyncClient(
        base_url=server.url, headers={"X-API-Key": server.key}, timeout=60
    ) as http:
        (job_id,) = await _claimed_jobs(http, 1)
    health: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(_health_probe(server.url, health, stop))
    await asyncio.sleep(1.0)
    rss_before = server.rss_mb()
    subs = [{"query": UPDATED, "variables": {"id": job_id}, "kind": "updated"}] * count
    clients = [
        Clients(workdir, index, {"ws_url": ws_url, "key": server.key, "subs": part, "idle": True})
        for index, part in enumerate(_split(subs, processes))
    ]
    await asyncio.gather(*(client.expect("connected") for client in clients))
    await asyncio.sleep(2.0)
    rss_connected = server.rss_mb()
    for client in clients:
        client.tell("subscribe")
    await asyncio.gather(*(client.expect("ready") for client in clients))
    await asyncio.sleep(5.0)  # idle: nothing changes
    rss_subscribed = server.rss_mb()
    for client in clients:
        client.tell("stop")
    results = await asyncio.gather(*(client.result(60) for client in clients))
    stop.set()
    await probe
    return {
        "subscriptions": count,
        "rss_before_mb": rss_before,
        "rss_connected_mb": rss_connected,
        "rss_subscribed_mb": rss_subscribed,
        "growth_mb": rss_subscribed - rss_before,
        "per_connection_kb": (rss_connected - rss_before) * 1024 / count,
        "per_subscription_kb": (rss_subscribed - rss_connected) * 1024 / count,
        "health_p99_ms": _p(health, 0.99),
        "health_max_ms": _p(health, 1.0),
        "errors": sum(r["error_count"] for r in results),
        "client_cpu_share": [r["cpu_seconds"] / max(r["seconds"], 1e-9) for r in results],
    }


def _row(
    row: str,
    workdir: Path,
    root: Path,
    table: list[str],
    failures: list[str],
    *,
    seconds: float,
    drain: float,
    processes: int,
    idle_count: int,
    fan_out_subscribers: int,
    jobs: int,
) -> None:
    server = LiveServer(workdir, row, root)
    try:
        r = {}
        if row == "idle":
            r = asyncio.run(_idle(server, workdir, count=idle_count, processes=processes))
            cpu = ", ".join(f"{share:.0%}" for share in r["client_cpu_share"])
            table.append(
                f"| {idle_count:,} idle jobUpdated subscriptions, one socket each | "
                f"RSS growth ≤ 500 MB, /healthz p99 ≤ 50 ms | "
                f"{r['per_connection_kb']:.0f} KiB per connection, "
                f"{r['per_subscription_kb']:.0f} KiB per subscription | - | - | "
                f"{r['health_p99_ms']:.0f} ms | +{r['growth_mb']:.0f} MB | {cpu} |"
            )
            if r["growth_mb"] > 500 or r["health_p99_ms"] > 50 or r["errors"]:
                failures.append(f"idle: {r}")
            return
        if row == "logs":
            label = f"jobLogs, {fan_out_subscribers:,} subscribers on one job, 50 lines/s"
            r = asyncio.run(
                _fan_out(server, workdir, jobs=1,
                         per_job=[(LOGS, "logs")] * fan_out_subscribers,
                         lines_per_second=50, seconds=seconds, processes=processes,
                         drain=drain)
            )  # fmt: skip
        elif row == "batches":
            label = f"jobLogBatches, {fan_out_subscribers:,} subscribers on one job, 1,000 lines/s"
            r = asyncio.run(
                _fan_out(server, workdir, jobs=1,
                         per_job=[(BATCHES, "batches")] * fan_out_subscribers,
                         lines_per_second=1000, seconds=seconds, processes=processes,
                         drain=drain)
            )  # fmt: skip
        elif row == "saturate":
            label = f"jobLogs, {fan_out_subscribers:,} subscribers on one job, 200 lines/s"
            r = asyncio.run(
                _fan_out(server, workdir, jobs=1,
                         per_job=[(LOGS, "logs")] * fan_out_subscribers,
                         lines_per_second=200, seconds=seconds, processes=processes,
                         drain=drain)
            )  # fmt: skip
        else:
            label = f"{jobs} jobs x (jobUpdated + jobLogs), 10 lines/s per job"
            r = asyncio.run(
                _fan_out(server, workdir, jobs=jobs,
                         per_job=[(UPDATED, "updated"), (LOGS, "logs")],
                         lines_per_second=10, seconds=seconds, processes=processes,
                         drain=drain)
            )  # fmt: skip
    finally:
        server.stop()
        while _STARTED:
            process = _STARTED.pop()
            if process.poll() is None:
                process.kill()
                process.wait()
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()
    lost = r["expected"] - r["delivered"]
    complete = r["completed"] == r["subscribers"]
    cpu = ", ".join(f"{share:.0%}" for share in r["client_cpu_share"])
    order = f", {r['out_of_order']} out of order" if r["out_of_order"] else ", in order"
    table.append(
        f"| {label} | p99 ≤ 250 ms, all in order | "
        f"{r['delivered']:,} of {r['expected']:,} lines{order}"
        f", {r['completed']:,}/{r['subscribers']:,} completed "
        f"({r['deliveries_per_second']:,.0f} lines/s) | "
        f"{r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms | {r['health_p99_ms']:.0f} ms | "
        f"{r['rss_peak_mb']:.0f} MB peak | {cpu} |"
    )
    ok = r["expected"] == r["delivered"] and not r["out_of_order"] and complete
    if row != "saturate" and (not ok or r["p99_ms"] > 250 or r["errors"]):
        failures.append(f"{row}: lost {lost}, {r}")


def run_rows(
    rows: tuple[str, ...],
    *,
    seconds: float = 10,
    drain: float = 60,
    processes: int = 2,
    idle_count: int = 5000,
    root: Path = ROOT,
    fan_out_subscribers: int = 1000,
    jobs: int = 500,
) -> tuple[list[str], list[str]]:
    """Runs the rows; returns the table's lines and the failed targets."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # servers and clients inherit it
    table = [
        "| row | target | delivered | p50 | p99 | /healthz p99 | server RSS | client CPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="jobgraph-live-") as tmp:
        workdir = Path(tmp)
        for row in rows:
            try:
                _row(row, workdir, root, table, failures, seconds=seconds, drain=drain,
                     processes=processes, idle_count=idle_count,
                     fan_out_subscribers=fan_out_subscribers, jobs=jobs)  # fmt: skip
            except Exception as error:  # one row's failure is reported, not fatal
                table.append(f"| {row} | - | failed: {str(error)[:200]} | - | - | - | - | - |")
                failures.append(f"{row}: {error!r}")
    return table, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"of {', '.join(ROWS)}, saturate")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--drain", type=float, default=60)
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--idle", type=int, default=5000)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--server-root", type=Path, default=ROOT, help="the checkout to serve")
    args = parser.parse_args()
    table, failures = run_rows(
        tuple(args.rows.split(",")),
        seconds=args.seconds,
        drain=args.drain,
        processes=args.processes,
        idle_count=args.idle,
        root=args.server_root,
        fan_out_subscribers=args.subscribers,
        jobs=args.jobs,
    )
    print("\n".join(table))
    for failure in failures:
        print(f"FAIL: {failure[:2000]}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
