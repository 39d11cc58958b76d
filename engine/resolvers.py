"""graphql-core resolvers for the fields marked in ``engine.fields``, without Strawberry's
resolver wrapper.

Strawberry wraps every resolver: it builds its ``Info``, converts each argument through a
generic type dispatch and chains the field extensions. For a record field that is all the work
there is, and for ``appendLogs`` it converts every line of the batch after graphql-core has
already coerced and checked it. So, for the fields marked as such:

- a record field resolves with a plain getter of its path;
- a field marked ``fast()`` resolves by calling its resolver function with an ``Info`` made
  from graphql-core's and its arguments by their Python names: scalars as graphql-core coerced
  them, lists of flat input objects built as Strawberry builds them (a dict by GraphQL name
  becomes the input class by Python name; absent fields keep the class's defaults).

Fields with extensions or permission classes keep Strawberry's wrapper (those must run), and a
mark on a field whose arguments this module cannot pass exactly as Strawberry would is refused
when the schema is built.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
)

from engine.compat import (
    StrawberryField,
    definition_of,
    resolver_function,
    strawberry_conversion,
    strawberry_info,
    strawberry_origin,
)
from engine.fields import is_direct, record_path_of

Convert = Callable[[Any], Any]


def install(schema: GraphQLSchema) -> None:
    """Replace the resolvers of every marked field of ``schema``'s object types."""
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            definition = definition_of(field)
            if definition is None or definition.extensions or definition.permission_classes:
                continue
            path = record_path_of(definition.metadata)
            if path is not None:
                field.resolve = _getter(operator.attrgetter(path))
            elif is_direct(definition.metadata):
                field.resolve = _direct(f"{type_.name}.{name}", schema, field, definition)


def _getter(read: Callable[[Any], Any]) -> Callable[..., Any]:
    return lambda source, _info: read(source)


def _direct(
    where: str, schema: GraphQLSchema, field: GraphQLField, definition: StrawberryField
) -> Callable[..., Any]:
    function = resolver_function(definition)
    if function is None:
        raise TypeError(f"{where}: fast() needs a resolver function")
    names: dict[str, str] = {}
    converters: dict[str, Convert] = {}
    # Arguments this module does not build itself (an input object with enums or nested
    # inputs) go through Strawberry's own conversion, when they are given.
    by_strawberry: dict[str, Callable[[Any, Any], Any]] = {}
    for graphql_name, argument in field.args.items():
        python_name = getattr(strawberry_origin(argument), "python_name", None)
        convert = _converter(argument.type)
        if convert is _REFUSED:
            found = strawberry_conversion(schema, argument)
            if found is None:
                python_name = None
            else:
                by_strawberry[graphql_name] = found
                convert = None
        if python_name is None:
            raise TypeError(f"{where}: argument {graphql_name} cannot be passed without Strawberry")
        names[graphql_name] = python_name
        if convert is not None:
            converters[graphql_name] = convert

    if (
        not converters
        and not by_strawberry
        and all(graphql == python for graphql, python in names.items())
    ):

        def resolve_plain(source: Any, info: Any, **arguments: Any) -> Any:
            return function(source, strawberry_info(info, definition), **arguments)

        return resolve_plain

    def resolve(source: Any, info: Any, **arguments: Any) -> Any:
        passed = {}
        strawberry = strawberry_info(info, definition)
        for name, value in arguments.items():
            convert = converters.get(name)
            if convert is not None:
                value = convert(value)
            elif name in by_strawberry:
                value = by_strawberry[name](value, strawberry)
            passed[names[name]] = value
        return function(source, strawberry, **passed)

    return resolve


def _refused(value: Any) -> Any:  # pragma: no cover - a marker, never called
    raise AssertionError


_REFUSED: Convert = _refused


def _converter(type_: GraphQLInputType) -> Convert | None:
    """How to turn graphql-core's coerced value into what Strawberry would pass: None for
    "as it is" (a scalar), ``_REFUSED`` for a type this module does not pass."""
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(inner, GraphQLScalarType):
        return None
    if isinstance(inner, GraphQLList):
        item = inner.of_type.of_type if isinstance(inner.of_type, GraphQLNonNull) else inner.of_type
        if isinstance(item, GraphQLScalarType):
            return None
        if isinstance(item, GraphQLInputObjectType):
            build = _input_builder(item)
            if build is None:
                return _REFUSED
            return lambda values: (
                None
                if values is None
                else [None if value is None else build(value) for value in values]
            )
    return _REFUSED


def _input_builder(type_: GraphQLInputObjectType) -> Convert | None:
    """For an input object of scalar fields (no enums, no nesting, no @oneOf): dict by GraphQL
    name -> the Strawberry input class."""
    cls = getattr(strawberry_origin(type_), "origin", None)
    if type_.is_one_of or not isinstance(cls, type):
        return None
    names: dict[str, str] = {}
    for graphql_name, field in type_.fields.items():
        python_name = getattr(strawberry_origin(field), "python_name", None)
        leaf = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
        if python_name is None or not isinstance(leaf, GraphQLScalarType):
            return None
        names[graphql_name] = python_name

    def build(value: dict[str, Any]) -> Any:
        return cls(**{names[name]: item for name, item in value.items()})

    return build
