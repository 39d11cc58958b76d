"""Cross-site request forgery: a browser form (or a no-preflight fetch) cannot submit a job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http_client import Client, app_client

MUTATION = 'mutation { createJob(input: {items: [{url: "https://youtu.be/dQw4w9WgXcQ"}]}) { id } }'


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/jobgraph.db"


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[Client]:
    async with app_client(database_url) as client:
        yield client


async def assert_no_job(client: Client) -> None:
    response = await client.post({"query": "{ me { name } }"})
    assert response.status_code == 200  # the key still works: nothing else was refused
    assert await client.store.jobs.get_items(job_ids=[]) == {}


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/x-www-form-urlencoded", f"query={MUTATION}".encode()),
        ("text/plain", b'{"query": "' + MUTATION.replace('"', '\\"').encode() + b'"}'),
        ("text/plain;charset=UTF-8", b'{"query": "mutation { x }"}'),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n'
            b"mutation { x }\r\n--x--\r\n",
        ),
        (None, b'{"query": "mutation { x }"}'),
    ],
)
async def test_form_posts_are_refused(
    client: Client, content_type: str | None, content: bytes
) -> None:
    # The key header is sent too: even a caller who has it cannot use a simple content type.
    headers = {"X-API-Key": client.key}
    if content_type is not None:
        headers["content-type"] = content_type
    response = await client.http.post("/graphql", content=content, headers=headers)
    assert response.status_code == 415
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    await assert_no_job(client)


async def test_mutation_over_get_is_refused(client: Client) -> None:
    # An <img src=...> or a link is a GET: it must never change anything.
    response = await client.http.get(
        "/graphql", params={"query": MUTATION}, headers={"X-API-Key": client.key}
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    await assert_no_job(client)


async def test_json_post_with_key_still_works(client: Client) -> None:
    response = await client.post({"query": MUTATION})
    assert response.status_code == 200
    assert response.json()["data"]["createJob"]["id"]
