"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


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


# Job rows' timestamps, one object per stored text: a polled job's few timestamps come back on
# every read, and the same object then serves them all — its hash computed once, its text
# remembered by schema.isoformat, which looks only at objects whose id is in INTERNED_IDS (a
# hint: a stale one costs a lookup, never a wrong text). Log lines' timestamps, each read once,
# are not interned. Both are cleared together when full, ids first.
INTERNED_MAX_ENTRIES = 8192
INTERNED_IDS: set[int] = set()
_interned: dict[str, datetime] = {}


def interned_utc(value: Any) -> datetime | None:
    """``utc_from_stored``, with one shared (immutable) object per stored text."""
    if type(value) is not str:
        return utc_from_stored(value)
    parsed = _interned.get(value)
    if parsed is None:
        if len(_interned) >= INTERNED_MAX_ENTRIES:
            INTERNED_IDS.clear()
            _interned.clear()
        # setdefault: a reader and a writer thread parsing the same text share one object.
        parsed = _interned.setdefault(value, datetime.fromisoformat(value))
        INTERNED_IDS.add(id(parsed))
    return parsed


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
