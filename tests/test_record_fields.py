"""Types that keep their storage record and read fields off it (schema.record_fields): the
fast path answers them as Strawberry's own execution does, bad values included."""

from __future__ import annotations

import enum
from typing import NamedTuple

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.execution import FastPathExecutionContext
from schema.record_fields import RECORD_PATH, record_field


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


def _schema(context_class: type[StrawberryGraphQLCoreExecutionContext]) -> strawberry.Schema:
    return strawberry.Schema(query=WrappedQuery, execution_context_class=context_class)


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
    fast = _schema(FastPathExecutionContext).execute_sync(query)
    slow = _schema(StrawberryGraphQLCoreExecutionContext).execute_sync(query)
    assert fast.data == slow.data
    assert [(e.message, e.path) for e in fast.errors or []] == [
        (e.message, e.path) for e in slow.errors or []
    ]


def test_record_fields_read_their_path() -> None:
    result = _schema(FastPathExecutionContext).execute_sync("{ good { name count shade loud } }")
    assert result.errors is None
    assert result.data == {
        "good": [
            {"name": "a", "count": 1, "shade": "DARK", "loud": "A"},
            {"name": "b", "count": 2, "shade": None, "loud": "B"},
        ]
    }


def test_record_fields_are_ordinary_fields_in_the_schema() -> None:
    sdl = _schema(FastPathExecutionContext).as_str()
    assert '  """From the record."""\n  name: String!\n  count: Int!' in sdl
    definition = Wrapped.__strawberry_definition__.get_field("count")  # type: ignore[attr-defined]
    assert definition is not None
    assert definition.metadata[RECORD_PATH] == "record.amount"


@pytest.mark.parametrize("path", ["", "record.", "record.class", "record[0]", "a;b"])
def test_record_field_takes_attribute_paths_only(path: str) -> None:
    with pytest.raises(ValueError, match="not an attribute path"):
        record_field(path)
