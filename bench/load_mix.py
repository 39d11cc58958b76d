"""Load mix: N concurrent clients for S seconds mixing reads, submits, appends and subscriptions.

    python -m bench.load_mix --url http://127.0.0.1:8000 --key jg_... --seconds 60 --clients 50

Client i plays role i % 4: reader (job with a 50-line tail), submitter (createJob), appender
(claimJob once, then appendLogs batches to that job) or subscriber (jobUpdated over
graphql-transport-ws: time to the first event). Operations a server does not offer
(appendLogs, claimJob, jobUpdated) are detected up front and their roles fall back to reads.
At the end every appender's job is read back: lines acknowledged but not stored are "lost".

Run the server with ``JOBGRAPH_RATE_LIMIT_PER_SECOND=0`` (one key sends everything here).
Returns / prints: errors (must be 0), lost_lines (must be 0), p50/p99 per operation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections import defaultdict
from typing import Any

import httpx
import websockets

CREATE = "mutation($i: CreateJobInput!) { createJob(input: $i) { id } }"
READ = "query($id: ID!) { job(id: $id, tail: 50) { id status progress logTail logLineCount } }"
CLAIM = "mutation($w: String!) { claimJob(workerId: $w, leaseSeconds: 600) { id } }"
APPEND = (
    "mutation($j: ID!, $w: String!, $l: [LogLineInput!]!) "
    "{ appendLogs(jobId: $j, workerId: $w, lines: $l) }"
)
COUNT = "query($id: ID!) { job(id: $id) { logLineCount } }"
SUBSCRIBE = "subscription($id: ID!) { jobUpdated(id: $id) { id status } }"
FIELDS = (
    '{ m: __type(name: "Mutation") { fields { name } } '
    's: __type(name: "Subscription") { fields { name } } }'
)
BATCH = 20


class Stats:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.samples: list[str] = []

    def record(self, op: str, started: float, ok: bool, detail: str = "") -> None:
        self.latencies[op].append(time.perf_counter() - started)
        if not ok:
            self.errors[op] += 1
            if len(self.samples) < 5:
                self.samples.append(f"{op}: {detail[:300]}")

    def summary(self) -> dict[str, Any]:
        ops: dict[str, Any] = {}
        for op, values in sorted(self.latencies.items()):
            ordered = sorted(values)
            ops[op] = {
                "count": len(values),
                "errors": self.errors.get(op, 0),
                "p50_ms": round(statistics.median(ordered) * 1000, 2),
                "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
            }
        return ops


async def _gql(
    http: httpx.AsyncClient, stats: Stats, op: str, query: str, variables: dict[str, Any]
) -> Any:
    started = time.perf_counter()
    try:
        response = await http.post("/graphql", json={"query": query, "variables": variables})
        body = response.json()
    except (httpx.HTTPError, ValueError) as error:
        stats.record(op, started, False, repr(error))
        return None
    ok = response.status_code == 200 and not body.get("errors")
    stats.record(op, started, ok, response.text)
    return body.get("data") if ok else None


async def _create(http: httpx.AsyncClient, stats: Stats, n: int) -> str | None:
    items = [{"platform": "YOUTUBE", "code": f"{(n * 7 + i) % 10**11:011d}"} for i in range(3)]
    data = await _gql(http, stats, "submit", CREATE, {"i": {"items": items}})
    return data["createJob"]["id"] if data else None


async def _reader(http: httpx.AsyncClient, stats: Stats, job_id: str, stop: float) -> None:
    while time.monotonic() < stop:
        await _gql(http, stats, "read", READ, {"id": job_id})


async def _submitter(http: httpx.AsyncClient, stats: Stats, stop: float) -> None:
    n = 0
    while time.monotonic() < stop:
        await _create(http, stats, n)
        n += 1


async def _appender(
    http: httpx.AsyncClient, stats: Stats, stop: float, acked: dict[str, int], me: int
) -> None:
    worker = f"bench-{me}-{uuid.uuid4().hex[:6]}"
    await _create(http, stats, 10_000 + me)  # a pending job for this worker to claim
    data = await _gql(http, stats, "claim", CLAIM, {"w": worker})
    if not data or not data["claimJob"]:
        return
    job_id = data["claimJob"]["id"]
    batch = 0
    while time.monotonic() < stop:
        lines = [{"message": f"{worker} {batch} {i}", "level": "INFO"} for i in range(BATCH)]
        data = await _gql(http, stats, "append", APPEND, {"j": job_id, "w": worker, "l": lines})
        if data is not None:
            acked[job_id] = max(acked.get(job_id, 0), int(data["appendLogs"]))
        batch += 1


async def _subscriber(ws_url: str, key: str, stats: Stats, job_id: str, stop: float) -> None:
    while time.monotonic() < stop:
        started = time.perf_counter()
        try:
            async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
                await ws.send(
                    json.dumps({"type": "connection_init", "payload": {"X-API-Key": key}})
                )
                ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
                sub = {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIBE, "variables": {"id": job_id}},
                }
                await ws.send(json.dumps(sub))
                first = json.loads(await asyncio.wait_for(ws.recv(), 10))
                ok = (
                    ack["type"] == "connection_ack"
                    and first["type"] == "next"
                    and not first["payload"].get("errors")
                )
                stats.record("subscribe", started, ok, json.dumps(first))
                await ws.send(json.dumps({"id": "1", "type": "complete"}))
        except (TimeoutError, OSError, websockets.WebSocketException, KeyError) as error:
            stats.record("subscribe", started, False, repr(error))


async def run(url: str, key: str, seconds: float, clients: int) -> dict[str, Any]:
    """Drive the mix against ``url`` (the server's base URL) and return the summary."""
    stats = Stats()
    base = url.rstrip("/").removesuffix("/graphql")
    ws_url = base.replace("http", "ws", 1) + "/graphql"
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(
        base_url=base, headers={"X-API-Key": key}, limits=limits, timeout=30
    ) as http:
        fields = await _gql(http, Stats(), "introspect", FIELDS, {}) or {}
        mutations = {f["name"] for f in ((fields.get("m") or {}).get("fields") or [])}
        subscriptions = {f["name"] for f in ((fields.get("s") or {}).get("fields") or [])}
        can_append = {"claimJob", "appendLogs"} <= mutations
        can_subscribe = "jobUpdated" in subscriptions
        seed = await _create(http, stats, 0)
        if seed is None:
            raise RuntimeError(f"cannot create a job: {stats.samples}")
        stop = time.monotonic() + seconds
        acked: dict[str, int] = {}
        tasks = []
        for index in range(clients):
            role = index % 4
            if role == 1:
                tasks.append(_submitter(http, stats, stop))
            elif role == 2 and can_append:
                tasks.append(_appender(http, stats, stop, acked, index))
            elif role == 3 and can_subscribe:
                tasks.append(_subscriber(ws_url, key, stats, seed, stop))
            else:
                tasks.append(_reader(http, stats, seed, stop))
        started = time.perf_counter()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
        lost = 0
        for job_id, last_seq in acked.items():
            data = await _gql(http, Stats(), "verify", COUNT, {"id": job_id})
            stored = data["job"]["logLineCount"] if data else 0
            lost += max(0, last_seq - stored)
    operations = stats.summary()
    return {
        "seconds": round(elapsed, 1),
        "clients": clients,
        "operations": operations,
        "requests_per_second": round(sum(o["count"] for o in operations.values()) / elapsed, 1),
        "errors": sum(stats.errors.values()),
        "error_samples": stats.samples,
        "lost_lines": lost,
        "acknowledged_lines": sum(acked.values()),
        "skipped_roles": [
            name
            for name, present in (("append", can_append), ("subscribe", can_subscribe))
            if not present
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    result = asyncio.run(run(args.url, args.key, args.seconds, args.clients))
    print(json.dumps(result, indent=2))
    return 0 if result["errors"] == 0 and result["lost_lines"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
