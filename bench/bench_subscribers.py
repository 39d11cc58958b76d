"""Live fan-out benchmark: N concurrent jobLogs subscribers while one job gets L lines/s.

Reports delivery latency (line timestamp -> received by a subscriber) p50/p99 and the
server's peak RSS. Drives the server only through its public API: createJob, then the worker
protocol (claimJob, appendLogs, completeJob) for the appends, graphql-transport-ws for the
subscribers. Use a fresh database: the bench claims the oldest pending job and expects it to
be its own.

    python bench/bench_subscribers.py --spawn                        # its own server + SQLite
    python bench/bench_subscribers.py --url http://127.0.0.1:8000 --key jg_... --pid 1234
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

ROOT = Path(__file__).resolve().parent.parent
LOGS = "subscription($id: ID!) { jobLogs(id: $id, after: 0) { seq timestamp } }"
CREATE = 'mutation { createJob(input: {items: [{url: "https://youtu.be/dQw4w9WgXcQ"}]}) { id } }'
CLAIM = 'mutation { claimJob(workerId: "bench", leaseSeconds: 3600) { id } }'
APPEND = """mutation($j: ID!, $lines: [LogLineInput!]!) {
  appendLogs(jobId: $j, workerId: "bench", lines: $lines) }"""
COMPLETE = 'mutation($j: ID!) { completeJob(jobId: $j, workerId: "bench") { status } }'
SAMPLE_EVERY = 10  # latency samples: every 10th line per subscriber keeps memory small


async def _gql(http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}})
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"{query.split('(')[0]}: {body['errors'][0]['message']}")
    return body["data"]


async def _subscriber(
    ws_url: str,
    key: str,
    job_id: str,
    samples: list[float],
    ready: asyncio.Event,
    delivered: list[int],
) -> None:
    async with connect(ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"X-API-Key": key}}))
        await ws.recv()
        payload = {"query": LOGS, "variables": {"id": job_id}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        ready.set()
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] != "next":
                break
            line = message["payload"]["data"]["jobLogs"]
            delivered[0] += 1
            if line["seq"] % SAMPLE_EVERY == 0:
                sent = datetime.fromisoformat(line["timestamp"]).timestamp()
                samples.append(time.time() - sent)


def _peak_rss_mb(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmHWM:"):  # the kernel's high-water mark of resident memory
            return int(row.split()[1]) / 1024
    return float("nan")


async def run(
    url: str,
    key: str,
    *,
    subscribers: int = 1000,
    lines_per_second: int = 1000,
    seconds: float = 10.0,
    batch: int | None = None,
    server_pid: int | None = None,
    drain_seconds: float | None = None,
) -> dict[str, float]:
    """Run once; returns latency percentiles (ms), delivery counts and peak server RSS (MB).

    Lines go in ``batch``-line appendLogs calls (default: ten calls a second). After the last
    append, subscribers get ``drain_seconds`` (default: ten times the run, plus a minute) to
    receive everything; whatever is still undelivered then is reported, not waited for.
    """
    drain = seconds * 10 + 60 if drain_seconds is None else drain_seconds
    delivered = [0]
    batch = batch or max(1, lines_per_second // 10)
    ws_url = url.replace("http", "ws", 1).rstrip("/") + "/graphql"
    headers = {"X-API-Key": key}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        job_id = (await _gql(http, CREATE))["createJob"]["id"]
        claimed = (await _gql(http, CLAIM))["claimJob"]
        if not claimed or claimed["id"] != job_id:
            raise RuntimeError("claimJob returned another job: run the bench on a fresh database")
        samples: list[float] = []
        readies = [asyncio.Event() for _ in range(subscribers)]
        tasks = []
        for ready in readies:  # connect gradually: a burst of handshakes is not the point
            tasks.append(
                asyncio.create_task(_subscriber(ws_url, key, job_id, samples, ready, delivered))
            )
            await asyncio.sleep(0.002)
        await asyncio.gather(*(ready.wait() for ready in readies))
        await asyncio.sleep(1.0)
        total = int(lines_per_second * seconds)
        interval = batch / lines_per_second
        started = time.monotonic()
        sent = 0
        for index in range(0, total, batch):
            if time.monotonic() - started > drain:
                break  # a saturated server: report what went in, do not wait for ever
            now = datetime.now(UTC).isoformat()
            lines = [{"message": f"bench {index + n}", "timestamp": now} for n in range(batch)]
            await _gql(http, APPEND, {"j": job_id, "lines": lines})
            sent += batch
            delay = started + (index + batch) / lines_per_second - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        append_seconds = time.monotonic() - started
        await _gql(http, COMPLETE, {"j": job_id})
        _done, pending = await asyncio.wait(tasks, timeout=drain)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    samples.sort() if samples else samples.append(float("nan"))
    return {
        "subscribers": float(subscribers),
        "lines": float(sent),
        "achieved_lines_per_second": sent / append_seconds,
        "delivered_fraction": delivered[0] / (sent * subscribers) if sent else 0.0,
        "delivered_messages_per_second": delivered[0] / (time.monotonic() - started),
        "latency_p50_ms": statistics.median(samples) * 1000,
        "latency_p99_ms": samples[max(0, int(len(samples) * 0.99) - 1)] * 1000,
        "server_peak_rss_mb": _peak_rss_mb(server_pid),
        "interval_s": interval,
    }


def _spawn(tmp: str) -> tuple[subprocess.Popen[bytes], str, str]:
    env = {**os.environ, "JOBGRAPH_DATABASE_URL": f"sqlite:///{tmp}/bench.db"}
    py = sys.executable
    subprocess.run([py, "app.py", "migrate"], cwd=ROOT, env=env, check=True)
    created = subprocess.run(
        [py, "app.py", "keys", "create", "--name", "bench", "--scopes", "read,submit,work"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    port = "8765"
    server = subprocess.Popen(
        [py, "app.py", "serve", "--port", port], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return server, url, created.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key")
    parser.add_argument("--pid", type=int, help="server process id, for its peak RSS")
    parser.add_argument("--spawn", action="store_true", help="start a server on a temp SQLite")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=1000, help="lines per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        url, key, pid = args.url, args.key, args.pid
        if args.spawn:
            server, url, key = _spawn(tmp)
            pid = server.pid
        if not key:
            parser.error("--key is required without --spawn")
        try:
            result = asyncio.run(
                run(url, key, subscribers=args.subscribers, lines_per_second=args.rate,
                    seconds=args.seconds, server_pid=pid)
            )  # fmt: skip
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
    for name, value in result.items():
        print(f"{name}\t{value:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
