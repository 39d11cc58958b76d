"""Fields read straight off the storage record an output type wraps.

A type like ``Job`` or ``VideoItem`` used to copy each of its record's values into a dataclass
field of its own: a page of 50 jobs built 50 sixteen-argument and 150 six-argument objects
just to read each value back once (~6 % of the page). A type now keeps its record, and each
of these fields names where its value lies on it (``record.created_at``,
``record.status.cancelable``).

The field is a Strawberry field with a resolver that follows that path, so the schema, its
SDL and Strawberry's own execution see an ordinary resolved field. The path is also kept in
the field's metadata: ``schema.projection`` reads it inline in its compiled answers, and
``schema.direct_resolvers`` gives graphql-core a plain getter instead of Strawberry's
resolver wrapper.

>>> record_path_of({RECORD_PATH: "record.id"})
'record.id'
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import strawberry
from graphql import GraphQLField
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from schema.object_compiler import is_attribute_path

RECORD_PATH = "jobgraph.record_path"


def record_field(path: str, *, description: str | None = None) -> Any:
    """A field whose value is ``parent.<path>``, e.g. ``record_field("record.progress")``."""
    if not is_attribute_path(path):
        raise ValueError(f"not an attribute path: {path!r}")
    read = operator.attrgetter(path)

    def resolve(self: Any) -> Any:
        return read(self)

    return strawberry.field(resolver=resolve, description=description, metadata={RECORD_PATH: path})


def record_path_of(metadata: Mapping[str, Any] | None) -> str | None:
    path = (metadata or {}).get(RECORD_PATH)
    return path if isinstance(path, str) else None


def plain_record_path(field: GraphQLField) -> str | None:
    """The path of a record field that nothing wraps (no field extensions, no permissions):
    reading the path is then all its resolution takes. None for any other field."""
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField):
        return None
    if definition.extensions or definition.permission_classes:
        return None
    return record_path_of(definition.metadata)
