"""Remembered datetime texts are isoformat()'s, whatever the value; only job timestamps parsed
from stored text are remembered, and both tables stay bounded (engine.datetimes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from engine import datetimes
from storage.coltypes import job_timestamp, sqlite_text

VALUES = [
    datetime(2024, 1, 15, 10, 30, tzinfo=UTC),  # no microseconds: isoformat leaves them out
    datetime(2024, 1, 15, 10, 30, 0, 1, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2024, 1, 15, 12, 30, tzinfo=timezone(timedelta(hours=2))),  # same instant as [0]
]


@pytest.fixture(autouse=True)
def empty_tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(datetimes, "_texts", {})
    monkeypatch.setattr(datetimes, "_parsed", {})
    monkeypatch.setattr(datetimes, "_parsed_ids", set())
    yield


def _parsed(value: datetime) -> datetime:
    result = job_timestamp(sqlite_text(value))
    assert isinstance(result, datetime)
    return result


def test_parsed_texts_are_remembered_as_isoformat_gives_them() -> None:
    for _ in range(2):
        for value in VALUES[:3]:
            same = _parsed(value)
            assert same == value and datetimes.isoformat(same) == value.isoformat()
    assert len(datetimes._texts) == 3
    # Stored text read again (a new str, as each row brings) gives the same object back.
    text = sqlite_text(VALUES[1])
    assert job_timestamp("".join(text)) is job_timestamp(text)


def test_other_datetimes_are_formatted_without_an_entry() -> None:
    datetimes.isoformat(_parsed(VALUES[0]))  # the UTC instant equal to VALUES[3], remembered
    for value in [*VALUES, datetime(2024, 1, 15, 10, 30, tzinfo=UTC)]:
        assert datetimes.isoformat(value) == value.isoformat()
    assert datetimes.isoformat(VALUES[3]) == "2024-01-15T12:30:00+02:00"
    assert len(datetimes._texts) == 1


def test_tables_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datetimes, "MAX_ENTRIES", 3)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for seconds in range(20):
        value = _parsed(start + timedelta(seconds=seconds))
        assert datetimes.isoformat(value) == value.isoformat()
        assert len(datetimes._texts) <= 3
        assert len(datetimes._parsed) <= 3 and len(datetimes._parsed_ids) <= 3
        assert id(value) in datetimes._parsed_ids
    assert job_timestamp(None) is None
    assert job_timestamp(start) == start  # a driver's datetime is passed through
