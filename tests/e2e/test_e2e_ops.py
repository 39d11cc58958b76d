"""End to end on a real uvicorn: JSON logs with request ids, graceful shutdown on SIGTERM,
``serve --workers 2`` on one database."""

from __future__ import annotations

import json
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import LiveServer, cli, live_server

pytestmark = pytest.mark.e2e
JSON_LOGS = {"JOBGRAPH_LOG_FORMAT": "json"}


def json_lines(server: LiveServer) -> list[dict[str, Any]]:
    lines = [line for line in server.logs().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is one JSON object


def make_key(database_url: str) -> str:
    return cli(
        database_url, "keys", "create", "--name", "ops", "--scopes", "read,submit"
    ).stdout.strip()


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return True
    return False


def test_sigterm_lets_an_upload_in_flight_finish(database_url: str, tmp_path: Path) -> None:
    """The in-flight request is a real one whose client is still sending its body when SIGTERM
    arrives (no test-only slow path in the server): it must still be answered in full."""
    key = make_key(database_url)
    body = json.dumps({"query": "query Who { me { name } }", "operationName": "Who"}).encode()
    head = (
        "POST /graphql HTTP/1.1\r\nHost: jobgraph\r\nContent-Type: application/json\r\n"
        f"X-API-Key: {key}\r\nX-Request-ID: slow-upload-1\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with live_server(database_url, tmp_path, env=JSON_LOGS) as server:
        client = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        client.sendall(head + body[:10])
        time.sleep(0.3)  # the server has the headers: the request is in flight
        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while not refuses_connections(server.port):  # stops accepting new connections
            assert time.monotonic() < deadline, "server still accepts after SIGTERM"
            time.sleep(0.05)
        assert server.process.poll() is None  # but waits for the request in flight
        client.sendall(body[10:])
        response = b""
        while chunk := client.recv(65536):
            response += chunk
        client.close()
        # uvicorn shuts down cleanly, then re-raises the signal it caught (exit status -15).
        assert server.process.wait(timeout=15) in (0, -signal.SIGTERM)
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK", response
    headers, _, payload = rest.partition(b"\r\n\r\n")
    assert b"x-request-id: slow-upload-1" in headers.lower()
    assert json.loads(payload) == {"data": {"me": {"name": "ops"}}}
    lines = json_lines(server)
    assert any(line["message"] == "Application shutdown complete." for line in lines)
    access = [line for line in lines if line.get("request_id") == "slow-upload-1"]
    assert access[-1]["logger"] == "jobgraph.access"
    assert access[-1]["status"] == 200 and access[-1]["operation"] == "Who"
    assert key not in server.logs() and key[3:15] not in server.logs()


def test_json_logs_carry_request_id_and_operation(database_url: str, tmp_path: Path) -> None:
    key = make_key(database_url)
    with live_server(database_url, tmp_path, env=JSON_LOGS) as server:
        headers = {"X-API-Key": key, "X-Request-ID": "req-42"}
        query = '{ job(id: "00000000-0000-0000-0000-000000000000") { id } }'
        response = httpx.post(f"{server.url}/graphql", json={"query": query}, headers=headers)
        assert response.headers["x-request-id"] == "req-42"
        # A key where no key belongs (here the query string) is still never written out.
        httpx.get(f"{server.url}/nowhere?key={key}", headers={"X-API-Key": key})
        metrics = httpx.get(f"{server.url}/metrics").text
    lines = json_lines(server)
    assert {"time", "level", "logger", "message", "pid"} <= set(lines[0])
    (access,) = [line for line in lines if line.get("request_id") == "req-42"]
    assert access["operation"] == "job" and access["status"] == 200
    assert access["method"] == "POST" and access["path"] == "/graphql"
    assert access["duration_ms"] > 0
    assert key not in server.logs() and key not in metrics
    assert 'operation_name="job",operation_type="query",outcome="NOT_FOUND"' in metrics


def test_two_workers_share_one_port_and_database(database_url: str, tmp_path: Path) -> None:
    key = make_key(database_url)
    create = {
        "query": "mutation($i: CreateJobInput!) { createJob(input: $i) { id } }",
        "variables": {"i": {"items": [{"url": "https://youtu.be/dQw4w9WgXcQ"}]}},
    }
    with live_server(database_url, tmp_path, args=("--workers", "2"), env=JSON_LOGS) as server:

        def submit(_: int) -> str:
            # A fresh connection per request, so that the kernel spreads them over the workers.
            response = httpx.post(f"{server.url}/graphql", json=create, headers={"X-API-Key": key})
            assert response.status_code == 200, response.text
            return str(response.json()["data"]["createJob"]["id"])

        ids: set[str] = set()
        pids: set[int] = set()
        with ThreadPoolExecutor(max_workers=8) as pool:
            for _ in range(10):  # bounded: stop as soon as both workers have answered
                ids.update(pool.map(submit, range(16)))
                pids = {
                    line["pid"]
                    for line in json_lines(server)
                    if line["logger"] == "jobgraph.access" and line.get("path") == "/graphql"
                }
                if len(pids) >= 2:
                    break
        assert len(pids) == 2, "both worker processes served requests"
        for job_id in list(ids)[:5]:  # every job is readable whichever worker answers
            read = {"query": f'{{ job(id: "{job_id}") {{ id }} }}'}
            response = httpx.post(f"{server.url}/graphql", json=read, headers={"X-API-Key": key})
            assert response.json() == {"data": {"job": {"id": job_id}}}
