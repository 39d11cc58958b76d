"""Which sub-fields a query selects under the field being resolved.

``job(id, tail)`` reads the job, its items and its log tail in one transaction when the query
asks for them, instead of one DataLoader round per field. Reading the selection from
graphql-core's field nodes costs a few microseconds; Strawberry's ``info.selected_fields``
converts the whole sub-tree first. Directives are ignored: a field under ``@skip`` may be
fetched for nothing, never missed.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLResolveInfo,
    InlineFragmentNode,
    SelectionSetNode,
)


def selected_names(info: GraphQLResolveInfo[Any]) -> frozenset[str]:
    names: set[str] = set()
    for node in info.field_nodes:
        if node.selection_set is not None:
            _collect(info, node.selection_set, names, set())
    return frozenset(names)


def _collect(
    info: GraphQLResolveInfo[Any],
    selection_set: SelectionSetNode,
    names: set[str],
    seen: set[str],
) -> None:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            _collect(info, selection.selection_set, names, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = info.fragments.get(name)
            if fragment is not None and name not in seen:
                seen.add(name)
                _collect(info, fragment.selection_set, names, seen)
