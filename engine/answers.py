"""Answers for fields whose completed value cannot differ from what graphql-core would answer,
computed without graphql-core's per-field machinery (``engine.executor`` uses them).

graphql-core spends several microseconds on every field it executes: a path entry, a
resolve-info object, the resolver (Strawberry's wrapper, for a plain attribute), and several
rounds of value completion. A page of 50 jobs is ~1,400 fields, nearly all of them attributes
of objects already built. A field gets an *answer* — a function from the parent object to the
field's completed JSON value — when it is:

- a plain leaf: no resolver of its own (or a record field, ``engine.fields``), no field
  extension, no arguments, no directives, a scalar or enum type. Its value is the attribute,
  serialized (no call at all for a ``str`` in a String/ID field or a ``bool`` in a Boolean one;
  a dict lookup for an enum member);
- a plain field of an object type (no ``is_type_of``, nothing deferred), or a list of such
  objects or of leaves, every selected sub-field of which has an answer;
- a field marked ``fast(now=...)`` whose value is at hand (``Job.items`` of a job read with its
  items).

An answer reads and converts, nothing else. Whatever is not exactly as graphql-core would accept
it — a null in a non-null position, a value the type refuses, a list that is not a list, a value
not at hand, any exception — makes the answer ``UNANSWERED``; the caller then runs that field
through graphql-core's own path, which reads it again and reports the error with its path and
location exactly as it would have. An answer deep in a selection that fails fails its enclosing
answer, up to the field graphql-core executes; that one's own sub-fields are answered again where
they can be, so only the failing branch takes the slow path.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable, Iterable
from typing import Any, cast

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    Node,
    OperationDefinitionNode,
    Undefined,
    is_specified_scalar_type,
)

from engine.codegen import CodeCache, Compiled, Kind, compile_object
from engine.compat import (
    UNANSWERED,
    FieldDetailsList,
    FragmentDetails,
    GroupedFieldSet,
    definition_of,
    is_default_resolver,
    is_strawberry_isoformat,
)
from engine.fields import now_of, record_path_of

Answer = Callable[[Any], Any]
# Per response name, in the grouped field set's order: its answer, or None for a field
# graphql-core's path answers.
Plan = tuple[Answer | None, ...]
# The object type and grouped sub-fields of a selection, when completing a value of the
# selection's type amounts to executing them (schema.execution works that out).
Subfields = Callable[
    [GraphQLOutputType, FieldDetailsList], tuple[GraphQLObjectType, GroupedFieldSet] | None
]


# Answers worked out for a selection, by (what, id of the parent type, ids of the selection's
# field nodes); each entry keeps the type and nodes alive so no id in its key can be reused.
Cache = dict[tuple[str, int, tuple[int, ...]], tuple[Any, tuple[Any, ...], Any]]


class Projections:
    """The answers for one operation's selections, worked out on first use.

    Per operation, looked up by the identity of graphql-core's collected field sets (which it
    memoizes for the operation); behind that, by the field nodes they were collected from, in
    ``cache`` — which may outlive the operation (see ``shared_cache``).
    """

    def __init__(self, subfields: Subfields, cache: Cache, code: CodeCache) -> None:
        self._subfields = subfields
        self._cache = cache
        self._code = code
        # id(grouped field set) -> (the set, kept alive; its fields' answers; the plan)
        self._plans: dict[
            int, tuple[GroupedFieldSet, tuple[Compiled | None, ...], Plan | None]
        ] = {}
        self._objects: dict[tuple[int, int], tuple[FieldDetailsList, Answer | None]] = {}

    def for_operation(self, subfields: Subfields) -> Projections:
        """Fresh per-operation tables over the same ``cache`` (for each event of a subscription,
        an operation of its own: see ``CompatExecutionContext.build_per_event_executor``)."""
        return Projections(subfields, self._cache, self._code)

    def plan(self, parent_type: GraphQLObjectType, grouped: GroupedFieldSet) -> Plan | None:
        """Answers for the fields of ``grouped``; None when none has one (graphql-core's own
        loop is then just as good)."""
        cached = self._plans.get(id(grouped))
        if cached is None or cached[0] is not grouped:
            self._fields(parent_type, grouped)
            cached = self._plans[id(grouped)]
        return cached[2]

    def object_answer(self, type_: GraphQLOutputType, details: FieldDetailsList) -> Answer | None:
        """Completes a non-null value of an object type in one step, when every field selected
        on it has an answer; else None."""
        key = (id(type_), id(details))
        cached = self._objects.get(key)
        if cached is not None and cached[0] is details:
            return cached[1]
        nodes = tuple(detail.node for detail in details)
        answer = self._cached("object", type_, nodes, lambda: self._object_answer(type_, details))
        self._objects[key] = (details, answer)
        return cast("Answer | None", answer)

    def _object_answer(self, type_: GraphQLOutputType, details: FieldDetailsList) -> Answer | None:
        subfields = self._subfields(type_, details)
        if subfields is None:
            return None
        fields = self._fields(*subfields)
        if None in fields:
            return None
        return compile_object(cast("tuple[Compiled, ...]", fields), self._code)

    def _fields(
        self, parent_type: GraphQLObjectType, grouped: GroupedFieldSet
    ) -> tuple[Compiled | None, ...]:
        cached = self._plans.get(id(grouped))
        if cached is not None and cached[0] is grouped:
            return cached[1]
        nodes = tuple(detail.node for details in grouped.values() for detail in details)
        fields = self._cached(
            "fields",
            parent_type,
            nodes,
            lambda: tuple(
                self._field(parent_type, name, details) for name, details in grouped.items()
            ),
        )
        answers = cast("tuple[Compiled | None, ...]", fields)
        plan = (
            tuple(None if field is None else field.answer for field in answers)
            if any(field is not None for field in answers)
            else None
        )
        self._plans[id(grouped)] = (grouped, answers, plan)
        return answers

    def _cached(
        self, what: str, type_: GraphQLOutputType, nodes: tuple[Any, ...], make: Callable[[], Any]
    ) -> Any:
        key = (what, id(type_), tuple(map(id, nodes)))
        entry = self._cache.get(key)
        if entry is not None and entry[0] is type_ and entry[1] == nodes:
            return entry[2]
        value = make()
        if len(self._cache) >= _MAX_CACHE:
            self._cache.clear()
        self._cache[key] = (type_, nodes, value)
        return value

    def _field(
        self, parent_type: GraphQLObjectType, response_name: str, details: FieldDetailsList
    ) -> Compiled | None:
        nodes = [detail.node for detail in details]
        if any(node.arguments or node.directives for node in nodes):
            return None
        name = nodes[0].name.value
        if name == "__typename":
            type_name = parent_type.name
            return Compiled(response_name, lambda _source: type_name, None, None, "")
        field = parent_type.fields.get(name)
        if field is None or field.args:
            return None
        read, attribute = _reader(field)
        if read is None:
            return None
        leaf = _leaf_completer(field.type)
        if leaf is not None:
            complete, kind, names = leaf
            nullable = not isinstance(field.type, GraphQLNonNull)
            answer = _read_then(read, complete)
            return Compiled(response_name, answer, attribute, complete, kind, names, nullable)
        completer = self._completer(field.type, details)
        if completer is None:
            return None
        return Compiled(response_name, _read_then(read, completer), None, None, "")

    def _completer(self, type_: GraphQLOutputType, details: FieldDetailsList) -> Answer | None:
        """Completes a value (None included) of an object or list type."""
        non_null = isinstance(type_, GraphQLNonNull)
        complete = self._value_completer(type_, details)
        if complete is None:
            return None
        return _non_null(complete) if non_null else _nullable(complete)

    def _value_completer(
        self, type_: GraphQLOutputType, details: FieldDetailsList
    ) -> Answer | None:
        """Completes a value that is not None of an object or list type (or its non-null)."""
        inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if isinstance(inner, GraphQLList):
            return self._list_completer(inner.of_type, details)
        if isinstance(inner, GraphQLObjectType):
            return self.object_answer(inner, details)
        return None

    def _list_completer(
        self, item_type: GraphQLOutputType, details: FieldDetailsList
    ) -> Answer | None:
        leaf = _leaf_completer(item_type)
        item = leaf[0] if leaf is not None else self._value_completer(item_type, details)
        if item is None:
            return None
        complete_item = item
        non_null = isinstance(item_type, GraphQLNonNull)

        def complete(values: Any) -> Any:
            if type(values) is not list and type(values) is not tuple:
                return UNANSWERED  # graphql-core's path takes any iterable, or reports
            results: list[Any] = []
            for value in values:
                if value is None:
                    if non_null:
                        return UNANSWERED
                    results.append(None)
                    continue
                answered = complete_item(value)
                if answered is UNANSWERED:
                    return UNANSWERED
                results.append(answered)
            return results

        return complete


def _read_then(read: Answer, complete: Answer) -> Answer:
    def answer(source: Any) -> Any:
        try:
            value = read(source)
        except Exception:
            return UNANSWERED
        return complete(value)

    return answer


def _non_null(complete: Answer) -> Answer:
    return lambda value: UNANSWERED if value is None else complete(value)


def _nullable(complete: Answer) -> Answer:
    return lambda value: None if value is None else complete(value)


def _reader(field: GraphQLField) -> tuple[Answer | None, str | None]:
    """How to read the field's value off its parent, and the attribute when that is all it
    takes: for a record field (``engine.fields``), its path; for a field marked
    ``fast(now=...)``, that function; for a Strawberry field without resolver, its attribute;
    else (None, None). Fields with extensions or permissions have none: those must run."""
    definition = definition_of(field)
    if definition is None or definition.extensions or definition.permission_classes:
        return None, None
    path = record_path_of(definition.metadata)
    if path is not None:
        return operator.attrgetter(path), path
    now = now_of(definition.metadata)
    if now is not None:
        assert isinstance(field.type, GraphQLNonNull), f"{field}: now= only for non-null fields"
        return now, None
    if not definition.is_basic_field or not is_default_resolver(field):
        return None, None
    resolve = definition.default_resolver
    python_name = definition.python_name
    if resolve is getattr:
        return operator.attrgetter(python_name), python_name
    return (lambda source: resolve(source, python_name)), None


# The specified scalars whose serializers return values of these kinds unchanged (an Int only
# within 32 bits; object_compiler checks).
_KINDS: dict[str, Kind] = {"String": "str", "ID": "str", "Boolean": "bool", "Int": "int"}
_SAME: dict[str, type] = {"String": str, "ID": str, "Boolean": bool}


def _leaf_completer(type_: GraphQLOutputType) -> tuple[Answer, Kind, dict[int, str] | None] | None:
    """For a scalar or enum type: the completer of its values (None included), the kind of
    values that need none, and an enum's names by member id."""
    non_null = isinstance(type_, GraphQLNonNull)
    leaf_type = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if not isinstance(leaf_type, GraphQLScalarType | GraphQLEnumType):
        return None
    specified = is_specified_scalar_type(leaf_type)
    same = _SAME.get(leaf_type.name) if specified else None
    names = enum_names(leaf_type)
    kind: Kind = _KINDS.get(leaf_type.name, "") if specified else ("enum" if names else "")
    serialize = leaf_type.coerce_output_value
    if is_strawberry_isoformat(serialize):
        kind = "isoformat"

    def complete(value: Any) -> Any:
        if value is None:
            return UNANSWERED if non_null else None
        if type(value) is same:
            return value
        if names is not None:
            name = names.get(id(value))
            if name is not None:
                return name
        try:
            serialized = serialize(value)
        except Exception:
            return UNANSWERED
        return UNANSWERED if serialized is None or serialized is Undefined else serialized

    return complete, kind, names


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


_MAX_CACHE = 4096
MAX_OPERATIONS = 1024
# id(operation) -> (a weak reference to the operation, which keeps its id unique while the
# entry lives; its cache, or None when its selections depend on the variables)
Operations = dict[int, tuple["weakref.ref[OperationDefinitionNode]", Cache | None]]


def shared_cache(
    operations: Operations,
    operation: OperationDefinitionNode,
    fragments: Iterable[FragmentDetails],
) -> Cache:
    """A cache that outlives the operation when that is sound: a polled query is parsed once
    (the document cache), so its nodes are the same objects every time, and what is selected
    below them is the same every time unless a directive (@skip, @include...) or a fragment's
    own variables make it depend on the variables. Such an operation gets a fresh cache.

    An entry lives as long as its operation's parsed document and no longer: the document
    cache bounds those by bytes, and a parsed document of a few kilobytes of text can take
    megabytes, so entries that kept their documents alive (up to ``MAX_OPERATIONS`` of them)
    could hold gigabytes of documents sent once."""
    key = id(operation)
    entry = operations.get(key)
    if entry is None or entry[0]() is not operation:
        details = list(fragments)
        variable = any(fragment.variable_signatures for fragment in details) or any(
            _has_directives(node) for node in (operation, *(f.definition for f in details))
        )
        if len(operations) >= MAX_OPERATIONS:
            operations.clear()

        def forget(ref: weakref.ref[OperationDefinitionNode]) -> None:
            if operations.get(key, (None,))[0] is ref:
                del operations[key]

        entry = operations[key] = (weakref.ref(operation, forget), None if variable else {})
    cache = entry[1]
    return {} if cache is None else cache


def _has_directives(node: Node) -> bool:
    selection_set = getattr(node, "selection_set", None)
    if selection_set is None:
        return False
    for selection in selection_set.selections:
        if selection.directives or _has_directives(selection):
            return True
    return False
