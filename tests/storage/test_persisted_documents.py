"""Documents by reference (server.persisted): APQ's hash checks and misses, trusted documents
from the pages' manifest, a user's manifest and the database, and the refusal of text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domain.errors import AppError
from server.persisted import (
    PersistedDocuments,
    document_id,
    load_manifest,
    sha256_hex,
)
from settings import Settings
from storage.store import Store

QUERY = "{ me { name } }"
HASH = sha256_hex(QUERY)


def apq(digest: str = HASH, version: object = 1) -> dict[str, object]:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


def code_of(error: pytest.ExceptionInfo[AppError]) -> str:
    return error.value.code


async def test_apq_registers_then_serves_by_hash(settings: Settings) -> None:
    documents = PersistedDocuments(settings)
    with pytest.raises(AppError) as miss:
        await documents.resolve(query=None, extensions=apq())
    assert (
        code_of(miss) == "PERSISTED_QUERY_NOT_FOUND"
        and miss.value.message == "PersistedQueryNotFound"
    )
    registered = await documents.resolve(query=QUERY, extensions=apq())
    assert registered.query == QUERY and not registered.by_reference
    hit = await documents.resolve(query=None, extensions=apq())
    assert hit.query == QUERY and hit.by_reference


@pytest.mark.parametrize(
    ("query", "extensions", "message"),
    [
        (QUERY, apq(sha256_hex("{ other }")), "does not match"),
        (QUERY, apq(version=2), "version 1"),
        (QUERY, apq(digest="ABC"), "64 lowercase hex"),
        (QUERY, {"persistedQuery": "yes"}, "version 1"),
    ],
)
async def test_bad_apq_requests_are_bad_user_input(
    settings: Settings, query: str, extensions: dict[str, object], message: str
) -> None:
    with pytest.raises(AppError) as refused:
        await PersistedDocuments(settings).resolve(query=query, extensions=extensions)
    assert code_of(refused) == "BAD_USER_INPUT" and message in refused.value.message


async def test_trusted_documents_from_the_pages_a_manifest_and_the_database(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.json"
    mine = "query Mine { me { tenant } }"
    manifest.write_text(json.dumps({sha256_hex(mine): mine, "custom.read": QUERY}))
    documents = PersistedDocuments(
        settings.model_copy(update={"trusted_documents": str(manifest)}), store
    )
    assert (
        await documents.resolve(
            query=None, extensions=None, document_id_value=f"sha256:{sha256_hex(mine)}"
        )
    ).query == mine
    assert (
        await documents.resolve(query=None, extensions=None, document_id_value="custom.read")
    ).query == QUERY
    pages = documents.known()
    assert any("query Me" in text for text in pages.values())  # the dashboard's own
    stored = "query Stored { me { scopes } }"
    await store.documents.put(document_id="team.stored", text=stored)
    found = await documents.resolve(query=None, extensions=None, document_id_value="team.stored")
    assert found.query == stored and found.by_reference
    with pytest.raises(AppError) as unknown:
        await documents.resolve(query=None, extensions=None, document_id_value="sha256:" + "0" * 64)
    assert code_of(unknown) == "PERSISTED_QUERY_NOT_FOUND"
    with pytest.raises(AppError) as both:
        await documents.resolve(query=QUERY, extensions=None, document_id_value="team.stored")
    assert code_of(both) == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    "value", ["sha256:XYZ", "sha256:" + "a" * 63, "md5:abc", "", 5, "a b", "x" * 201]
)
def test_malformed_document_ids_are_bad_user_input(value: object) -> None:
    with pytest.raises(AppError) as refused:
        document_id(value)
    assert refused.value.code == "BAD_USER_INPUT"


async def test_trusted_only_refuses_text_but_lets_admins_through_when_asked(
    settings: Settings,
) -> None:
    only = PersistedDocuments(settings.model_copy(update={"trusted_documents_only": True}))
    with pytest.raises(AppError) as refused:
        await only.resolve(query=QUERY, extensions=None)
    assert code_of(refused) == "PERSISTED_QUERY_REQUIRED" and refused.value.http_status == 403
    with pytest.raises(AppError):
        await only.resolve(query=QUERY, extensions=None, is_admin=True)
    bypass = PersistedDocuments(
        settings.model_copy(
            update={"trusted_documents_only": True, "trusted_documents_admin_bypass": True}
        )
    )
    assert (await bypass.resolve(query=QUERY, extensions=None, is_admin=True)).query == QUERY
    with pytest.raises(AppError):
        await bypass.resolve(query=QUERY, extensions=None, is_admin=False)


@pytest.mark.parametrize(
    "content",
    [
        "[]",
        '{"' + "0" * 64 + '": "{ me { name } }"}',  # a hash that is not the text's
        '{"has space": "{ me { name } }"}',
        '{"ok": 5}',
    ],
)
def test_bad_manifests_are_refused_at_start(tmp_path: Path, content: str) -> None:
    manifest = tmp_path / "bad.json"
    manifest.write_text(content)
    with pytest.raises(ValueError):
        load_manifest(manifest)


async def test_the_store_adds_replaces_lists_and_removes(store: Store) -> None:
    assert await store.documents.put(document_id="a", text="{ me { name } }") is True
    assert await store.documents.put(document_id="a", text="{ me { tenant } }") is False
    assert await store.documents.list() == [("a", "{ me { tenant } }")]
    assert await store.documents.remove(document_id="a") is True
    assert await store.documents.remove(document_id="a") is False
    assert await store.documents.get(document_id="a") is None
