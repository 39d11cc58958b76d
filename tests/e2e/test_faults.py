"""Faults: the database goes away and comes back; a batch fails half-way; a process is
killed mid-append. Nothing acknowledged is lost, nothing half-done is kept."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import httpx
import pytest
from sqlalchemy import exc, func, select
from sqlalchemy.engine import make_url

from storage.logs import append_lines
from storage.store import Store
from storage.tables import jobs, log_lines
from tests.factories import make_job, make_key
from tests.http_client import app_client
from tests.live import ROOT, live_server
from tests.pg_proxy import TcpProxy

ME = {"query": "{ me { name } }"}


async def test_postgres_unreachable_then_back_without_restart(pg_database: str) -> None:
    url = make_url(pg_database)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        async with app_client(proxied) as client:
            job = await make_job(client.store, lines=2)
            read = {"query": f'{{ job(id: "{job.id}") {{ logTail }} }}'}
            assert (await client.post(read)).json()["data"]["job"]["logTail"] == "line 1\nline 2"

            await proxy.stop()
            for accept in ("application/json", "application/graphql-response+json"):
                response = await client.post(read, accept=accept)
                assert response.status_code == 503, response.text
                body = response.json()
                assert body["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
                assert "SELECT" not in response.text and "asyncpg" not in response.text
            ready = await client.http.get("/readyz")
            assert ready.status_code == 503 and ready.json()["database"] == "unreachable"

            await proxy.start()
            response = await client.post(read)
            assert response.status_code == 200
            assert response.json()["data"]["job"]["logTail"] == "line 1\nline 2"
            assert (await client.http.get("/readyz")).status_code == 200
    finally:
        await proxy.stop()


async def test_sqlite_directory_gone_then_back(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with app_client(f"sqlite+aiosqlite:///{data}/jobgraph.db") as client:
        assert (await client.post(ME)).status_code == 200
        moved = tmp_path / "moved"
        data.rename(moved)
        # Connections already open keep their file; new ones cannot find it. Drop the pool,
        # as a restart of the connection pool (or the OS closing idle files) would.
        await client.store.db.dispose()
        data.write_text("not a directory")  # so SQLite cannot create a fresh, empty file
        response = await client.post(ME, accept="application/graphql-response+json")
        assert response.status_code == 503
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
        assert (await client.http.get("/readyz")).status_code == 503
        data.unlink()
        moved.rename(data)
        assert (await client.post(ME)).json()["data"]["me"]["name"] == "k"
        assert (await client.http.get("/readyz")).status_code == 200


async def test_a_batch_that_fails_half_way_stores_nothing(store: Store) -> None:
    job = await make_job(store, lines=3)
    now = datetime.now(UTC)
    lines = [(now, "INFO", f"batch {index}") for index in range(10)]
    lines[5] = (now, "INFO", None)  # type: ignore[assignment]  # NOT NULL: fails mid-insert
    # SQLite's fast path runs on the driver's cursor, so the driver's own error surfaces there.
    with pytest.raises((exc.IntegrityError, sqlite3.IntegrityError)):
        await store.db.write(partial(append_lines, job_id=job.id, lines=lines))

    def state(conn: object) -> tuple[int, int, int]:
        last_seq = conn.execute(select(jobs.c.last_seq).where(jobs.c.id == job.id)).scalar_one()  # type: ignore[attr-defined]
        count, top = conn.execute(  # type: ignore[attr-defined]
            select(func.count(), func.max(log_lines.c.seq)).where(log_lines.c.job_id == job.id)
        ).one()
        return int(last_seq), int(count), int(top)

    assert await store.db.read(state) == (3, 3, 3)  # the seq reservation rolled back too
    ok = [(now, "INFO", "after")]
    assert await store.db.write(partial(append_lines, job_id=job.id, lines=ok)) == 4


APPENDER = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import UTC, datetime
    from functools import partial
    from settings import Settings
    from storage.database import Database
    from storage.logs import append_lines

    async def main(url: str, job_id: str) -> None:
        db = Database(Settings(database_url=url))

        async def appender(name: str) -> None:
            for batch in range(100_000):
                lines = [(datetime.now(UTC), "INFO", f"{name}-{batch}-{i}") for i in range(7)]
                last = await db.write(partial(append_lines, job_id=job_id, lines=lines))
                # Acknowledged: committed before this line is printed.
                print(f"{last} {name}-{batch}", flush=True)

        await asyncio.gather(*(appender(f"w{n}") for n in range(3)))

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def test_sigkill_during_appends_loses_no_acknowledged_line(
    store: Store, database_url: str
) -> None:
    job = await make_job(store)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        APPENDER,
        database_url,
        job.id,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    acknowledged: list[tuple[int, str]] = []
    while len(acknowledged) < 40:
        raw = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        assert raw, "the appender exited early"
        seq_text, batch = raw.decode().split()
        acknowledged.append((int(seq_text), batch))
    process.send_signal(signal.SIGKILL)
    await process.wait()
    # Lines printed after our last read were acknowledged too: read what is left.
    for rest in (await process.stdout.read()).decode().splitlines():
        seq_text, batch = rest.split()
        acknowledged.append((int(seq_text), batch))

    def stored(conn: object) -> tuple[int, list[tuple[int, str]]]:
        last_seq = conn.execute(select(jobs.c.last_seq).where(jobs.c.id == job.id)).scalar_one()  # type: ignore[attr-defined]
        rows = conn.execute(  # type: ignore[attr-defined]
            select(log_lines.c.seq, log_lines.c.message)
            .where(log_lines.c.job_id == job.id)
            .order_by(log_lines.c.seq)
        ).all()
        return int(last_seq), [(int(seq), message) for seq, message in rows]

    last_seq, rows = await store.db.read(stored)
    seqs = [seq for seq, _ in rows]
    assert seqs == list(range(1, len(rows) + 1)), "seq has a gap or a duplicate"
    assert last_seq == len(rows)
    by_seq = dict(rows)
    for batch_last, batch in acknowledged:
        # A batch of 7 ends at its acknowledged seq, its lines in order.
        assert [by_seq.get(seq) for seq in range(batch_last - 6, batch_last + 1)] == [
            f"{batch}-{index}" for index in range(7)
        ]


def test_unavailable_message_leaks_nothing() -> None:
    # The mapped error says only what kind of failure it is (see storage/database.py).
    from storage.database import _unavailable

    error = _unavailable(OSError("connect to 10.0.0.1:5432 password=secret failed"))
    assert error.code == "UNAVAILABLE"
    assert "secret" not in error.message and "10.0.0.1" not in error.message


CLAIM = "mutation($w: String!) { claimJob(workerId: $w, leaseSeconds: 600) { id } }"
APPEND = (
    "mutation($j: ID!, $w: String!, $l: [LogLineInput!]!) "
    "{ appendLogs(jobId: $j, workerId: $w, lines: $l) }"
)


@pytest.mark.e2e
async def test_server_sigkilled_during_append_logs_loses_no_acknowledged_line(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    key = await make_key(store, scopes="read,submit,work")
    job = await make_job(store)
    env = {"JOBGRAPH_RATE_LIMIT_PER_SECOND": "0"}
    acknowledged: list[tuple[int, str]] = []
    with live_server(database_url, tmp_path, env=env) as server:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"X-API-Key": key}, timeout=10
        ) as http:
            claim = await http.post("/graphql", json={"query": CLAIM, "variables": {"w": "w"}})
            assert claim.json()["data"]["claimJob"]["id"] == job.id

            async def appender(name: str) -> None:
                for batch in range(10_000):
                    lines = [{"message": f"{name}-{batch}-{i}"} for i in range(5)]
                    variables = {"j": job.id, "w": "w", "l": lines}
                    try:
                        response = await http.post(
                            "/graphql", json={"query": APPEND, "variables": variables}
                        )
                    except httpx.HTTPError:
                        return  # the server is gone: this batch was never acknowledged
                    acknowledged.append((response.json()["data"]["appendLogs"], f"{name}-{batch}"))

            tasks = [asyncio.create_task(appender(f"a{n}")) for n in range(3)]
            while len(acknowledged) < 30:
                await asyncio.sleep(0.02)
            server.process.send_signal(signal.SIGKILL)
            await asyncio.gather(*tasks)

    def stored(conn: object) -> tuple[int, list[tuple[int, str]]]:
        last_seq = conn.execute(select(jobs.c.last_seq).where(jobs.c.id == job.id)).scalar_one()  # type: ignore[attr-defined]
        rows = conn.execute(  # type: ignore[attr-defined]
            select(log_lines.c.seq, log_lines.c.message)
            .where(log_lines.c.job_id == job.id)
            .order_by(log_lines.c.seq)
        ).all()
        return int(last_seq), [(int(seq), message) for seq, message in rows]

    last_seq, rows = await store.db.read(stored)
    assert [seq for seq, _ in rows] == list(range(1, len(rows) + 1)), "seq gap or duplicate"
    assert last_seq == len(rows)
    by_seq = dict(rows)
    for batch_last, batch in acknowledged:
        assert [by_seq.get(seq) for seq in range(batch_last - 4, batch_last + 1)] == [
            f"{batch}-{index}" for index in range(5)
        ]
