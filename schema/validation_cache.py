"""Validation results remembered by the query's text, not by its parsed document.

Strawberry's ``ValidationCache`` keys an ``lru_cache`` on the ``DocumentNode``. graphql-core
3.3's AST nodes are frozen dataclasses whose ``__hash__`` walks the whole tree on every call,
so every operation paid a full walk of its document just to find the cached verdict (~1 % of
a page of jobs, more of a small query). The text the document was parsed from names it as
well, and a ``str`` hashes in C over its bytes.

The verdict also depends on the schema and the validation rules (``DocumentLimits`` adds the
request's limits), so both are part of the key. Entries are bounded; the oldest goes first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from weakref import WeakKeyDictionary

from graphql import GraphQLError, GraphQLSchema
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

MAX_ENTRIES = 512  # per schema

_Key = tuple[str, tuple[Any, ...]]
_verdicts: WeakKeyDictionary[GraphQLSchema, dict[_Key, list[GraphQLError]]] = WeakKeyDictionary()


class TextValidationCache(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None  # Strawberry validates parsed documents only
        schema = context.schema._schema
        rules = context.validation_rules
        if context.query is None:
            context.pre_execution_errors = validate_document(schema, document, rules)
            yield
            return
        verdicts = _verdicts.get(schema)
        if verdicts is None:
            verdicts = _verdicts[schema] = {}
        key: _Key = (context.query, rules)
        errors = verdicts.get(key)
        if errors is None:
            # Strawberry's own validation (graphql-core's rules plus its @oneOf and Maybe ones).
            errors = validate_document(schema, document, rules)
            if len(verdicts) >= MAX_ENTRIES:
                del verdicts[next(iter(verdicts))]
            verdicts[key] = errors
        context.pre_execution_errors = errors
        yield
