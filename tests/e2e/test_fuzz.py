"""Fuzzing with schemathesis (GraphQL mode) against a real uvicorn, bounded: whatever
document and variables it generates, no 5xx and no INTERNAL_SERVER_ERROR."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from tests.live import LiveServer, cli, live_server

pytestmark = pytest.mark.e2e

# Per operation and mode (3 operations today: job, me, createJob); keeps the run well under
# a minute on 2 cores.
MAX_EXAMPLES = 40


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    tmp_path: Path = tmp_path_factory.mktemp("fuzz")
    database_url = f"sqlite+aiosqlite:///{tmp_path}/fuzz.db"
    cli(database_url, "migrate")
    key = cli(
        database_url, "keys", "create", "--name", "fuzz", "--scopes", "read,submit,work"
    ).stdout.strip()
    # The fuzzer is one key sending as fast as it can: lift the rate limit for it.
    # The same server shows the WebSocket frame cap (uvicorn's ws_max_size, from settings).
    env = {"JOBGRAPH_RATE_LIMIT_PER_SECOND": "0", "JOBGRAPH_MAX_WS_MESSAGE_BYTES": "65536"}
    with live_server(database_url, tmp_path, env=env) as server:
        yield server, key


def test_no_server_errors(fuzz_target: tuple[LiveServer, str]) -> None:
    server, key = fuzz_target
    headers = {"X-API-Key": key}
    schema = schemathesis.graphql.from_url(f"{server.url}/graphql", headers=headers)
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results)
    assert {op.label for op in operations} >= {"Query.job", "Query.me", "Mutation.createJob"}
    failures: list[str] = []

    # Valid documents with odd values, and documents the schema does not allow (negative).
    for operation, mode in itertools.product(operations, GenerationMode):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def call(case: Any) -> None:
            response = case.call(headers=headers, timeout=10)
            text = response.text
            # schemathesis' Response keeps every value of a header as a list.
            content_type = "".join(response.headers.get("content-type", []))
            if (
                response.status_code >= 500
                or "INTERNAL_SERVER_ERROR" in text
                or not content_type.startswith("application/")
            ):
                failures.append(f"{response.status_code} {case.body!r}\n{text[:500]}")

        call()
    assert failures == [], "\n\n".join(failures[:5])
    assert "Traceback" not in server.logs()


def test_websocket_frame_over_the_cap_closes_the_connection(
    fuzz_target: tuple[LiveServer, str],
) -> None:
    server, key = fuzz_target
    protocol = [Subprotocol("graphql-transport-ws")]
    with connect(server.ws_url, subprotocols=protocol, max_size=None) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {"apiKey": key}}))
        assert json.loads(ws.recv(timeout=5))["type"] == "connection_ack"
        ws.send(json.dumps({"type": "ping", "payload": {"pad": "x" * 70_000}}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
