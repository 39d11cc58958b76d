"""API keys: created once (the plaintext is shown once), stored as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from domain.principal import Principal, Scope
from engine.sql import Query
from storage.coltypes import utcnow
from storage.database import Database
from storage.records import ApiKeyRecord
from storage.tables import api_keys

KEY_PREFIX = "jg_"
_KEY_BYTES = 32
_SHOWN_PREFIX_LENGTH = 10


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)


def _record(row: Any) -> ApiKeyRecord:
    id_, name, prefix, tenant, scopes, created_at, revoked_at = row
    return ApiKeyRecord(id_, name, prefix, tenant, tuple(scopes.split(",")), created_at, revoked_at)


_RECORD_COLUMNS = (
    api_keys.c.id,
    api_keys.c.name,
    api_keys.c.prefix,
    api_keys.c.tenant,
    api_keys.c.scopes,
    api_keys.c.created_at,
    api_keys.c.revoked_at,
)


# Every request runs this: built once (engine.sql); on PostgreSQL with the fast paths on, run
# on asyncpg directly, prepared once per connection and kept (engine.pg). What is cached per
# connection is the statement, never its answer: every request reads the key's row, so a
# revocation is immediate in every process.
_BY_HASH = Query(
    select(
        api_keys.c.id,
        api_keys.c.name,
        api_keys.c.tenant,
        api_keys.c.scopes,
        api_keys.c.key_hash,
        api_keys.c.revoked_at,
    ).where(api_keys.c.key_hash == bindparam("key_hash"))
)


class KeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, *, name: str, tenant: str, scopes: Iterable[Scope]
    ) -> tuple[ApiKeyRecord, str]:
        """Create a key; returns its record and the plaintext, which is never stored."""
        key = new_key()
        scope_text = ",".join(sorted(scope.value for scope in scopes))
        values = {
            "id": str(uuid.uuid4()),
            "name": name,
            "prefix": key[:_SHOWN_PREFIX_LENGTH],
            "key_hash": hash_key(key),
            "tenant": tenant,
            "scopes": scope_text,
            "created_at": utcnow(),
        }

        def work(conn: Connection) -> ApiKeyRecord:
            conn.execute(insert(api_keys).values(values))
            row = conn.execute(select(*_RECORD_COLUMNS).where(api_keys.c.id == values["id"])).one()
            return _record(row)

        return await self._db.write(work), key

    async def list(self) -> list[ApiKeyRecord]:
        query = select(*_RECORD_COLUMNS).order_by(api_keys.c.created_at, api_keys.c.id)
        return await self._db.read(lambda conn: [_record(row) for row in conn.execute(query)])

    async def count_active(self) -> int:
        query = select(func.count()).select_from(api_keys).where(api_keys.c.revoked_at.is_(None))
        return await self._db.read(lambda conn: int(conn.execute(query).scalar_one()))

    async def revoke(self, *, key_id: str) -> bool:
        """Revoke by id (or by the shown prefix); False when no active key matched."""
        statement = (
            update(api_keys)
            .where(
                (api_keys.c.id == key_id) | (api_keys.c.prefix == key_id),
                api_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )
        return await self._db.write(lambda conn: conn.execute(statement).rowcount > 0)

    async def authenticate(self, presented: str) -> Principal | None:
        """The principal for a presented key, or None when unknown or revoked."""
        if not presented.startswith(KEY_PREFIX) or len(presented) > 200:
            return None
        digest = hash_key(presented)
        row = await self._db.first(_BY_HASH, {"key_hash": digest})
        if row is None:
            return None
        key_id, name, tenant, scopes, stored_hash, revoked_at = row
        # Constant-time compare: the lookup found the row by hash, this keeps the final
        # equality check from leaking how many leading characters matched.
        if not hmac.compare_digest(stored_hash, digest) or revoked_at is not None:
            return None
        return Principal(
            key_id=key_id,
            name=name,
            tenant=tenant,
            scopes=frozenset(Scope(scope) for scope in scopes.split(",") if scope),
        )
