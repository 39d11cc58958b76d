"""The floor: the least a Python server can do to answer ``job(id, tail: 100)`` correctly.

Raw Starlette + stdlib ``sqlite3`` + orjson, no GraphQL: it takes the same POST body (it reads
only ``variables``), checks the API key the same way (sha256, one indexed read, revoked, scope,
tenant), reads the job, its items and its log tail in one snapshot, and answers the same JSON
``{"data": {"job": {...}}}`` byte for byte as jobgraph does for the benchmark's query.

Run: ``python -m bench.floor --db PATH --port P`` (uvicorn, the same options as ``app.py serve``).
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import uuid
from datetime import datetime
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# The fields of the benchmark's query (bench.queries.JOB_FIELDS), in the same order.
_JOB_SQL = (
    "SELECT id, status, progress, created_at, updated_at, started_at, finished_at "
    "FROM jobs WHERE id = ? AND tenant = ?"
)
_ITEMS_SQL = (
    "SELECT position, platform, code, status, error FROM job_items "
    "WHERE job_id = ? ORDER BY position"
)
_TAIL_SQL = "SELECT message FROM log_lines WHERE job_id = ? ORDER BY seq DESC LIMIT ?"
_KEY_SQL = "SELECT tenant, scopes, revoked_at FROM api_keys WHERE key_hash = ?"
_URLS = {
    "YOUTUBE": "https://www.youtube.com/watch?v={}",
    "INSTAGRAM": "https://www.instagram.com/p/{}/",
    "TIKTOK": "https://m.tiktok.com/v/{}.html",
}


def _iso(value: str | None) -> str | None:
    # Stored as fixed-width text; Strawberry writes datetime.isoformat(), so round-trip it.
    return None if value is None else datetime.fromisoformat(value).isoformat()


def _error(status: int, message: str, code: str) -> Response:
    body = {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(orjson.dumps(body), status, media_type="application/json")


def create_floor(db_path: str) -> Starlette:
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")

    def read_job(job_id: str, tenant: str, tail: int) -> dict[str, Any] | None:
        conn.execute("BEGIN")
        try:
            row = conn.execute(_JOB_SQL, (job_id, tenant)).fetchone()
            if row is None:
                return None
            items = conn.execute(_ITEMS_SQL, (job_id,)).fetchall()
            messages = [m for (m,) in conn.execute(_TAIL_SQL, (job_id, tail))] if tail else []
        finally:
            conn.execute("COMMIT")
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
        found = conn.execute(_KEY_SQL, (hashlib.sha256(key.encode()).hexdigest(),)).fetchone()
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
        job = read_job(job_id, tenant, tail)
        if job is None:
            return _error(200, f"no job with id {job_id}", "NOT_FOUND")
        return Response(orjson.dumps({"data": {"job": job}}), media_type="application/json")

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--no-access-log", action="store_true")
    args = parser.parse_args()
    uvicorn.run(
        create_floor(args.db),
        host="127.0.0.1",
        port=args.port,
        log_level=args.log_level,
        access_log=not args.no_access_log,
    )


if __name__ == "__main__":
    main()
