"""Documents sent by reference: automatic persisted queries (APQ) and trusted documents.

**APQ** (Apollo's protocol): a request carries ``extensions.persistedQuery = {version: 1,
sha256Hash}``. With the text, the server checks that the text hashes to the hash and keeps it;
without, it runs the text it kept, or answers ``PERSISTED_QUERY_NOT_FOUND`` and the client sends
the text again. Texts are kept per process, bounded by count and by bytes, oldest unused first:
an APQ store is a cache — a miss costs one round trip, never an error the client sees — so a
shared store would buy little for what it would cost each request.

**Trusted documents** (the GraphQL-over-HTTP persisted-documents appendix): a request carries
``documentId`` — ``sha256:<hex>`` or a custom id without a colon — and the server runs the
document it trusts under that id: from the manifest jobgraph builds from its own pages
(``web/trusted-documents.json``: the dashboard's and GraphiQL's starter documents), from
``JOBGRAPH_TRUSTED_DOCUMENTS`` (a manifest as GraphQL Code Generator's client preset writes it,
``{"<sha256 hex>": "<text>"}``), and from the database (``app.py documents add``), which every
process reads on a miss. With ``JOBGRAPH_TRUSTED_DOCUMENTS_ONLY`` a request that sends text
instead is refused (``PERSISTED_QUERY_REQUIRED``), unless its key is an admin's and
``JOBGRAPH_TRUSTED_DOCUMENTS_ADMIN_BYPASS`` lets admins through (GraphiQL for operators).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.errors import AppError
from settings import Settings
from storage.store import Store

BUILT_IN_MANIFEST = Path(__file__).resolve().parent.parent / "web" / "trusted-documents.json"
APQ_MAX_ENTRIES = 2048
APQ_MAX_BYTES = 4 * 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CUSTOM_ID = re.compile(r"[A-Za-z0-9_.\-]{1,200}")


class PersistedQueryNotFound(AppError):
    code = "PERSISTED_QUERY_NOT_FOUND"
    http_status = 400


class PersistedQueryRequired(AppError):
    code = "PERSISTED_QUERY_REQUIRED"
    http_status = 403


class BadPersistedQuery(AppError):
    code = "BAD_USER_INPUT"
    http_status = 400


@dataclass(frozen=True, slots=True)
class Resolved:
    """The text to run; ``by_hash``: it was named by a hash (APQ) or an id, not sent."""

    query: str | None
    by_reference: bool = False


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_manifest(path: Path) -> dict[str, str]:
    """A manifest's documents by id (``sha256:<hex>`` for hash keys, a custom key as it is);
    a hash key must be the text's hash."""
    raw = json.loads(path.read_text())
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path}: a manifest is a JSON object of id -> document text")
    documents: dict[str, str] = {}
    for key, text in raw.items():
        if not isinstance(key, str) or not isinstance(text, str):
            raise ValueError(f"{path}: ids and documents must be strings")
        hexdigest = key.removeprefix("sha256:")
        if _SHA256.fullmatch(hexdigest):
            if sha256_hex(text) != hexdigest:
                raise ValueError(f"{path}: the document under {key} does not hash to it")
            documents[f"sha256:{hexdigest}"] = text
        elif _CUSTOM_ID.fullmatch(key):
            documents[key] = text
        else:
            raise ValueError(f"{path}: {key!r} is neither sha256:<hex> nor a custom id")
    return documents


def document_id(value: object) -> str:
    """A ``documentId`` checked for its form: ``sha256:<64 hex>`` or a custom id."""
    if isinstance(value, str):
        if value.startswith("sha256:") and _SHA256.fullmatch(value[7:]):
            return value
        if ":" not in value and _CUSTOM_ID.fullmatch(value):
            return value
    raise BadPersistedQuery(
        "documentId must be sha256:<64 lowercase hex digits> or a custom id of letters, "
        "digits, '_', '-' and '.'"
    )


class PersistedDocuments:
    """One per app: the APQ cache, the trusted documents, and the refusal of text."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store
        self._apq: OrderedDict[str, str] = OrderedDict()
        self._apq_bytes = 0
        self._trusted: dict[str, str] = {}
        if BUILT_IN_MANIFEST.exists():
            self._trusted.update(load_manifest(BUILT_IN_MANIFEST))
        if settings.trusted_documents:
            self._trusted.update(load_manifest(Path(settings.trusted_documents)))

    async def resolve(
        self,
        *,
        query: object,
        extensions: object,
        document_id_value: object = None,
        is_admin: bool | Callable[[], Awaitable[bool]] = False,
    ) -> Resolved:
        """The text a request runs, from what it sent; raises an ``AppError`` to refuse it."""
        if document_id_value is not None:
            if query:
                raise BadPersistedQuery("send documentId or query, not both")
            return Resolved(await self._trusted_text(document_id(document_id_value)), True)
        persisted = extensions.get("persistedQuery") if isinstance(extensions, Mapping) else None
        if persisted is not None:
            text = self._apq_text(persisted, query)
            if not query:
                return Resolved(text, True)
        if query is not None and self.settings.trusted_documents_only:
            bypass = self.settings.trusted_documents_admin_bypass and (
                is_admin if isinstance(is_admin, bool) else await is_admin()
            )
            if not bypass:
                raise PersistedQueryRequired(
                    "this server runs only trusted documents: send a documentId"
                )
        return Resolved(query if isinstance(query, str) else None)

    def _apq_text(self, persisted: object, query: object) -> str | None:
        if not isinstance(persisted, Mapping) or persisted.get("version") != 1:
            raise BadPersistedQuery("persistedQuery needs version 1 and a sha256Hash")
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise BadPersistedQuery("persistedQuery.sha256Hash must be 64 lowercase hex digits")
        if isinstance(query, str) and query:
            if sha256_hex(query) != digest:
                raise BadPersistedQuery("provided sha does not match query")
            self._remember(digest, query)
            return query
        text = self._apq.get(digest) or self._trusted.get(f"sha256:{digest}")
        if text is None:
            raise PersistedQueryNotFound("PersistedQueryNotFound")
        if digest in self._apq:
            self._apq.move_to_end(digest)
        return text

    def _remember(self, digest: str, text: str) -> None:
        if digest in self._apq or len(text) > APQ_MAX_BYTES:
            return
        self._apq[digest] = text
        self._apq_bytes += len(text)
        while len(self._apq) > APQ_MAX_ENTRIES or self._apq_bytes > APQ_MAX_BYTES:
            _, dropped = self._apq.popitem(last=False)
            self._apq_bytes -= len(dropped)

    async def _trusted_text(self, identifier: str) -> str:
        text = self._trusted.get(identifier)
        if text is None and self.store is not None:
            text = await self.store.documents.get(document_id=identifier)
        if text is None:
            raise PersistedQueryNotFound(f"no trusted document {identifier}")
        return text

    def known(self) -> Mapping[str, Any]:
        """The documents trusted without the database (for tests and ``documents list``)."""
        return dict(self._trusted)
