"""Remembered datetime texts are isoformat()'s, whatever the value; both caches stay bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from schema import isoformat as iso
from storage import coltypes
from storage.coltypes import sqlite_text, utc_from_stored

VALUES = [
    datetime(2024, 1, 15, 10, 30, tzinfo=UTC),  # no microseconds: isoformat leaves them out
    datetime(2024, 1, 15, 10, 30, 0, 1, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2024, 1, 15, 12, 30, tzinfo=timezone(timedelta(hours=2))),  # same instant as [0]
    datetime(2024, 1, 15, 10, 30, tzinfo=UTC),
]


def test_texts_are_isoformats_in_any_order() -> None:
    for _ in range(2):
        for value in [*VALUES, *reversed(VALUES)]:
            assert iso.isoformat(value) == value.isoformat()
    # The +02:00 instant equals the UTC one but keeps its own offset in its text.
    assert iso.isoformat(VALUES[3]) == "2024-01-15T12:30:00+02:00"


def test_texts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iso, "MAX_ENTRIES", 3)
    monkeypatch.setattr(iso, "_texts", {})
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for seconds in range(10):
        value = start + timedelta(seconds=seconds)
        assert iso.isoformat(value) == value.isoformat()
        assert len(iso._texts) <= 3


def test_stored_text_reads_as_one_object_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(coltypes, "PARSED_MAX_ENTRIES", 2)
    monkeypatch.setattr(coltypes, "_parsed", {})
    texts = [sqlite_text(value) for value in VALUES[:3]]
    first = utc_from_stored(texts[0])
    assert first == VALUES[0] and first is not None and first.tzinfo is not None
    # The same text (a new str, as each row brings) gives the same object back.
    assert utc_from_stored("".join(texts[0])) is first
    for text, value in zip(texts, VALUES, strict=False):
        assert utc_from_stored(text) == value
        assert len(coltypes._parsed) <= 2
    assert utc_from_stored(None) is None
