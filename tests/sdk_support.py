"""Helpers for the worker SDK's tests: a jobgraph server that can be killed and started again
on the same port and database, a GraphQL client with a read/submit key, tenant-scoped keys,
and the figures of a job's stored log."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from domain.principal import Scope
from settings import Settings
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.store import Store
from tests.live import ROOT, free_port, live_server

CREATE = "mutation($i: [VideoItemInput!]!) { createJob(input: {items: $i}) { id } }"
JOB = """query($j: ID!) { job(id: $j, tail: 0) { status attempt progress error workerId
  logLineCount items { position code status error } } }"""
LOGS = """query($j: ID!, $a: Int) { job(id: $j) { logs(after: $a, first: 1000) {
  lines { seq level message } hasMore } } }"""
CANCEL = "mutation($j: ID!) { cancelJob(id: $j) { status } }"
# Eleven-character YouTube codes; the worker sees each as an item's code.
CODES = ["dQw4w9WgXcQ", "9bZkp7q19f0", "kJQP7kiw5Fk", "OPf0YbXqDm0", "JGwWNGJdvx8", "CevxZvSJLk8"]


class Server:
    """``app.py serve`` on a fixed port: :meth:`start` (again after :meth:`kill`) serves the
    same database on the same port, as a restarted deployment does."""

    def __init__(self, database_url: str, tmp_path: Path, env: dict[str, str] | None = None):
        self.database_url, self.env = database_url, env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.graphql = f"{self.url}/graphql"
        self.log_path = tmp_path / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        """Start and wait until ready (blocking: call it in a thread from async code)."""
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "app.py",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                cwd=ROOT,
                env={**os.environ, "JOBGRAPH_DATABASE_URL": self.database_url, **self.env},
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not become ready:\n{self.logs()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, requests in flight get no answer."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=15)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Keys:
    """A tenant of one's own (other tests' jobs are never claimed): a worker key with the
    ``work`` scope and a client key with ``read,submit``."""

    tenant: str
    work: str
    client: str


async def tenant_keys(database_url: str, name: str) -> Keys:
    """:class:`Keys` of a new tenant, made in this process (a CLI process costs a second)."""
    tenant = f"{name}-{uuid.uuid4().hex[:8]}"
    db = Database(Settings(database_url=database_url))
    try:
        await upgrade_to_head(db)
        keys = [
            (await Store(db).keys.create(name=name, tenant=tenant, scopes=scopes))[1]
            for scopes in ([Scope.WORK], [Scope.READ, Scope.SUBMIT])
        ]
    finally:
        await db.dispose()
    return Keys(tenant, *keys)


def make_keys(database_url: str, name: str) -> Keys:
    """:func:`tenant_keys` for code outside an event loop."""
    return asyncio.run(tenant_keys(database_url, name))


class Api:
    """GraphQL calls with the client key; answers ``data`` (asserting there is no error)."""

    def __init__(self, http: httpx.AsyncClient, url: str, key: str) -> None:
        self.http, self.url, self.key = http, url, key

    async def raw(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.http.post(
            self.url, json={"query": query, "variables": variables}, headers={"X-API-Key": self.key}
        )
        body: dict[str, Any] = response.json()
        return body

    async def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        body = await self.raw(query, **variables)
        assert not body.get("errors"), body
        data: dict[str, Any] = body["data"]
        return data

    async def create(self, codes: list[str]) -> str:
        items = [{"platform": "YOUTUBE", "code": code} for code in codes]
        job_id: str = (await self(CREATE, i=items))["createJob"]["id"]
        return job_id

    async def job(self, job_id: str) -> dict[str, Any]:
        job: dict[str, Any] = (await self(JOB, j=job_id))["job"]
        return job

    async def lines(self, job_id: str) -> list[dict[str, Any]]:
        """Every stored log line of the job, by seq."""
        lines: list[dict[str, Any]] = []
        while True:
            after = lines[-1]["seq"] if lines else None
            page = (await self(LOGS, j=job_id, a=after))["job"]["logs"]
            lines.extend(page["lines"])
            if not page["hasMore"]:
                return lines


@dataclass(frozen=True)
class LogFigures:
    """What happened to the lines a processor logged: how many it appended, how many the
    server stored, how many were stored twice, how many are missing (seq gaps included)."""

    appended: int
    stored: int
    duplicates: int
    gaps: int

    @classmethod
    def of(cls, appended: list[str], stored: list[dict[str, Any]]) -> LogFigures:
        messages = [line["message"] for line in stored]
        seqs = [line["seq"] for line in stored]
        duplicates = (len(messages) - len(set(messages))) + (len(seqs) - len(set(seqs)))
        missing_seqs = set(range(1, max(seqs, default=0) + 1)) - set(seqs)
        missing_lines = set(appended) - set(messages)
        return cls(len(appended), len(stored), duplicates, len(missing_seqs) + len(missing_lines))

    def __str__(self) -> str:
        return (
            f"lines appended {self.appended}, lines stored {self.stored}, "
            f"duplicates {self.duplicates}, gaps {self.gaps}"
        )


@dataclass(frozen=True)
class Served:
    """A running server and the database it serves."""

    url: str
    graphql: str
    database_url: str


@contextmanager
def serve_sqlite(directory: Path, env: dict[str, str] | None = None) -> Iterator[Served]:
    """A migrated SQLite database in ``directory`` and a server on it (for a module's tests,
    each in a tenant of its own)."""
    database_url = f"sqlite+aiosqlite:///{directory}/jobgraph.db"
    with live_server(database_url, directory, env=env) as server:
        yield Served(server.url, f"{server.url}/graphql", database_url)


WORKER_COMMAND = str(Path(sys.executable).with_name("jobgraph-worker"))
"""The console script ``make install`` puts next to the interpreter."""


def wait_for(predicate: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
