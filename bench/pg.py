"""The PostgreSQL half of `make bench`: a scratch database, the asyncpg floor, jobgraph on
PostgreSQL, and the ``--workers 2`` / ``--workers 1`` comparison (on either database).

The scratch database is created beside the one ``--pg`` names (same server, same role),
filled through jobgraph's migrations and store like the SQLite dataset, and dropped at the
end. The database's own CPU is read from ``/proc`` for the server processes that serve the
scratch database (``pg_stat_activity``), so the workers comparison can say what bounds it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.dataset import Dataset, build_sync
from bench.load import LoadGenerator
from bench.queries import job_body
from bench.report import Series
from bench.servers import Server, start_jobgraph

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
_TICKS = os.sysconf("SC_CLK_TCK")


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def sqlalchemy_url(url: str) -> str:
    return asyncpg_dsn(url).replace("postgresql://", "postgresql+asyncpg://", 1)


def unreachable(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used, or None when it answers."""

    async def probe() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(url), timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        return f"{type(error).__name__}: {error}"
    return None


@dataclass(frozen=True)
class Scratch:
    admin: str  # asyncpg DSN of the database --pg names
    name: str

    @property
    def dsn(self) -> str:
        return f"{self.admin.rsplit('/', 1)[0]}/{self.name}"

    @property
    def url(self) -> str:
        return sqlalchemy_url(self.dsn)

    def _admin(self, statement: str) -> None:
        async def run() -> None:
            conn = await asyncpg.connect(self.admin, timeout=5)
            try:
                await conn.execute(statement)
            finally:
                await conn.close()

        asyncio.run(run())

    def create(self) -> None:
        self.drop()
        self._admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def backend_pids(self) -> list[int]:
        async def run() -> list[int]:
            conn = await asyncpg.connect(self.admin, timeout=5)
            try:
                rows = await conn.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.name
                )
            finally:
                await conn.close()
            return [row[0] for row in rows]

        return asyncio.run(run())


def scratch(url: str) -> Scratch:
    return Scratch(asyncpg_dsn(url), f"jobgraph_bench_{os.getpid()}")


def build_pg(workdir: Path, target: Scratch, *, quick: bool) -> Dataset:
    target.create()
    size = {"jobs_count": 200, "big_lines": 100_000} if quick else {}
    return build_sync(workdir, database_url=target.url, **size)


def start_pg_floor(dsn: str, logs: Path, *, access_log: bool) -> Server:
    command = [sys.executable, "-m", "bench.pgfloor", "--dsn", dsn, "--log-level", "info"]
    if not access_log:
        command.append("--no-access-log")
    return Server("asyncpg floor", command, {}, logs / "pgfloor.log")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes (and their reaped children) so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime: fields 14-17 of stat (11-14 after the name).
        total += sum(int(value) for value in fields[11:15])
    return total / _TICKS


def _tree(pid: int) -> list[int]:
    """A process and its descendants (uvicorn's workers under its supervisor)."""
    found = [pid]
    for child in Path("/proc").iterdir():
        if not child.name.isdigit():
            continue
        try:
            parent = int((child / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found += _tree(int(child.name))
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return (total - fields[3] - fields[4]) / _TICKS, total / _TICKS


@dataclass
class WorkersResult:
    label: str
    one: Series
    two: Series
    # workers -> cores used by (jobgraph's processes, the scratch database's backends, the
    # whole machine: every process of every user)
    cpu: dict[int, tuple[float, float, float]]


def workers_ratio(
    args: argparse.Namespace,
    workdir: Path,
    label: str,
    data: Dataset,
    load: LoadGenerator,
    database_pids: list[int] | None = None,
    target: Scratch | None = None,
) -> WorkersResult:
    """``serve --workers 2`` against ``--workers 1`` on the same data, interleaved rounds of
    ``job(id, tail: 100)`` on the 50-line jobs; with the CPU each used, in cores."""
    bodies = [job_body(job_id) for job_id in data.small_job_ids[:100]]
    base = ["--no-access-log", "--workers"]
    servers = {n: start_jobgraph(data.database_url, workdir, [*base, str(n)]) for n in (1, 2)}
    result = WorkersResult(
        label,
        Series(f"job(id, tail: 100), {label}", "--workers 1"),
        Series(f"job(id, tail: 100), {label}", "--workers 2"),
        {},
    )
    spent: dict[int, list[float]] = {1: [0.0] * 4, 2: [0.0] * 4}
    try:
        for server in servers.values():
            server.wait_ready(bodies[0], data.key)
            load.run(server.port, bodies, data.key, connections=args.connections, seconds=2)
        for _ in range(args.rounds):
            for n, server in servers.items():
                tree = _tree(server.process.pid)
                backends = target.backend_pids() if target is not None else []
                before = (
                    cpu_seconds(tree),
                    cpu_seconds(backends),
                    machine_busy()[0],
                    time.monotonic(),
                )
                measured = load.run(
                    server.port,
                    bodies,
                    data.key,
                    connections=args.connections,
                    seconds=args.seconds,
                )
                after = (
                    cpu_seconds(tree),
                    cpu_seconds(backends),
                    machine_busy()[0],
                    time.monotonic(),
                )
                (result.one if n == 1 else result.two).results.append(measured)
                for index in range(4):
                    spent[n][index] += after[index] - before[index]
    finally:
        for server in servers.values():
            server.stop()
    for n, (server_cpu, db_cpu, busy, wall) in spent.items():
        wall = wall or 1.0
        result.cpu[n] = (server_cpu / wall, db_cpu / wall, busy / wall)
    return result
