"""The subscribers of the live benchmark, in a process of their own (``bench.bench_live``).

One graphql-transport-ws socket per subscription, raw JSON over ``bench.ws_client`` (the
protocol code of ``websockets`` without a future per message, so the clients stay light).
Reads a spec (JSON file named on the command line), prints ``ready`` once every subscription
was sent (a jobUpdated one: once it got its first message; an idle run first prints
``connected`` after every connection_ack, then waits for ``subscribe`` on stdin), and prints
one JSON line of results when every subscription completed or ``stop`` arrives on stdin:
latency samples (line timestamp -> received), what each subscription got, and this process's
CPU seconds, so the bench can show that the clients were not the bottleneck.

    python -m bench.live_clients spec.json
"""

from __future__ import annotations

import asyncio
import resource
import sys
import threading
import time
from datetime import datetime
from typing import Any

import orjson

from bench.ws_client import LightSocket, connect

PROTOCOL = "graphql-transport-ws"
SAMPLE_EVERY = 10  # jobLogs: a latency sample every 10th line keeps the client light


class Tally:
    def __init__(self) -> None:
        self.samples: list[float] = []
        self.delivered = 0  # log lines received
        self.states = 0  # jobUpdated messages received
        self.out_of_order = 0
        self.errors: list[Any] = []
        self.completed = 0


def _latency(stamp: str) -> float:
    return time.time() - datetime.fromisoformat(stamp).timestamp()


async def _open(url: str, key: str) -> LightSocket:
    ws = await connect(url, PROTOCOL)
    init = {"type": "connection_init", "payload": {"X-API-Key": key}}
    await ws.send(orjson.dumps(init).decode())  # text frames: the protocol refuses binary
    ack = orjson.loads(await ws.recv())
    if ack.get("type") != "connection_ack":
        raise RuntimeError(f"no connection_ack: {ack}")
    return ws


async def _follow(ws: LightSocket, sub: dict[str, Any], tally: Tally, first: Any) -> None:
    payload = {"query": sub["query"], "variables": sub["variables"]}
    await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": payload}).decode())
    kind = sub["kind"]
    if kind != "updated" and not first.done():
        first.set_result(None)  # a log follower on an empty job hears nothing until lines come
    expected = 1
    async for raw in ws:
        message = orjson.loads(raw)
        kind_of = message.get("type")
        if kind_of == "complete":
            tally.completed += 1
            break
        if kind_of != "next" or "errors" in message["payload"]:
            tally.errors.append(message)
            break
        data = message["payload"]["data"]
        if kind == "logs":
            line = data["jobLogs"]
            if line["seq"] != expected:
                tally.out_of_order += 1
            expected = line["seq"] + 1
            tally.delivered += 1
            if line["seq"] % SAMPLE_EVERY == 0:
                tally.samples.append(_latency(line["timestamp"]))
        elif kind == "batches":
            lines = data["jobLogBatches"]["lines"]
            if lines[0]["seq"] != expected:
                tally.out_of_order += 1
            expected = lines[-1]["seq"] + 1
            tally.delivered += len(lines)
            tally.samples.append(_latency(lines[0]["timestamp"]))
        else:
            tally.states += 1
        if not first.done():
            first.set_result(None)
    if not first.done():
        first.set_result(None)


async def _stdin_lines() -> asyncio.Queue[str]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line.strip())

    # A daemon thread: a client that ends must not wait for its stdin to close.
    threading.Thread(target=read, daemon=True).start()
    return queue


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    commands = await _stdin_lines()
    tally = Tally()
    url, key = spec["ws_url"], spec["key"]
    subs = spec["subs"]
    sockets: list[LightSocket] = []
    for start in range(0, len(subs), 50):  # connect in waves: handshakes are not the point
        sockets += await asyncio.gather(*(_open(url, key) for _ in subs[start : start + 50]))
    if spec.get("idle"):
        print("connected", flush=True)
        while await commands.get() != "subscribe":
            pass
    loop = asyncio.get_running_loop()
    firsts = [loop.create_future() for _ in subs]
    cpu_before = _cpu()
    started = time.monotonic()
    tasks = [
        asyncio.create_task(_follow(ws, sub, tally, first))
        for ws, sub, first in zip(sockets, subs, firsts, strict=True)
    ]
    await asyncio.gather(*firsts)
    print("ready", flush=True)
    everything = asyncio.gather(*tasks, return_exceptions=True)
    stop = asyncio.ensure_future(commands.get())
    while not everything.done():
        await asyncio.wait((everything, stop), return_when=asyncio.FIRST_COMPLETED)
        if stop.done():
            if stop.result() == "stop":
                break
            stop = asyncio.ensure_future(commands.get())
    seconds = time.monotonic() - started
    cpu = _cpu() - cpu_before
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for ws in sockets:
        ws.close()
    return {
        "samples": tally.samples,
        "delivered": tally.delivered,
        "states": tally.states,
        "out_of_order": tally.out_of_order,
        "errors": [orjson.dumps(e).decode()[:300] for e in tally.errors[:5]],
        "error_count": len(tally.errors),
        "completed": tally.completed,
        "cpu_seconds": cpu,
        "seconds": seconds,
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with open(sys.argv[1], "rb") as spec_file:
        result = asyncio.run(main(orjson.loads(spec_file.read())))
    print(orjson.dumps(result).decode(), flush=True)
