"""Two server processes sharing live updates through Redis (JOBGRAPH_BROKER_URL), on one SQLite
file and on PostgreSQL: a jobLogs subscriber on A gets every line appended through B, in order,
also when its process's Redis connections are killed mid-stream; /readyz reports the broker,
503 while Redis is down and 200 once it is back."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_e2e_live import seeded
from tests.e2e.test_e2e_scaleout import APPEND, CLAIM, COMPLETE, LOGS, gql
from tests.factories import make_job, make_key
from tests.gql_clients import TRANSPORT_WS, WsClient, ws_connect
from tests.live import live_server
from tests.redis_helpers import REDIS_URL, kill_clients, private_redis, unique_channel

pytestmark = pytest.mark.e2e


def lines(first: int, count: int = 10) -> list[dict[str, str]]:
    return [{"message": f"line {first + i}"} for i in range(count)]


async def test_logs_cross_processes_through_redis_and_survive_a_kill(
    database_url: str, tmp_path: Path
) -> None:
    async with seeded(database_url) as store:
        key = await make_key(store, scopes="read,submit,work")
        job = await make_job(store, items=1)
    channel = unique_channel()
    env = {"JOBGRAPH_BROKER_URL": REDIS_URL, "JOBGRAPH_BROKER_CHANNEL": channel}
    with (
        live_server(database_url, tmp_path, env=env) as a,
        live_server(database_url, tmp_path, env=env) as b,
    ):
        async with (
            httpx.AsyncClient(timeout=30) as client,
            ws_connect(a.ws_url, TRANSPORT_WS) as ws,
        ):
            ready = (await client.get(f"{a.url}/readyz")).json()
            assert ready == {"status": "ok", "database": "ok", "broker": "ok"}
            assert (await gql(client, b, key, CLAIM, w="w1"))["claimJob"]["id"] == job.id
            subscriber = WsClient(ws, TRANSPORT_WS)
            await subscriber.init({"X-API-Key": key})
            messages = subscriber.messages(await subscriber.start(LOGS, {"id": job.id}))
            received: list[dict[str, Any]] = []

            async def receive_until(seq: int) -> None:
                while not received or received[-1]["seq"] < seq:
                    message = await asyncio.wait_for(anext(messages), timeout=20)
                    assert message["type"] == "next", message
                    received.append(message["payload"]["data"]["jobLogs"])

            await gql(client, b, key, APPEND, j=job.id, w="w1", l=lines(1))
            await receive_until(10)  # reached A through Redis
            for first in range(11, 101, 10):
                await gql(client, b, key, APPEND, j=job.id, w="w1", l=lines(first))
            # Every process's subscribing connection goes; appends go on meanwhile.
            assert kill_clients(REDIS_URL, f"jobgraph-sub-{channel}") == 2
            for first in range(101, 201, 10):
                await gql(client, b, key, APPEND, j=job.id, w="w1", l=lines(first))
            await receive_until(200)
            await gql(client, b, key, COMPLETE, j=job.id, w="w1")
            final = await asyncio.wait_for(anext(messages), timeout=20)
            assert final["type"] == "complete", final
    assert [line["seq"] for line in received] == list(range(1, 201))
    assert [line["message"] for line in received] == [f"line {n}" for n in range(1, 201)]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_readyz_reports_the_broker(database_url: str, tmp_path: Path) -> None:
    async with seeded(database_url):
        pass
    with private_redis(tmp_path) as redis_server:
        env = {"JOBGRAPH_BROKER_URL": redis_server.url}
        with live_server(database_url, tmp_path, env=env) as server:
            async with httpx.AsyncClient(timeout=10) as client:
                assert (await client.get(f"{server.url}/readyz")).status_code == 200
                redis_server.stop()
                response = await client.get(f"{server.url}/readyz")
                assert response.status_code == 503
                assert response.json()["broker"] == "unreachable"
                redis_server.start()
                for _ in range(200):
                    response = await client.get(f"{server.url}/readyz")
                    if response.status_code == 200:
                        break
                    await asyncio.sleep(0.1)
                assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
