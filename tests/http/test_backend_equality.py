"""SQLite and PostgreSQL answer every query `make bench` runs with the same bytes, with the
fast paths on and off: the same dataset (built on SQLite through the store, then copied row for
row into PostgreSQL), the same requests through the whole app, byte-for-byte equal bodies."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, insert, select

from app import create_app
from bench.dataset import Dataset, build
from bench.queries import SchemaShape, append_logs_body, body, job_body, jobs_query
from settings import Settings
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.tables import api_keys, job_items, jobs, log_lines
from tests.conftest import _truncate

_COPIED = (api_keys, jobs, job_items, log_lines)
_CLOCKED = re.compile(rb'"(updatedAt|startedAt)":"[^"]*"')


async def _copy(source_url: str, target_url: str) -> None:
    source = Database(Settings(database_url=source_url, env="test"))
    target = Database(Settings(database_url=target_url, env="test"))
    try:
        await upgrade_to_head(target)
        for table in _COPIED:
            rows = await source.read(
                lambda conn, t=table: [dict(row._mapping) for row in conn.execute(select(t))]  # type: ignore[misc]
            )

            def write(conn: Connection, t: Any = table, r: list[dict[str, Any]] = rows) -> None:
                if r:
                    conn.execute(insert(t), r)

            await target.write(write)
    finally:
        await source.dispose()
        await target.dispose()


@asynccontextmanager
async def _client(url: str, *, fast: bool, tmp: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=url,
        env="test",
        fast_paths=fast,
        rate_limit_per_second=1_000_000,
        webhook_secret_key_file=str(tmp / "webhook.key"),
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://jobgraph.test") as c:
            yield c


async def _post(client: httpx.AsyncClient, content: bytes, key: str) -> bytes:
    response = await client.post(
        "/graphql",
        content=content,
        headers={"content-type": "application/json", "x-api-key": key},
    )
    assert response.status_code == 200, response.text
    assert b'"errors"' not in response.content, response.text
    return response.content


async def _reads(url: str, data: Dataset, *, fast: bool, tmp: Path) -> dict[str, bytes]:
    """The bench's reads: job(id, tail: 100) on a 50-line and on the long job, the page."""
    async with _client(url, fast=fast, tmp=tmp) as client:
        shape = SchemaShape(
            (
                await client.post(
                    "/graphql",
                    content=SchemaShape.introspection_body(),
                    headers={"content-type": "application/json", "x-api-key": data.key},
                )
            ).json()
        )
        query, _ = jobs_query(shape)
        answers = {
            "job": await _post(client, job_body(data.small_job_ids[1]), data.key),
            "long job": await _post(client, job_body(data.big_job_id), data.key),
            "running job": await _post(client, job_body(data.small_job_ids[2]), data.key),
            "jobs page": await _post(client, body(query), data.key),
        }
    return answers


async def _ingest(url: str, data: Dataset, *, fast: bool, tmp: Path) -> dict[str, bytes]:
    """The bench's appendLogs: a claim, two 500-line batches, then the job as read back."""
    async with _client(url, fast=fast, tmp=tmp) as client:
        claim = await _post(
            client,
            body('mutation { claimJob(workerId: "bench-worker", leaseSeconds: 3600) { id } }'),
            data.key,
        )
        job_id = httpx.Response(200, content=claim).json()["data"]["claimJob"]["id"]
        batch = append_logs_body(job_id, "bench-worker", 500)
        return {
            "claim": claim,
            "append 1": await _post(client, batch, data.key),
            "append 2": await _post(client, batch, data.key),
            # The same bytes but for the times the two runs' clocks stamped.
            "after": _CLOCKED.sub(b"", await _post(client, job_body(job_id, tail=600), data.key)),
        }


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "stock"])
def test_sqlite_and_postgresql_answer_the_bench_queries_alike(
    tmp_path: Path, pg_database: str, fast: bool
) -> None:
    async def run() -> None:
        await _truncate(pg_database)
        data = await build(
            tmp_path, jobs_count=60, lines=50, big_lines=1_000, batch=1_000, quiet=True
        )
        await _copy(data.database_url, pg_database)
        sqlite_reads = await _reads(data.database_url, data, fast=fast, tmp=tmp_path)
        pg_reads = await _reads(pg_database, data, fast=fast, tmp=tmp_path)
        for name, answer in sqlite_reads.items():
            assert answer == pg_reads[name], name
        assert sqlite_reads["jobs page"].count(b'"logTail"') == 50
        sqlite_ingest = await _ingest(data.database_url, data, fast=fast, tmp=tmp_path)
        pg_ingest = await _ingest(pg_database, data, fast=fast, tmp=tmp_path)
        for name, answer in sqlite_ingest.items():
            assert answer == pg_ingest[name], name
        assert b"bench line 499" in sqlite_ingest["after"]
        assert sqlite_ingest["append 2"] == b'{"data":{"appendLogs":1050}}'

    asyncio.run(run())
