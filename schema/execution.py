"""The execution context: graphql-core's executor with fast paths for what a job answer is
made of (Strawberry's ``execution_context_class``).

A job or a page of jobs is mostly leaves read straight off the objects the resolvers built
(``id``, ``status``, the six fields of every item...). graphql-core spends several microseconds
on each: a path entry, a resolve-info object, Strawberry's resolver wrapper, two rounds of
value completion. So:

- a plain leaf — no resolver, no field extension, no arguments, no directives, a scalar or
  enum type — is answered by reading the attribute and serializing it (no serializer call at
  all for a ``str`` in a String/ID field or a ``bool`` in a Boolean one; a dict lookup for an
  enum member); every other field goes through graphql-core's ``execute_field``, in order;
- a list item whose selection is all plain leaves is answered in one step;
- an object without ``is_type_of``, with nothing deferred, goes straight to its sub-fields
  (what graphql-core's four intermediate completion calls amount to then);
- which fields are plain leaves is worked out once per parsed document, not per request;
- lists of flat input objects in the variables are coerced by ``schema.variables``.

Anything unusual on a plain leaf (a null in a non-null field, a value the type refuses, any
exception) hands that field to graphql-core's own path, which re-reads the attribute (a plain
read: no side effects) and reports the error with its location and path exactly as it would
have. Everything takes graphql-core's path when a schema extension hooks field resolution (its
middleware must see each field). ``tests/test_execution_fast_path.py`` compares the answers
with graphql-core's own executor, bad values included.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any, cast

from graphql import (
    DocumentNode,
    GraphQLEnumType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
    is_specified_scalar_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from schema.variables import pre_coerce

# How to answer one leaf: read the value off the source; the type's serializer; whether it is
# non-null; the Python type whose values serialize to themselves (str for String and ID, bool
# for Boolean), if any; for an enum, its GraphQL names by id() of the member (members live as
# long as their class). Anything else goes through the serializer.
_Leaf = tuple[Callable[[Any], Any], Callable[[Any], Any], bool, type | None, dict[int, str] | None]
# Per response name, in the grouped field set's order: how to answer a plain leaf directly, or
# None for a field graphql-core's path answers.
_Plan = tuple[_Leaf | None, ...]
# The AST nodes a grouped field set was collected from, by identity, and the parent type.
_PlanKey = tuple[int, tuple[int, ...]]


# A value the fast path leaves to graphql-core's path, which reports it properly.
_UNANSWERED = object()


class LeafFastPathExecutionContext(StrawberryGraphQLCoreExecutionContext):
    # Plans outlive a request: a polled query is parsed once (ParserCache), so its field nodes
    # are the same objects every time. Entries hold the nodes and the type, so no id they are
    # keyed on can be reused while the entry exists; bounded by clearing when full.
    _shared_plans: dict[_PlanKey, tuple[GraphQLObjectType, tuple[Any, ...], _Plan | None]] = {}
    _MAX_SHARED_PLANS = 4096

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # id(grouped field set) -> (the set, kept alive so its id stays unique; its plan)
        self._plans: dict[int, tuple[GroupedFieldSet, _Plan | None]] = {}
        # (id(item type), id(field details)) -> (the details, kept alive; the items' leaves)
        self._items: dict[
            tuple[int, int], tuple[FieldDetailsList, tuple[tuple[str, _Leaf], ...] | None]
        ] = {}
        manager = self.middleware_manager
        self._fast = manager is None or not manager.middlewares
        # Without incremental delivery the schema has no @stream, so no valid document uses it.
        self._streams = self.schema.get_directive("stream") is not None

    @classmethod
    def build(
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        root_value: Any = None,
        context_value: Any = None,
        raw_variable_values: dict[str, Any] | None = None,
        operation_name: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        # Lists of flat input objects (appendLogs' lines) are coerced by schema.variables;
        # graphql-core coerces an empty list in their place (valid for any list type), and
        # the real values go in after. Any other variable, and any value schema.variables
        # does not accept, is graphql-core's as always.
        fast = pre_coerce(schema, document, operation_name, raw_variable_values)
        raw = raw_variable_values
        if fast and raw is not None:
            raw = {**raw, **{name: [] for name in fast}}
        executor = super().build(
            schema, document, root_value, context_value, raw, operation_name, *args, **kwargs
        )
        if fast and raw_variable_values is not None and isinstance(executor, cls):
            values = executor.variable_values
            for name, value in fast.items():
                values.coerced[name] = value
                source = values.sources.get(name)
                if source is not None:
                    values.sources[name] = source._replace(value=raw_variable_values[name])
        return executor

    def get_stream_usage(self, field_details_list: FieldDetailsList, path: Path) -> Any:
        # graphql-core looks each list field up in a map that raises KeyError on a miss (every
        # list, every time): ~6 % of a page of jobs.
        if not self._streams:
            return None
        return super().get_stream_usage(field_details_list, path)

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
            for (response_name, details), leaf in zip(grouped_field_set.items(), plan, strict=True):
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

    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        # An object (a job, an edge): what graphql-core reaches through complete_value (twice
        # for a non-null type), complete_object_value, collect_and_execute_subfields and
        # execute_collected_subfields, when there is no is_type_of to call and nothing is
        # deferred, is collecting its sub-fields and executing them. So do just that.
        if (
            self._fast
            and position_context is None
            and result is not None
            and result is not Undefined
            and not isinstance(result, Exception)
        ):
            subfields = self._object_subfields(return_type, field_details_list)
            if subfields is not None:
                object_type, grouped = subfields
                return self.execute_fields(object_type, result, path, grouped, None)
        return super().complete_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def complete_list_item_value(
        self,
        item: Any,
        complete_results: list[Any],
        item_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        item_path: Path,
        position_context: Any,
    ) -> bool:
        # An item of a list of objects whose selection is all plain leaves (a job's items):
        # answered in one step instead of graphql-core's five nested completion calls.
        if self._fast and item is not None:
            leaves = self._item_leaves(item_type, field_details_list)
            if leaves is not None:
                answered = _answer_all(leaves, item)
                if answered is not None:
                    complete_results.append(answered)
                    return False
        return super().complete_list_item_value(
            item,
            complete_results,
            item_type,
            field_details_list,
            info,
            item_path,
            position_context,
        )

    def _item_leaves(
        self, item_type: GraphQLOutputType, field_details_list: FieldDetailsList
    ) -> tuple[tuple[str, _Leaf], ...] | None:
        """(response name, leaf) for every field selected on the list's items, when they are
        all plain leaves of an object type; else None. Once per list field and request."""
        key = (id(item_type), id(field_details_list))
        cached = self._items.get(key)
        if cached is not None and cached[0] is field_details_list:
            return cached[1]
        leaves: tuple[tuple[str, _Leaf], ...] | None = None
        subfields = self._object_subfields(item_type, field_details_list)
        if subfields is not None:
            object_type, grouped = subfields
            plan = self._plan(object_type, grouped)
            if plan is not None and None not in plan:
                leaves = tuple(zip(grouped, cast("tuple[_Leaf, ...]", plan), strict=True))
        self._items[key] = (field_details_list, leaves)
        return leaves

    def _object_subfields(
        self, type_: GraphQLOutputType, field_details_list: FieldDetailsList
    ) -> tuple[GraphQLObjectType, GroupedFieldSet] | None:
        """An object type (or its non-null form) and its collected sub-fields, when completing
        a value of it amounts to executing them: no is_type_of to call, nothing deferred."""
        object_type = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if not isinstance(object_type, GraphQLObjectType) or object_type.is_type_of is not None:
            return None
        collected = self.collect_subfields(object_type, field_details_list)
        if collected.new_defer_usages:
            return None
        return object_type, collected.grouped_field_set

    def _plan(self, parent_type: GraphQLObjectType, grouped: GroupedFieldSet) -> _Plan | None:
        cached = self._plans.get(id(grouped))
        if cached is not None and cached[0] is grouped:
            return cached[1]
        nodes = tuple(detail.node for details in grouped.values() for detail in details)
        key = (id(parent_type), tuple(map(id, nodes)))
        shared = self._shared_plans.get(key)
        if shared is not None and shared[0] is parent_type and shared[1] == nodes:
            plan = shared[2]
        else:
            plan = field_plan(parent_type, grouped)
            if len(self._shared_plans) >= self._MAX_SHARED_PLANS:
                self._shared_plans.clear()
            self._shared_plans[key] = (parent_type, nodes, plan)
        self._plans[id(grouped)] = (grouped, plan)
        return plan


def _answer(leaf: _Leaf, source: Any) -> Any:
    read, serialize, non_null, same, names = leaf
    try:
        value = read(source)
        if value is None:
            return _UNANSWERED if non_null else None
        if type(value) is same:
            return value
        if names is not None:
            name = names.get(id(value))
            if name is not None:
                return name
        serialized = serialize(value)
    except Exception:
        return _UNANSWERED
    return _UNANSWERED if serialized is None or serialized is Undefined else serialized


def _answer_all(leaves: tuple[tuple[str, _Leaf], ...], source: Any) -> dict[str, Any] | None:
    """Every field of an all-leaves selection, or None if any needs graphql-core's path."""
    results: dict[str, Any] = {}
    # _answer, inlined: this loop runs for every field of every item of a list.
    try:
        for name, (read, serialize, non_null, same, names) in leaves:
            value = read(source)
            if value is None:
                if non_null:
                    return None
                results[name] = None
            elif type(value) is same:
                results[name] = value
            elif names is not None and id(value) in names:
                results[name] = names[id(value)]
            else:
                serialized = serialize(value)
                if serialized is None or serialized is Undefined:
                    return None
                results[name] = serialized
    except Exception:
        return None
    return results


def field_plan(parent_type: GraphQLObjectType, grouped: GroupedFieldSet) -> _Plan | None:
    """Which fields of ``grouped`` on ``parent_type`` are plain leaves, and how to answer
    them; None when none is (graphql-core's own loop is then just as good)."""
    plan = tuple(_leaf(parent_type, details) for details in grouped.values())
    return plan if any(leaf is not None for leaf in plan) else None


def _leaf(parent_type: GraphQLObjectType, details: FieldDetailsList) -> _Leaf | None:
    nodes = [detail.node for detail in details]
    if any(node.arguments or node.directives for node in nodes):
        return None
    name = nodes[0].name.value
    if name == "__typename":
        type_name = parent_type.name
        return (lambda _source: type_name), str, True, None, None
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
    same = _SAME.get(leaf_type.name) if is_specified_scalar_type(leaf_type) else None
    serialize = leaf_type.coerce_output_value
    return _reader(definition), serialize, non_null, same, enum_names(leaf_type)


# Specified scalars whose serializers return values of these exact types unchanged.
_SAME: dict[str, type] = {"String": str, "ID": str, "Boolean": bool}


def enum_names(leaf_type: GraphQLScalarType | GraphQLEnumType) -> dict[int, str] | None:
    """For a Strawberry enum: member id -> GraphQL name, as its serializer would answer."""
    members = getattr(leaf_type, "wrapped_cls", None)
    if not isinstance(leaf_type, GraphQLEnumType) or not isinstance(members, type):
        return None
    names: dict[int, str] = {}
    for member in cast("Iterable[Any]", members):
        for name, value in leaf_type.values.items():
            if value.value == member.value:
                names[id(member)] = name
                break
    return names


def _reader(field: StrawberryField) -> Callable[[Any], Any]:
    resolve = field.default_resolver
    if resolve is getattr:
        return operator.attrgetter(field.python_name)
    name = field.python_name
    return lambda source: resolve(source, name)
