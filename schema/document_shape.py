"""The depth and alias count of every operation in a document, in time linear in its size.

Both are measured through fragments: a spread counts what its fragment holds, as often as it
is spread. Walking every spread again (what a naive visitor does) takes time exponential in
the document — ``fragment F1 on T { ...F0 ...F0 }`` up to ``F22`` is under 1 KB and spreads
``F0`` four million times — so each fragment is summarised once, and a spread adds its
fragment's summary: the walk visits every node of the document once, whatever it spreads.

A fragment that spreads itself (directly or through others) counts as empty where it recurs;
graphql-core's ``NoFragmentCyclesRule`` reports the cycle itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

# Alias counts grow with every level of doubling fragments; past this they only need to be
# known to be too many, and small integers stay cheap to add.
SATURATED = 1 << 40


@dataclass(slots=True)
class _Summary:
    """What one selection set holds before its spreads are resolved."""

    depth: int = 0
    aliases: int = 0
    # (fragment name, the number of fields above the spread within this selection set)
    spreads: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Shape:
    """``depth``: the most fields nested in one another, leaves not counted (``{ me { name } }``
    is 1); introspection fields (``__schema``…) count as leaves. ``aliases``: aliased fields,
    counted once per spread of the fragment that holds them, up to ``SATURATED``."""

    depth: int
    aliases: int


def _summarise(selection_set: SelectionSetNode) -> _Summary:
    summary = _Summary()
    # (selection set, fields above it): iterative, so deep documents cannot exhaust the stack.
    pending: list[tuple[SelectionSetNode, int]] = [(selection_set, 0)]
    while pending:
        current, level = pending.pop()
        for selection in current.selections:
            if isinstance(selection, FieldNode):
                if selection.alias is not None:
                    summary.aliases += 1
                nested = selection.selection_set
                if nested is None or selection.name.value.startswith("__"):
                    summary.depth = max(summary.depth, level)
                    if nested is not None:
                        # Introspection: its depth is not counted, its aliases are.
                        pending.append((nested, -(1 << 30)))
                else:
                    pending.append((nested, level + 1))
            elif isinstance(selection, InlineFragmentNode):
                pending.append((selection.selection_set, level))
            elif isinstance(selection, FragmentSpreadNode):
                summary.spreads.append((selection.name.value, level))
    return summary


def _resolve(summary: _Summary, shapes: dict[str, Shape]) -> Shape:
    depth, aliases = summary.depth, summary.aliases
    for name, level in summary.spreads:
        spread = shapes.get(name)
        if spread is not None:
            depth = max(depth, level + spread.depth)
            aliases = min(aliases + spread.aliases, SATURATED)
    return Shape(depth=max(depth, 0), aliases=aliases)


def fragment_shapes(document: DocumentNode) -> dict[str, Shape]:
    """Each fragment's shape, every fragment computed after the fragments it spreads."""
    summaries: dict[str, _Summary] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            summaries.setdefault(definition.name.value, _summarise(definition.selection_set))
    shapes: dict[str, Shape] = {}
    in_progress: set[str] = set()
    for root in summaries:
        if root in shapes:
            continue
        # Depth-first over spreads, iteratively: a chain of thousands of fragments is valid.
        stack: list[tuple[str, int]] = [(root, 0)]
        in_progress.add(root)
        while stack:
            name, next_spread = stack[-1]
            spreads = summaries[name].spreads
            if next_spread < len(spreads):
                stack[-1] = (name, next_spread + 1)
                child = spreads[next_spread][0]
                if child in summaries and child not in shapes and child not in in_progress:
                    in_progress.add(child)
                    stack.append((child, 0))
                continue
            stack.pop()
            in_progress.discard(name)
            # A spread still in progress is part of a cycle: it resolves as empty here.
            shapes[name] = _resolve(summaries[name], shapes)
    return shapes


def operation_shapes(document: DocumentNode) -> list[tuple[OperationDefinitionNode, Shape]]:
    """Every operation of the document with its shape, in document order."""
    shapes = fragment_shapes(document)
    return [
        (definition, _resolve(_summarise(definition.selection_set), shapes))
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]
