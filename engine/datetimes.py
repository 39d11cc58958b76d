"""Stored timestamps parsed once per text, and their ISO texts remembered.

A polled job's timestamps come back on every read. Parsing the stored text and formatting the
answer's text each cost more than a dict lookup (an aware ``datetime.isoformat()`` builds its
offset apart), and a page of 50 jobs has 100 of them. So job rows' timestamps are read
through ``parse``: one ``datetime`` per stored text, the same object every time, whose hash
is then computed once and whose text ``isoformat`` finds in a table. Log lines' timestamps,
each shown about once, are parsed and formatted as they come (``storage.coltypes``), without
entries here.

The tables are process-wide because the objects are: storage makes them, the executor formats
them. Both are bounded and cleared together when full; a stale id costs a lookup, never a wrong
text (the text table is keyed by the value, the id set only says where to look). Only UTC values
are remembered: an aware datetime equals (and hashes like) the same instant in any other offset,
whose text differs.

>>> from datetime import UTC, datetime
>>> isoformat(parse("2024-01-15T10:30:00.000000+00:00"))
'2024-01-15T10:30:00+00:00'
>>> parse(None) is None
True
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

MAX_ENTRIES = 8192

_parsed: dict[str, datetime] = {}
_parsed_ids: set[int] = set()
_texts: dict[datetime, str] = {}


def parse(text: Any) -> Any:
    """``datetime.fromisoformat(text)``, one shared (immutable) object per text; anything but a
    ``str`` (a driver's or SQLAlchemy's datetime) is returned as it is."""
    if type(text) is not str:
        return text
    value = _parsed.get(text)
    if value is None:
        if len(_parsed) >= MAX_ENTRIES:
            _parsed_ids.clear()
            _parsed.clear()
        # setdefault: a reader thread and the loop parsing the same text share one object.
        value = _parsed.setdefault(text, datetime.fromisoformat(text))
        _parsed_ids.add(id(value))
    return value


def isoformat(value: datetime) -> str:
    """``value.isoformat()``, for a ``datetime`` (not a subclass)."""
    if value.tzinfo is not UTC or id(value) not in _parsed_ids:
        return value.isoformat()
    text = _texts.get(value)
    if text is None:
        text = value.isoformat()
        if len(_texts) >= MAX_ENTRIES:
            _texts.clear()  # a new working set: the next polls fill it again
        _texts[value] = text
    return text
