"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from engine.datetimes import parse as parse_timestamp


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes.

    PostgreSQL stores ``timestamptz``. SQLite stores fixed-width ISO 8601 text (which sorts in
    time order), parsed with ``datetime.fromisoformat``: SQLAlchemy's own SQLite DATETIME parses
    with a regex, which cost more than the query itself when a page holds hundreds of log lines.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return sqlite_text(value)
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return utc_from_stored(value)


def utc_from_stored(value: Any) -> datetime | None:
    """A stored timestamp (SQLite's ISO 8601 text, or a driver datetime) as an aware UTC one."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# A job row's timestamp, in one call: stored text (a raw SQLite row, read with the fast paths
# on) is parsed once per text; a driver's datetime (PostgreSQL's, or SQLAlchemy's processed
# value, always aware) is taken as it is.
job_timestamp = parse_timestamp


def sqlite_text(value: datetime) -> str:
    """The fixed-width text SQLite stores, e.g. ``2024-01-15T10:30:00.000000+00:00``.

    ``isoformat(timespec="microseconds")`` writes the same text as
    ``strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")`` at half the cost (it matters to log ingest).
    """
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTCDateTime column")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def utcnow() -> datetime:
    return datetime.now(UTC)
