"""The seed's REST examples, run as written against a real uvicorn, on every backend.

Keys come from the CLI; the seed's job is written through the store (tests/seed_jobs.py). The
curl commands are copied verbatim from the seed document and replayed with httpx.
"""

from __future__ import annotations

import re
import shlex
import uuid
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.coltypes import utcnow
from storage.logs import append_lines
from storage.store import Store
from tests.factories import make_key
from tests.live import LiveServer, cli, live_server
from tests.seed_jobs import SEED_JOB_ID, SEED_LINES, SEED_RESPONSE, make_seed_job, set_job

pytestmark = pytest.mark.e2e

# Verbatim from the seed's "Usage Examples".
SEED_FULL_STATUS = r"""
curl -X GET "http://localhost:8000/status/40a58ff2-4fd0-4263-b5ae-eb3e4b482404" \
     -H "X-API-Key: your-api-key"
"""
SEED_TAIL_100 = r"""
curl -X GET "http://localhost:8000/status/40a58ff2-4fd0-4263-b5ae-eb3e4b482404?tail=100" \
     -H "X-API-Key: your-api-key"
"""
ISO_MILLIS_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def curl(command: str, server: LiveServer, key: str) -> httpx.Response:
    """Replay a curl command line (-X, -H, -d, one URL) against the live server."""
    words = shlex.split(command.replace("\\\n", " ").strip())
    assert words.pop(0) == "curl"
    method, url, headers, data = "GET", "", {}, None
    while words:
        word = words.pop(0)
        if word == "-X":
            method = words.pop(0)
        elif word == "-H":
            name, value = words.pop(0).split(":", 1)
            headers[name.strip()] = value.strip().replace("your-api-key", key)
        elif word == "-d":
            data = words.pop(0).encode()
        else:
            url = word.replace("http://localhost:8000", server.url)
    return httpx.request(method, url, headers=headers, content=data, timeout=10)


def new_key(database_url: str, name: str, scopes: str, tenant: str = "default") -> str:
    args = ("keys", "create", "--name", name, "--scopes", scopes, "--tenant", tenant)
    return cli(database_url, *args).stdout.strip()


def assert_seed_types(body: dict[str, Any]) -> None:
    assert list(body) == [
        "status",
        "progress",
        "createdAt",
        "updatedAt",
        "items",
        "log_tail",
        "log_truncated",
    ]
    assert isinstance(body["status"], str) and body["status"] == body["status"].lower()
    assert isinstance(body["progress"], int) and 0 <= body["progress"] <= 100
    assert ISO_MILLIS_Z.fullmatch(body["createdAt"]) and ISO_MILLIS_Z.fullmatch(body["updatedAt"])
    assert isinstance(body["items"], list)
    for item in body["items"]:
        assert list(item) == ["platform", "code"]
        assert isinstance(item["code"], str) and item["platform"] == item["platform"].lower()
    assert isinstance(body["log_tail"], str) and isinstance(body["log_truncated"], bool)


async def test_seed_examples(database_url: str, tmp_path: Path, store: Store) -> None:
    await make_seed_job(store)
    key = new_key(database_url, "seed", "read,submit")
    with live_server(database_url, tmp_path) as server:
        full = curl(SEED_FULL_STATUS, server, key)
        assert full.status_code == 200, full.text
        assert full.headers["content-type"] == "application/json"
        assert_seed_types(full.json())
        assert full.json() == SEED_RESPONSE

        tail = curl(SEED_TAIL_100, server, key)
        assert tail.status_code == 200 and tail.json() == SEED_RESPONSE
        two = curl(SEED_TAIL_100.replace("tail=100", "tail=2"), server, key)
        assert two.json()["log_tail"] == "\n".join(SEED_LINES[-2:])

        body = '{"items": [{"platform": "youtube", "code": "dQw4w9WgXcQ"}]}'
        created = curl(
            "curl -X POST http://localhost:8000/process -H 'X-API-Key: your-api-key'"
            f" -H 'Content-Type: application/json' -d '{body}'",
            server,
            key,
        )
        assert created.status_code == 202, created.text
        status = curl(SEED_FULL_STATUS.replace(SEED_JOB_ID, created.json()["jobId"]), server, key)
        assert_seed_types(status.json())
        assert status.json()["status"] == "pending" and status.json()["log_tail"] == ""
    assert key not in server.logs()


async def test_status_codes(database_url: str, tmp_path: Path, store: Store) -> None:
    await make_seed_job(store)
    key = new_key(database_url, "all", "read,submit")
    # The other keys through the store: each CLI run costs seconds on a busy machine.
    submit_only = await make_key(store, scopes="submit", name="submit-only")
    other_tenant = await make_key(store, tenant="globex", scopes="read", name="globex")
    revoked = await make_key(store, scopes="read", name="revoked")
    (record,) = [r for r in await store.keys.list() if r.name == "revoked"]
    assert await store.keys.revoke(key_id=record.id)

    with live_server(database_url, tmp_path) as server:
        status_url = f"{server.url}/status/{SEED_JOB_ID}"

        def get(url: str, api_key: str | None) -> httpx.Response:
            return httpx.get(url, headers={"X-API-Key": api_key} if api_key else {}, timeout=10)

        def post(content: bytes, api_key: str) -> httpx.Response:
            headers = {"X-API-Key": api_key, "content-type": "application/json"}
            return httpx.post(f"{server.url}/process", content=content, headers=headers, timeout=10)

        ok_body = b'{"items": [{"platform": "instagram", "code": "test456"}]}'
        answers = {
            "ok": (get(status_url, key), 200),
            "malformed id": (get(f"{server.url}/status/not-a-uuid", key), 404),
            "unknown id": (get(f"{server.url}/status/{uuid.uuid4()}", key), 404),
            "other tenant": (get(status_url, other_tenant), 404),
            "missing key": (get(status_url, None), 401),
            "unknown key": (get(status_url, "jg_" + "x" * 43), 401),
            "revoked key": (get(status_url, revoked), 401),
            "no read scope": (get(status_url, submit_only), 403),
            "tail abc": (get(f"{status_url}?tail=abc", key), 400),
            "tail -1": (get(f"{status_url}?tail=-1", key), 400),
            "tail over cap": (get(f"{status_url}?tail=10001", key), 400),
            "wrong method": (httpx.delete(status_url, headers={"X-API-Key": key}), 405),
            "process": (post(ok_body, key), 202),
            "process, no submit scope": (post(ok_body, other_tenant), 403),
            "process, not JSON": (post(b"{nope", key), 400),
            "process, no items": (post(b'{"items": []}', key), 422),
        }
        for case, (response, expected) in answers.items():
            assert response.status_code == expected, (case, response.text)
            assert response.headers["content-type"] == "application/json", case
            if expected >= 400:
                assert response.json()["detail"], case


def millis(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value - timedelta(microseconds=value.microsecond % 1000)


async def test_rest_and_graphql_agree(database_url: str, tmp_path: Path, store: Store) -> None:
    await make_seed_job(store)
    key = new_key(database_url, "agree", "read,submit")
    headers = {"X-API-Key": key}
    with live_server(database_url, tmp_path) as server:
        items = [{"platform": "youtube", "code": "dQw4w9WgXcQ"}, {"url": "instagram.com/p/C1a2B3c"}]
        created = httpx.post(f"{server.url}/process", json={"items": items}, headers=headers)
        job_id = created.json()["jobId"]
        lines = [(utcnow(), "INFO", f"step {n}") for n in range(1, 31)]
        await store.db.write(partial(append_lines, job_id=job_id, lines=lines))
        await set_job(store, job_id, status="RUNNING", progress=40, updated_at=utcnow())

        query = """query($id: ID!, $tail: Int) { job(id: $id, tail: $tail) {
            status progress createdAt updatedAt items { platform code } logTail } }"""
        for id_ in (job_id, SEED_JOB_ID):
            for tail in (None, 0, 1, 7, 30, 100):
                params = {} if tail is None else {"tail": tail}
                rest = httpx.get(f"{server.url}/status/{id_}", params=params, headers=headers)
                variables = {"id": id_, "tail": tail}
                response = httpx.post(
                    f"{server.url}/graphql",
                    json={"query": query, "variables": variables},
                    headers=headers,
                )
                job = response.json()["data"]["job"]
                got = rest.json()
                assert got["status"] == job["status"].lower()
                assert got["progress"] == job["progress"]
                assert millis(got["createdAt"]) == millis(job["createdAt"])
                assert millis(got["updatedAt"]) == millis(job["updatedAt"])
                assert got["items"] == [
                    {"platform": item["platform"].lower(), "code": item["code"]}
                    for item in job["items"]
                ]
                assert got["log_tail"] == job["logTail"]
        last = httpx.get(f"{server.url}/status/{job_id}?tail=2", headers=headers).json()
        assert last["log_tail"] == "step 29\nstep 30" and last["status"] == "running"
