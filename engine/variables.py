"""Coercion of list variables of flat input objects (``[LogLineInput!]!``), without the general
machinery.

graphql-core coerces a variable value by walking it twice — once to check that it is not nested
too deeply, once to coerce it — with a generic dispatch on the type at every node, which is
most of the CPU an appendLogs request of hundreds of lines takes. For a list of input objects
whose fields are all scalars or enums this module does the same coercion in one pass over
precomputed field specs,
following ``graphql.utilities.coerce_input_value`` step by step (unknown fields, required
fields, defaults, out names, nulls). Anything it does not accept — any invalid value, any other
shape — is left to graphql-core, which coerces it or reports the error as always.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    Undefined,
    is_input_type,
    is_required_input_field,
)
from graphql.utilities import type_from_ast

from engine.compat import input_default

# name, out name, the leaf's coercion, non-null, required (non-null without default), default
_FieldSpec = tuple[str, str, Callable[[Any], Any], bool, bool, Any]
Coercer = Callable[[Any], Any]  # raw value -> coerced value, or Undefined


# Per input type, by its name in the document (``[LogLineInput!]!``: graphql-core makes new
# wrapper objects for every document, and they compare by identity): its coercer, or None
# for a type this module leaves to graphql-core.
Coercers = dict[str, Coercer | None]
MAX_COERCERS = 256


def pre_coerce(
    coercers: Coercers,
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    raw: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The coerced values of the variables this module handles, by name (possibly none)."""
    if not raw:
        return {}
    operation = _operation(document, operation_name)
    if operation is None:
        return {}
    coerced: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        value = raw.get(name)
        if not isinstance(value, list) or not value:
            continue
        type_ = type_from_ast(schema, definition.type)
        if not is_input_type(type_):
            continue
        key = str(type_)
        if key not in coercers:
            if len(coercers) >= MAX_COERCERS:
                coercers.clear()  # only documents' odd wrappings of the schema's types get here
            coercers[key] = _coercer(type_)
        coercer = coercers[key]
        if coercer is None:
            continue
        result = coercer(value)
        if result is not Undefined:
            coerced[name] = result
    return coerced


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((op for op in operations if op.name and op.name.value == name), None)


def _coercer(type_: GraphQLInputType) -> Coercer | None:
    """For ``[T]``, ``[T!]`` and their non-null forms, T a flat input object: its coercer."""
    list_type = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if not isinstance(list_type, GraphQLList):
        return None
    item_type = list_type.of_type
    item_non_null = isinstance(item_type, GraphQLNonNull)
    object_type = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
    if not isinstance(object_type, GraphQLInputObjectType) or object_type.is_one_of:
        return None
    specs: list[_FieldSpec] = []
    for name, field in object_type.fields.items():
        field_non_null = isinstance(field.type, GraphQLNonNull)
        leaf = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
        if not isinstance(leaf, GraphQLScalarType | GraphQLEnumType):
            return None
        required = is_required_input_field(field)
        default = Undefined if required else input_default(field)
        out_name = field.out_name or name
        specs.append((name, out_name, leaf.coerce_input_value, field_non_null, required, default))
    known = frozenset(object_type.fields)
    out_type = object_type.out_type

    def coerce_item(value: Any) -> Any:
        if value is None:
            return Undefined if item_non_null else None
        if not isinstance(value, dict) or not known.issuperset(value):
            return Undefined  # unknown fields: graphql-core names them in its error
        item: dict[str, Any] = {}
        for name, out_name, coerce, non_null, required, default in specs:
            if name not in value:
                if required:
                    return Undefined
                if default is not Undefined:
                    item[out_name] = default
                continue
            field_value = value[name]
            if field_value is None:
                if non_null:
                    return Undefined
                item[out_name] = None
                continue
            try:
                coerced = coerce(field_value)
            except Exception:  # graphql-core's coerce_input_value treats it the same way
                return Undefined
            if coerced is Undefined:
                return Undefined
            item[out_name] = coerced
        return out_type(item)

    def coerce_list(values: list[Any]) -> Any:
        items = []
        for value in values:
            item = coerce_item(value)
            if item is Undefined:
                return Undefined
            items.append(item)
        return items

    return coerce_list
