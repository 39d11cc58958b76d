"""A fallback load generator when wrk is unavailable: keep-alive HTTP/1.1 over asyncio.

``python -m bench.pyload PORT BODIES.json KEY CONNECTIONS SECONDS`` prints one ``BENCH_JSON``
line like bench.load's wrk script. It costs more CPU per request than wrk, so on a small machine
it lowers every server's numbers alike; ratios stay comparable within a run.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


def _request(port: int, body: bytes, key: str) -> bytes:
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nX-API-Key: {key}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _client(
    port: int, requests: list[bytes], deadline: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    index = 0
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(requests[index % len(requests)])
            index += 1
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if b" 200 " not in status_line:
                errors.append(1)
    finally:
        writer.close()


async def _main(port: int, bodies: list[str], key: str, connections: int, seconds: float) -> None:
    requests = [_request(port, body.encode(), key) for body in bodies]
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(_client(port, requests, deadline, latencies, errors) for _ in range(connections))
    )
    took = time.perf_counter() - started
    latencies.sort()

    def percentile(p: float) -> int:
        if not latencies:
            return 0
        return int(latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1e6)

    summary = {
        "requests": len(latencies),
        "duration_us": int(took * 1e6),
        "p50_us": percentile(0.50),
        "p99_us": percentile(0.99),
        "errors": len(errors),
    }
    print("BENCH_JSON " + json.dumps(summary))


if __name__ == "__main__":
    port, bodies_file, key, connections, seconds = sys.argv[1:6]
    with open(bodies_file) as handle:
        loaded = json.load(handle)
    asyncio.run(_main(int(port), loaded, key, int(connections), float(seconds)))
