"""Which sub-fields a query selects under the field being resolved.

``job(id, tail)`` and ``jobs(...)`` read the jobs, their items and their log tails in one
transaction when the query asks for them, instead of one DataLoader round per field: the
fields below then resolve synchronously, which spares graphql-core a task and a gather per
job. Reading the selection from
graphql-core's field nodes costs a few microseconds; Strawberry's ``info.selected_fields``
converts the whole sub-tree first. Directives are ignored: a field under ``@skip`` may be
fetched for nothing, never missed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLResolveInfo,
    InlineFragmentNode,
    SelectionSetNode,
)


def selected_names(info: GraphQLResolveInfo[Any], path: tuple[str, ...] = ()) -> frozenset[str]:
    """The names selected under the resolving field, or under ``path`` below it
    (``("edges", "node")`` for the Job fields of a connection)."""
    nodes = [node.selection_set for node in info.field_nodes if node.selection_set is not None]
    for step in path:
        nodes = [
            field.selection_set
            for selection_set in nodes
            for field in _fields(info, selection_set, set())
            if field.name.value == step and field.selection_set is not None
        ]
    names: set[str] = set()
    for selection_set in nodes:
        names.update(field.name.value for field in _fields(info, selection_set, set()))
    return frozenset(names)


def _fields(
    info: GraphQLResolveInfo[Any], selection_set: SelectionSetNode, seen: set[str]
) -> Iterator[FieldNode]:
    """The field nodes of a selection set, with fragments (named or inline) flattened."""
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(info, selection.selection_set, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = info.fragments.get(name)
            if fragment is not None and name not in seen:
                seen.add(name)
                yield from _fields(info, fragment.selection_set, seen)
