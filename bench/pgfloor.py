"""The PostgreSQL floor: the least a Python server can do to answer ``job(id, tail: 100)``
correctly on PostgreSQL.

Raw Starlette + an asyncpg pool + orjson, no GraphQL, no SQLAlchemy: the same POST body (it
reads only ``variables``), the same key check (sha256, one indexed read, revoked, scope,
tenant), then the job, its items and its log tail (three statements, each prepared once per
connection by asyncpg's statement cache, on one pooled connection, no transaction), answering
the same JSON ``{"data": {"job": {...}}}`` byte for byte as jobgraph does for the benchmark's
query.

Run: ``python -m bench.pgfloor --dsn postgresql://… --port P``.
"""

from __future__ import annotations

import argparse
import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_JOB_SQL = (
    "SELECT id, status, progress, created_at, updated_at, started_at, finished_at "
    "FROM jobs WHERE id = $1 AND tenant = $2"
)
_ITEMS_SQL = (
    "SELECT position, platform, code, status, error FROM job_items "
    "WHERE job_id = $1 ORDER BY position"
)
_TAIL_SQL = "SELECT message FROM log_lines WHERE job_id = $1 ORDER BY seq DESC LIMIT $2"
_KEY_SQL = "SELECT tenant, scopes, revoked_at FROM api_keys WHERE key_hash = $1"
_URLS = {
    "YOUTUBE": "https://www.youtube.com/watch?v={}",
    "INSTAGRAM": "https://www.instagram.com/p/{}/",
    "TIKTOK": "https://m.tiktok.com/v/{}.html",
}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _error(status: int, message: str, code: str) -> Response:
    body = {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(orjson.dumps(body), status, media_type="application/json")


def create_floor(dsn: str, *, pool_size: int = 10) -> Starlette:
    pools: list[asyncpg.Pool] = []

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        pools.append(await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size))
        try:
            yield
        finally:
            await pools[0].close()

    async def read_job(job_id: str, tenant: str, tail: int) -> dict[str, Any] | None:
        async with pools[0].acquire() as conn:
            row = await conn.fetchrow(_JOB_SQL, job_id, tenant)
            if row is None:
                return None
            items = await conn.fetch(_ITEMS_SQL, job_id)
            messages = [m for (m,) in await conn.fetch(_TAIL_SQL, job_id, tail)] if tail else []
        messages.reverse()
        return {
            "id": row[0],
            "status": row[1],
            "progress": row[2],
            "createdAt": _iso(row[3]),
            "updatedAt": _iso(row[4]),
            "startedAt": _iso(row[5]),
            "finishedAt": _iso(row[6]),
            "items": [
                {
                    "position": position,
                    "platform": platform,
                    "code": code,
                    "url": _URLS[platform].format(code),
                    "status": status,
                    "error": error,
                }
                for position, platform, code, status, error in items
            ],
            "logTail": "\n".join(messages),
        }

    async def graphql(request: Request) -> Response:
        key = request.headers.get("x-api-key", "")
        found = await pools[0].fetchrow(_KEY_SQL, hashlib.sha256(key.encode()).hexdigest())
        if found is None or found[2] is not None:
            return _error(401, "invalid or revoked API key", "UNAUTHENTICATED")
        tenant, scopes, _ = found
        if "read" not in scopes.split(","):
            return _error(200, "this API key lacks the 'read' scope", "FORBIDDEN")
        variables = orjson.loads(await request.body()).get("variables") or {}
        try:
            job_id = str(uuid.UUID(variables["id"]))
        except (KeyError, ValueError, TypeError):
            return _error(200, "invalid job id", "BAD_USER_INPUT")
        tail = int(variables.get("tail", 100))
        job = await read_job(job_id, tenant, tail)
        if job is None:
            return _error(200, f"no job with id {job_id}", "NOT_FOUND")
        return Response(orjson.dumps({"data": {"job": job}}), media_type="application/json")

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"])], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pgfloor")
    parser.add_argument("--dsn", required=True, help="postgresql://… (asyncpg's form)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--no-access-log", action="store_true")
    args = parser.parse_args()
    uvicorn.run(
        create_floor(args.dsn),
        host="127.0.0.1",
        port=args.port,
        log_level=args.log_level,
        access_log=not args.no_access_log,
    )


if __name__ == "__main__":
    main()
