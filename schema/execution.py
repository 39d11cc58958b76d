"""The execution context: graphql-core's executor with a fast path for plain leaf fields.

A page of jobs is mostly leaves read straight off the objects the resolvers built (``id``,
``status``, the six fields of every item...). graphql-core spends several microseconds on each
one: a path entry, a resolve-info object, Strawberry's resolver wrapper, two rounds of value
completion. For a selection set made only of such fields — no resolver, no field extension,
no arguments, no directives, a scalar or enum type — this executor reads the attributes and
serializes them itself, which is what those steps amount to for such fields. Every other field
of the selection set (a resolver, arguments, an object or list type) goes through graphql-core's
``execute_field`` as before, in the same order.

Anything unusual on a plain leaf (a null in a non-null field, a value the type refuses, any
exception) hands that field to graphql-core's own path, which re-reads the attribute (a plain
read: no side effects) and reports the error with its location and path exactly as it would
have. Everything takes graphql-core's path when a schema extension hooks field resolution (its
middleware must see each field).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

# How to answer one leaf: read the value off the source, serialize it; whether it is non-null.
_Leaf = tuple[Callable[[Any], Any], Callable[[Any], Any], bool]
# Per response name: its field details and, for a plain leaf, how to answer it directly.
_Plan = tuple[tuple[str, FieldDetailsList, _Leaf | None], ...]


# A value the fast path leaves to graphql-core's path, which reports it properly.
_UNANSWERED = object()


class LeafFastPathExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # id(grouped field set) -> (the set, kept alive so its id stays unique; its plan)
        self._plans: dict[int, tuple[GroupedFieldSet, _Plan | None]] = {}
        manager = self.middleware_manager
        self._fast = manager is None or not manager.middlewares

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        plan = self._plan(parent_type, grouped_field_set) if self._fast else None
        if plan is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        # graphql-core's loop (Executor.execute_fields), with plain leaves answered inline.
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        is_awaitable = self.is_awaitable
        try:
            for response_name, details, leaf in plan:
                if leaf is not None:
                    answer = _answer(leaf, source_value)
                    if answer is not _UNANSWERED:
                        results[response_name] = answer
                        continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    details,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def _plan(self, parent_type: GraphQLObjectType, grouped: GroupedFieldSet) -> _Plan | None:
        cached = self._plans.get(id(grouped))
        if cached is not None and cached[0] is grouped:
            return cached[1]
        plan = field_plan(parent_type, grouped)
        self._plans[id(grouped)] = (grouped, plan)
        return plan


def _answer(leaf: _Leaf, source: Any) -> Any:
    read, serialize, non_null = leaf
    try:
        value = read(source)
        if value is None:
            return _UNANSWERED if non_null else None
        serialized = serialize(value)
    except Exception:
        return _UNANSWERED
    return _UNANSWERED if serialized is None or serialized is Undefined else serialized


def field_plan(parent_type: GraphQLObjectType, grouped: GroupedFieldSet) -> _Plan | None:
    """Which fields of ``grouped`` on ``parent_type`` are plain leaves, and how to answer
    them; None when none is (graphql-core's own loop is then just as good)."""
    plan = tuple(
        (response_name, details, _leaf(parent_type, details))
        for response_name, details in grouped.items()
    )
    return plan if any(leaf is not None for _, _, leaf in plan) else None


def _leaf(parent_type: GraphQLObjectType, details: FieldDetailsList) -> _Leaf | None:
    nodes = [detail.node for detail in details]
    if any(node.arguments or node.directives for node in nodes):
        return None
    name = nodes[0].name.value
    if name == "__typename":
        type_name = parent_type.name
        return (lambda _source: type_name), str, True
    field_def = parent_type.fields.get(name)
    if field_def is None or field_def.args:
        return None
    definition = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
        return None
    if not getattr(field_def.resolve, "_is_default", False):
        return None
    return_type = field_def.type
    non_null = isinstance(return_type, GraphQLNonNull)
    leaf_type = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
    if not isinstance(leaf_type, GraphQLScalarType | GraphQLEnumType):
        return None
    return _reader(definition), leaf_type.coerce_output_value, non_null


def _reader(field: StrawberryField) -> Callable[[Any], Any]:
    resolve = field.default_resolver
    if resolve is getattr:
        return operator.attrgetter(field.python_name)
    name = field.python_name
    return lambda source: resolve(source, name)
