"""Which sub-fields a query selects under the field being resolved, read from graphql-core's
field nodes.

``job(id, tail)`` and ``jobs(...)`` read the jobs, their items and their log tails in one
snapshot when the query asks for them, instead of one DataLoader round per field. Reading the
selection from graphql-core's field nodes takes a few microseconds; Strawberry's public
``info.selected_fields`` converts the whole sub-tree first (``schema.lookahead`` uses it when
the fast paths are off). Directives are ignored: a field under ``@skip`` may be fetched for
nothing, never missed. Each fragment is flattened once per selection set walked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode

from engine.compat import raw_info


def selected_names(info: Any, path: tuple[str, ...] = ()) -> frozenset[str]:
    """The names selected under the resolving field, or under ``path`` below it
    (``("edges", "node")`` for the Job fields of a connection). ``info``: Strawberry's."""
    raw = raw_info(info)
    fragments = raw.fragments
    nodes = [node.selection_set for node in raw.field_nodes if node.selection_set is not None]
    for step in path:
        nodes = [
            field.selection_set
            for selection_set in nodes
            for field in _fields(fragments, selection_set, set())
            if field.name.value == step and field.selection_set is not None
        ]
    names: set[str] = set()
    for selection_set in nodes:
        names.update(field.name.value for field in _fields(fragments, selection_set, set()))
    return frozenset(names)


def _fields(fragments: Any, selection_set: SelectionSetNode, seen: set[str]) -> Iterator[FieldNode]:
    """The field nodes of a selection set, with fragments (named or inline) flattened."""
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(fragments, selection.selection_set, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:
                seen.add(name)
                yield from _fields(fragments, fragment.selection_set, seen)
