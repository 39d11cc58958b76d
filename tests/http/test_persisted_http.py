"""Documents by reference over HTTP, on both paths: APQ (miss, register, hit; GET by hash,
cacheable; a mutation by hash over GET is 405; a hash that does not match) and trusted
documents (documentId in the body or the query string; unknown ids; trusted-only servers)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.persisted import sha256_hex
from tests.factories import make_key
from tests.http_client import Client, app_client

GQL = "application/graphql-response+json"
ME = "query Me { me { name } }"
CREATE = 'mutation { createJob(input: {items: [{url: "https://youtu.be/dQw4w9WgXcQ"}]}) { id } }'


def apq(text: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(text)}}


def code(response: httpx.Response) -> str:
    result: str = response.json()["errors"][0]["extensions"]["code"]
    return result


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[Client]:
    async with app_client(database_url) as client:
        yield client


async def test_apq_miss_register_hit(client: Client) -> None:
    miss = await client.post({"extensions": apq(ME)}, accept=GQL)
    assert miss.status_code == 400 and code(miss) == "PERSISTED_QUERY_NOT_FOUND"
    assert miss.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    registered = await client.post({"query": ME, "extensions": apq(ME)})
    assert registered.json() == {"data": {"me": {"name": "k"}}}
    hit = await client.post({"extensions": apq(ME)})
    assert hit.json() == {"data": {"me": {"name": "k"}}}


async def test_a_get_by_hash_is_cacheable_and_private(client: Client) -> None:
    await client.post({"query": ME, "extensions": apq(ME)})
    params = {"extensions": json.dumps(apq(ME))}
    response = await client.http.get(
        "/graphql", params=params, headers={"X-API-Key": client.key, "accept": GQL}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"me": {"name": "k"}}}
    assert response.headers["cache-control"] == "private, max-age=5"
    assert "X-API-Key" in response.headers["vary"]
    # Text sent in full is not named by a hash: nothing to cache by it.
    plain = await client.http.get(
        "/graphql", params={"query": ME}, headers={"X-API-Key": client.key, "accept": GQL}
    )
    assert "cache-control" not in plain.headers


async def test_a_mutation_by_hash_over_get_is_405(client: Client) -> None:
    await client.post({"query": CREATE, "extensions": apq(CREATE)})
    response = await client.http.get(
        "/graphql",
        params={"extensions": json.dumps(apq(CREATE))},
        headers={"X-API-Key": client.key, "accept": GQL},
    )
    assert response.status_code == 405 and response.headers["allow"] == "POST"


async def test_a_hash_that_does_not_match_the_text(client: Client) -> None:
    response = await client.post({"query": ME, "extensions": apq("{ other }")}, accept=GQL)
    assert response.status_code == 400 and code(response) == "BAD_USER_INPUT"
    assert "does not match" in response.text


async def test_trusted_documents_by_id_in_the_body_and_the_query_string(
    client: Client,
) -> None:
    await client.store.documents.put(document_id="team.me", text=ME)
    by_body = await client.post({"documentId": "team.me"})
    assert by_body.json() == {"data": {"me": {"name": "k"}}}
    digest = f"sha256:{sha256_hex(ME)}"
    await client.store.documents.put(document_id=digest, text=ME)
    by_get = await client.http.get(
        "/graphql", params={"documentId": digest}, headers={"X-API-Key": client.key}
    )
    assert by_get.json() == {"data": {"me": {"name": "k"}}}
    # A browser's Accept still gets the answer, not GraphiQL, when a document is named.
    browser = await client.http.get(
        "/graphql",
        params={"documentId": digest},
        headers={"X-API-Key": client.key, "accept": "text/html,application/json;q=0.9"},
    )
    assert browser.json() == {"data": {"me": {"name": "k"}}}


@pytest.mark.parametrize(
    ("body", "status", "error_code"),
    [
        ({"documentId": "sha256:" + "0" * 64}, 400, "PERSISTED_QUERY_NOT_FOUND"),
        ({"documentId": "nope"}, 400, "PERSISTED_QUERY_NOT_FOUND"),
        ({"documentId": "bad id!"}, 400, "BAD_USER_INPUT"),
        ({"documentId": "team.me", "query": ME}, 400, "BAD_USER_INPUT"),
        ({"documentId": 7}, 400, "BAD_USER_INPUT"),
    ],
)
async def test_unknown_and_malformed_ids_are_one_json_error(
    client: Client, body: dict[str, Any], status: int, error_code: str
) -> None:
    response = await client.post(body, accept=GQL)
    assert response.status_code == status
    assert response.headers["content-type"].startswith(GQL)
    assert len(response.json()["errors"]) == 1 and code(response) == error_code


async def test_a_trusted_only_server_refuses_text_and_answers_ids(
    database_url: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({sha256_hex(ME): ME}))
    async with app_client(
        database_url,
        trusted_documents=str(manifest),
        trusted_documents_only=True,
        trusted_documents_admin_bypass=True,
    ) as client:
        refused = await client.post({"query": ME}, accept=GQL)
        assert refused.status_code == 403 and code(refused) == "PERSISTED_QUERY_REQUIRED"
        answered = await client.post({"documentId": f"sha256:{sha256_hex(ME)}"})
        assert answered.json() == {"data": {"me": {"name": "k"}}}
        # APQ's text-bearing registration is text too: refused.
        assert (await client.post({"query": ME, "extensions": apq(ME)})).status_code == 403
        admin = await make_key(client.store, scopes="admin", name="operator")
        bypassed = await client.post({"query": ME}, **{"X-API-Key": admin})
        assert bypassed.json() == {"data": {"me": {"name": "operator"}}}
        # The pages' own documents are trusted without any configuration.
        pages = json.loads(
            (Path(__file__).resolve().parents[2] / "web" / "trusted-documents.json").read_text()
        )
        me_digest = next(d for d, text in pages.items() if text.startswith("query Me"))
        page = await client.post({"documentId": f"sha256:{me_digest}"})
        assert page.json()["data"]["me"]["name"] == "k"
