"""Trusted documents kept in the database: ``app.py documents add/list/remove`` writes them,
every server process reads them (``server.persisted``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, insert, select, update

from storage.coltypes import utcnow
from storage.database import Database
from storage.tables import trusted_documents


class DocumentStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, *, document_id: str) -> str | None:
        query = select(trusted_documents.c.text).where(trusted_documents.c.id == document_id)
        row = await self._db.read(lambda conn: conn.execute(query).first())
        return None if row is None else str(row[0])

    async def put(self, *, document_id: str, text: str) -> bool:
        """Add or replace one; True when it was new."""
        now = utcnow()

        def work(conn: Connection) -> bool:
            changed = conn.execute(
                update(trusted_documents)
                .where(trusted_documents.c.id == document_id)
                .values(text=text)
            ).rowcount
            if changed:
                return False
            conn.execute(
                insert(trusted_documents).values(id=document_id, text=text, created_at=now)
            )
            return True

        return await self._db.write(work)

    async def remove(self, *, document_id: str) -> bool:
        query = delete(trusted_documents).where(trusted_documents.c.id == document_id)
        return bool(await self._db.write(lambda conn: conn.execute(query).rowcount))

    async def list(self) -> Sequence[tuple[str, str]]:
        query = select(trusted_documents.c.id, trusted_documents.c.text).order_by(
            trusted_documents.c.id
        )
        rows = await self._db.read(lambda conn: conn.execute(query).all())
        return [(str(row[0]), str(row[1])) for row in rows]
