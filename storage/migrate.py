"""Alembic, driven from code: upgrade to head, and tell whether a database is at head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from storage.database import Database

_SCRIPTS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


# Any constant works; it only has to be the same in every jobgraph process.
_MIGRATION_LOCK_ID = 0x6A6F6267


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Several processes may start at once: one migrates, the others wait, then see head.
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
    command.upgrade(alembic_config(connection), "head")


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade_to_head(db: Database) -> None:
    """Apply every pending migration (idempotent; safe with several processes on PostgreSQL).

    On PostgreSQL it runs on a connection of its own without the statement timeout: a
    migration may rewrite a big table."""
    if db.is_sqlite:
        await db.write(_upgrade)
        return
    patient = Database(db.settings, patient=True)
    try:
        await patient.write(_upgrade)
    finally:
        await patient.dispose()


async def is_at_head(db: Database) -> bool:
    return await db.read(_current) == head_revision()
