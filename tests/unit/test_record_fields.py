"""Types that keep their storage record and read fields off it (engine.fields.record_field):
the fast path answers them as Strawberry's own execution does, bad values included."""

from __future__ import annotations

import dataclasses
import enum
from datetime import UTC, datetime
from typing import NamedTuple

import pytest
import strawberry

from domain.jobs import ItemStatus, JobStatus
from domain.videos import Platform
from engine.compat import StrawberryExecutionContext
from engine.executor import FastExecutionContext
from engine.fields import RECORD_PATH, record_field
from schema.types import VideoItem
from storage.coltypes import sqlite_text
from storage.jobs import item_from_row, job_from_row
from storage.records import ItemRecord, JobRecord
from tests.graphql.test_execution_fast_path import _assert_same_answers as assert_same_answers
from tests.graphql.test_execution_fast_path import _made


class Shade(enum.Enum):
    DARK = "dark"


class Row(NamedTuple):
    name: object
    amount: object  # "count" would shadow tuple.count
    shade: object

    @property
    def loud(self) -> str:
        return str(self.name).upper()


@strawberry.type
class Wrapped:
    record: strawberry.Private[Row]
    name: str = record_field("record.name", description="From the record.")
    count: int = record_field("record.amount")
    shade: Shade | None = record_field("record.shade")
    loud: str = record_field("record.loud")


@strawberry.type
class WrappedQuery:
    @strawberry.field
    def good(self) -> list[Wrapped]:
        return [Wrapped(record=Row("a", 1, Shade.DARK)), Wrapped(record=Row("b", 2, None))]

    @strawberry.field
    def bad(self) -> list[Wrapped]:
        # A null in a non-null field, an int out of range, a value that is no enum member.
        return [
            Wrapped(record=Row("a", 1, None)),
            Wrapped(record=Row(None, 2, None)),
            Wrapped(record=Row("c", 2**40, None)),
            Wrapped(record=Row("d", 4, "dark")),
        ]


def _schema(context_class: type[StrawberryExecutionContext]) -> strawberry.Schema:
    return _made(WrappedQuery, context_class)


@pytest.mark.parametrize(
    "query",
    [
        "{ good { name count shade loud } }",
        "{ good { __typename n: name loud } }",
        "{ bad { name } }",
        "{ bad { count } }",
        "{ bad { shade loud } }",
    ],
)
def test_record_fields_answer_as_strawberry_does(query: str) -> None:
    assert_same_answers(_schema, query)


def test_record_fields_read_their_path() -> None:
    result = _schema(FastExecutionContext).execute_sync("{ good { name count shade loud } }")
    assert result.errors is None
    assert result.data == {
        "good": [
            {"name": "a", "count": 1, "shade": "DARK", "loud": "A"},
            {"name": "b", "count": 2, "shade": None, "loud": "B"},
        ]
    }


def test_record_fields_are_ordinary_fields_in_the_schema() -> None:
    sdl = _schema(FastExecutionContext).as_str()
    assert '  """From the record."""\n  name: String!\n  count: Int!' in sdl
    definition = Wrapped.__strawberry_definition__.get_field("count")  # type: ignore[attr-defined]
    assert definition is not None
    assert definition.metadata[RECORD_PATH] == "record.amount"


@pytest.mark.parametrize("path", ["", "record.", "record.class", "record[0]", "a;b"])
def test_record_field_takes_attribute_paths_only(path: str) -> None:
    with pytest.raises(ValueError, match="not an attribute path"):
        record_field(path)


def test_video_items_built_in_bulk_are_what_from_record_builds() -> None:
    # from_records sets ``record`` directly: it must stay the only field __init__ takes.
    init_fields = [f.name for f in dataclasses.fields(VideoItem) if f.init]
    assert init_fields == ["record"]
    records = [
        ItemRecord("j", 0, Platform.YOUTUBE, "dQw4w9WgXcQ", ItemStatus.PENDING, None),
        ItemRecord("j", 1, Platform.TIKTOK, "1234567890", ItemStatus.FAILED, "gone"),
    ]
    bulk = VideoItem.from_records(records)
    one_by_one = [VideoItem.from_record(record) for record in records]
    assert [vars(item) for item in bulk] == [vars(item) for item in one_by_one]
    assert all(type(item) is VideoItem for item in bulk)


def test_rows_become_records_field_by_field() -> None:
    created = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    row = (
        *("id-1", "tenant", "RUNNING", 40, 2),
        *(sqlite_text(created), sqlite_text(created), sqlite_text(created), None),
        *(None, "worker", sqlite_text(created), 1, 7, 3),
    )
    job = job_from_row(row)
    assert type(job) is JobRecord and len(job) == len(JobRecord._fields)
    assert job._asdict() == {
        "id": "id-1",
        "tenant": "tenant",
        "status": JobStatus.RUNNING,
        "progress": 40,
        "attempt": 2,
        "created_at": created,
        "updated_at": created,
        "started_at": created,
        "finished_at": None,
        "error": None,
        "worker_id": "worker",
        "lease_expires_at": created,
        "cancel_requested": True,
        "last_seq": 7,
        "item_count": 3,
    }
    item = item_from_row(("id-1", 2, "INSTAGRAM", "C1a2B3c4D5e", "SKIPPED", "private"))
    assert type(item) is ItemRecord
    assert item == ItemRecord(
        "id-1", 2, Platform.INSTAGRAM, "C1a2B3c4D5e", ItemStatus.SKIPPED, "private"
    )
    assert item.url == "https://www.instagram.com/p/C1a2B3c4D5e/"
