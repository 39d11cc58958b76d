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

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema
from graphql.validation.rules import overlapping_fields_can_be_merged
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from schema.context import Context
from schema.document_limits import GateRule
from settings import DEFAULT_MAX_VALIDATION_WORK

MAX_ENTRIES = 512  # per schema

_Key = tuple[str, tuple[Any, ...], int]
_verdicts: WeakKeyDictionary[GraphQLSchema, dict[_Key, list[GraphQLError]]] = WeakKeyDictionary()


def validate_in_stages(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    max_work: int,
) -> list[GraphQLError]:
    """Strawberry's validation (graphql-core's rules plus its @oneOf and Maybe ones), with the
    gate rules first and alone: a document they refuse is not validated further."""
    gates = tuple(rule for rule in rules if issubclass(rule, GateRule))
    if gates:
        errors = validate_document(schema, document, gates)
        if errors:
            return errors
        rules = tuple(rule for rule in rules if not issubclass(rule, GateRule))
    # graphql-core meters the comparisons of its overlapping-fields rule (the one stock rule
    # whose cost grows faster than the document) against this module-level budget, read when
    # the rule starts; validation is synchronous, so no other validation sees this value.
    overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET = max_work
    errors = validate_document(schema, document, rules)
    # graphql-core aborts with this message when the budget runs out or fragments nest
    # deeper than the interpreter's recursion limit (its error-count abort says more).
    return [
        GraphQLError("the document is too complex to validate")
        if error.message == "Validation aborted."
        else error
        for error in errors
    ]


class TextValidationCache(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None  # Strawberry validates parsed documents only
        schema = context.schema._schema
        rules = context.validation_rules
        app_context = context.context
        max_work = (
            app_context.settings.max_validation_work
            if isinstance(app_context, Context)
            else DEFAULT_MAX_VALIDATION_WORK
        )
        if context.query is None:
            context.pre_execution_errors = validate_in_stages(schema, document, rules, max_work)
            yield
            return
        verdicts = _verdicts.get(schema)
        if verdicts is None:
            verdicts = _verdicts[schema] = {}
        key: _Key = (context.query, rules, max_work)
        errors = verdicts.get(key)
        if errors is None:
            errors = validate_in_stages(schema, document, rules, max_work)
            if len(verdicts) >= MAX_ENTRIES:
                del verdicts[next(iter(verdicts))]
            verdicts[key] = errors
        context.pre_execution_errors = errors
        yield
