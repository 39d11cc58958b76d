"""The response budget on WebSockets: one context serves every operation on a socket, yet
each operation (and each event of a subscription) gets a budget of its own, on both
subprotocols; the fields of one operation share theirs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.typing import Subprotocol

from settings import Settings
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.store import Store
from tests.factories import make_job, make_key
from tests.gql_clients import LEGACY_WS, TRANSPORT_WS, WsClient, recv_json, ws_connect
from tests.live import live_server

pytestmark = pytest.mark.e2e

SMALL = {
    "JOBGRAPH_MAX_RESPONSE_BYTES": "65536",
    "JOBGRAPH_MAX_RESPONSE_LINES": "100",
    "JOBGRAPH_MAX_LOG_MESSAGE_BYTES": "4096",
}


async def answers(client: WsClient, queries: list[str]) -> list[Any]:
    """Start every query at once on the socket; each one's data, in the order given."""
    ids = [await client.start(query) for query in queries]
    data: dict[str, Any] = {}
    done: set[str] = set()
    async with asyncio.timeout(20):
        while done != set(ids):
            message = await recv_json(client.ws)
            if message["type"] in ("next", "data"):
                data[message["id"]] = message["payload"]["data"]
            elif message["type"] in ("complete", "error"):
                assert message["type"] == "complete", message
                done.add(message["id"])
    return [data[op_id] for op_id in ids]


def lines(tail: str) -> int:
    return len(tail.split("\n")) if tail else 0


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_each_operation_on_a_socket_has_its_own_budget(
    tmp_path: Path, protocol: Subprotocol
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/jobgraph.db"
    db = Database(Settings(database_url=url))
    await upgrade_to_head(db)
    store = Store(db)
    key = await make_key(store)
    job = await make_job(store, lines=150)
    await db.dispose()
    one = f'{{ job(id: "{job.id}") {{ logTail logTailTruncated }} }}'
    two = (
        f'{{ a: job(id: "{job.id}", tail: 70) {{ logTail }} b: job(id: "{job.id}") {{ logTail }} }}'
    )
    updated = f'subscription {{ jobUpdated(id: "{job.id}") {{ status logTail }} }}'
    cancel = f'mutation {{ cancelJob(id: "{job.id}") {{ status }} }}'
    with live_server(url, tmp_path, env=SMALL) as server:
        async with ws_connect(server.ws_url, protocol) as ws:
            client = WsClient(ws, protocol)
            assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
            # One after the other, then four at once: each gets the whole budget. (Legacy
            # graphql-ws carries subscriptions only.)
            batches = [] if client.legacy else [[one], [one], [one, one, two, one]]
            for batch in batches:
                for answer in await answers(client, batch):
                    if "job" in answer:
                        assert lines(answer["job"]["logTail"]) == 100
                        assert answer["job"]["logTailTruncated"] is True
                    else:  # two fields of one operation share one budget
                        assert [lines(answer[f]["logTail"]) for f in "ab"] == [70, 30]
            # Two subscriptions at once: a budget per event of each (the cancel makes the
            # second, last event).
            subs = [await client.start(updated) for _ in range(2)]
            events: dict[str, list[Any]] = {sub_id: [] for sub_id in subs}
            finished: set[str] = set()
            async with asyncio.timeout(20):
                while finished != set(subs):
                    message = await recv_json(ws)
                    if message["type"] in ("next", "data"):
                        events[message["id"]].append(message["payload"]["data"]["jobUpdated"])
                        if sum(map(len, events.values())) == 2:
                            async with httpx.AsyncClient(base_url=server.url) as http:
                                await http.post(
                                    "/graphql", json={"query": cancel}, headers={"X-API-Key": key}
                                )
                    elif message["type"] in ("complete", "error"):
                        assert message["type"] == "complete", message
                        finished.add(message["id"])
            for sub_id in subs:
                assert [event["status"] for event in events[sub_id]] == ["PENDING", "CANCELLED"]
                assert [lines(event["logTail"]) for event in events[sub_id]] == [100, 100]
