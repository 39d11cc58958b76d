"""Which Job fields a query selects under a root field, so its resolver reads items and log
tails with the jobs in one snapshot (``resolvers.jobs``, ``resolvers.listing``).

With the fast paths on, ``engine.lookahead`` reads graphql-core's field nodes; off, Strawberry's
public ``info.selected_fields`` answers the same question.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from engine import lookahead
from resolvers.context import Context


def selected_names(info: Any, path: tuple[str, ...] = ()) -> frozenset[str]:
    """The field names selected under the resolving field, or under ``path`` below it."""
    context = info.context
    if isinstance(context, Context) and context.settings.fast_paths:
        return lookahead.selected_names(info, path)
    return public_selected_names(info, path)


def public_selected_names(info: Any, path: tuple[str, ...] = ()) -> frozenset[str]:
    """``selected_names`` through Strawberry's public ``info.selected_fields``."""
    selections: list[Selection] = list(info.selected_fields)
    for step in (info.field_name, *path):
        selections = [
            child
            for field in _fields(selections)
            if field.name == step
            for child in field.selections
        ]
    return frozenset(field.name for field in _fields(selections))


def _fields(selections: Iterable[Selection]) -> Iterable[SelectedField]:
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from _fields(selection.selections)
