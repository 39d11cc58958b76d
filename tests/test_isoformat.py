"""Remembered datetime texts are isoformat()'s, whatever the value; only interned job
timestamps are remembered, and both tables stay bounded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from schema import isoformat as iso
from storage import coltypes
from storage.coltypes import interned_utc, sqlite_text

VALUES = [
    datetime(2024, 1, 15, 10, 30, tzinfo=UTC),  # no microseconds: isoformat leaves them out
    datetime(2024, 1, 15, 10, 30, 0, 1, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2024, 1, 15, 12, 30, tzinfo=timezone(timedelta(hours=2))),  # same instant as [0]
]


@pytest.fixture(autouse=True)
def empty_tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(iso, "_texts", {})
    monkeypatch.setattr(coltypes, "_interned", {})
    # schema.isoformat holds the set itself: emptied in place for the test, then restored.
    saved = set(coltypes.INTERNED_IDS)
    coltypes.INTERNED_IDS.clear()
    yield
    coltypes.INTERNED_IDS.clear()
    coltypes.INTERNED_IDS.update(saved)


def _interned(value: datetime) -> datetime:
    result = interned_utc(sqlite_text(value))
    assert result is not None
    return result


def test_interned_texts_are_remembered_as_isoformat_gives_them() -> None:
    for _ in range(2):
        for value in VALUES[:3]:
            same = _interned(value)
            assert same == value and iso.isoformat(same) == value.isoformat()
    assert len(iso._texts) == 3
    # Stored text read again (a new str, as each row brings) gives the same object back.
    text = sqlite_text(VALUES[1])
    assert interned_utc("".join(text)) is interned_utc(text)


def test_other_datetimes_are_formatted_without_an_entry() -> None:
    iso.isoformat(_interned(VALUES[0]))  # the UTC instant equal to VALUES[3], remembered
    for value in [*VALUES, datetime(2024, 1, 15, 10, 30, tzinfo=UTC)]:
        assert iso.isoformat(value) == value.isoformat()
    assert iso.isoformat(VALUES[3]) == "2024-01-15T12:30:00+02:00"
    assert len(iso._texts) == 1


def test_tables_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iso, "MAX_ENTRIES", 3)
    monkeypatch.setattr(coltypes, "INTERNED_MAX_ENTRIES", 4)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for seconds in range(20):
        value = _interned(start + timedelta(seconds=seconds))
        assert iso.isoformat(value) == value.isoformat()
        assert len(iso._texts) <= 3
        assert len(coltypes._interned) <= 4 and len(coltypes.INTERNED_IDS) <= 4
        assert id(value) in coltypes.INTERNED_IDS
    assert interned_utc(None) is None
    assert interned_utc(start) == start  # a driver's datetime is passed through
