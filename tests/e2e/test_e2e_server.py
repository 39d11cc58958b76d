"""End to end against a real uvicorn: the CLI makes a key, curl-style requests use it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.live import cli, live_server

pytestmark = pytest.mark.e2e


def test_key_create_job_read_back(database_url: str, tmp_path: Path) -> None:
    cli(database_url, "migrate")
    key = cli(
        database_url, "keys", "create", "--name", "e2e", "--scopes", "read,submit"
    ).stdout.strip()
    assert key.startswith("jg_") and "\n" not in key
    with live_server(database_url, tmp_path) as server:
        headers = {"X-API-Key": key, "content-type": "application/json"}
        create = {
            "query": "mutation($i: CreateJobInput!) { createJob(input: $i) { id status } }",
            "variables": {"i": {"items": [{"url": "https://youtu.be/dQw4w9WgXcQ"}]}},
        }
        response = httpx.post(f"{server.url}/graphql", json=create, headers=headers)
        assert response.status_code == 200, response.text
        job_id = response.json()["data"]["createJob"]["id"]
        fields = "id status logTail items { code url }"
        read = {"query": f'{{ job(id: "{job_id}", tail: 2) {{ {fields} }} }}'}
        response = httpx.post(f"{server.url}/graphql", json=read, headers=headers)
        assert response.json() == {
            "data": {
                "job": {
                    "id": job_id,
                    "status": "PENDING",
                    "logTail": "",
                    "items": [
                        {
                            "code": "dQw4w9WgXcQ",
                            "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
                        }
                    ],
                }
            }
        }
        response = httpx.post(f"{server.url}/graphql", json=read)
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert key not in server.logs()


def test_keys_list_and_revoke(database_url: str, tmp_path: Path) -> None:
    key = cli(
        database_url, "keys", "create", "--name", "ops", "--scopes", "read", "--tenant", "acme"
    ).stdout.strip()
    listing = cli(database_url, "keys", "list").stdout
    assert key not in listing
    (line,) = [row for row in listing.splitlines() if "\tops\t" in row]
    key_id = line.split("\t")[0]
    assert key[:10] in line and "acme" in line and "active" in line
    with live_server(database_url, tmp_path) as server:
        me = {"query": "{ me { tenant } }"}
        assert (
            httpx.post(f"{server.url}/graphql", json=me, headers={"X-API-Key": key}).status_code
            == 200
        )
        cli(database_url, "keys", "revoke", key_id)
        response = httpx.post(f"{server.url}/graphql", json=me, headers={"X-API-Key": key})
        assert response.status_code == 401
    assert "revoked" in cli(database_url, "keys", "list").stdout


def test_bad_scope_is_refused(database_url: str) -> None:
    with pytest.raises(Exception) as info:
        cli(database_url, "keys", "create", "--name", "x", "--scopes", "read,root")
    assert "unknown scope" in info.value.stderr  # type: ignore[attr-defined]
