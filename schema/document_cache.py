"""Parsed documents and their validation verdicts, remembered by query text and bounded by size.

A client polls with the same few documents: parsing and validating them again on every request
would cost more than answering a small query. So each schema keeps, per query text, the parsed
document and the verdict of each set of validation rules it was checked with. The text names
the document (a ``str`` hashes in C over its bytes; graphql-core's AST nodes hash their whole
tree on every lookup).

The cache is bounded by the memory its parsed documents take as well as by their number, the
oldest unused going first: distinct documents from a hostile client (a unique comment each, or
a dense one each) cannot grow the process beyond the bound, and ``JOBGRAPH_MAX_QUERY_BYTES``
and ``JOBGRAPH_MAX_TOKENS`` keep any one entry small. A parsed document takes its text plus a
node, a location and a token object per token: a dense document of 36 KB of text parses into
1.7 MB, so counting its text alone would let the cache hold fifty times its bound.

Validation runs in stages (``validate_in_stages``): the gate rules (the document's shape,
``schema.document_limits``) first and alone, then graphql-core's and Strawberry's rules with the
overlapping-fields rule's work bounded by ``JOBGRAPH_MAX_VALIDATION_WORK``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
)
from strawberry.extensions import SchemaExtension

from domain.text import NUL_MESSAGE, nul_path
from engine.compat import (
    core_schema,
    provided_operation_name,
    set_field_merging_budget,
    validate_document,
)
from resolvers.context import Context
from schema.document_limits import GateRule
from settings import DEFAULT_MAX_VALIDATION_WORK

MAX_ENTRIES = 1024
MAX_BYTES = 32 * 1024 * 1024
# What a parsed document takes per token, beyond its text (320 to 610 bytes measured on
# graphql-core 3.3, by the kind of document): the estimate errs high.
TOKEN_BYTES = 640

_Rules = tuple[type[ASTValidationRule], ...]


@dataclass
class _Entry:
    document: DocumentNode
    size: int
    verdicts: dict[tuple[_Rules, int], list[GraphQLError]] = field(default_factory=dict)


class DocumentStore:
    """One schema's remembered documents (see the module)."""

    def __init__(self, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[tuple[str, int], _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, text: str, max_tokens: int) -> _Entry | None:
        entry = self._entries.get((text, max_tokens))
        if entry is not None:
            self._entries.move_to_end((text, max_tokens))
        return entry

    def add(self, text: str, max_tokens: int, document: DocumentNode) -> _Entry:
        key = (text, max_tokens)
        found = self._entries.get(key)
        if found is not None:
            return found
        entry = _Entry(document=document, size=parsed_size(text, document))
        if entry.size > self.max_bytes:
            return entry  # served, not kept
        self._entries[key] = entry
        self.size += entry.size
        while len(self._entries) > self.max_entries or self.size > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self.size -= dropped.size
        return entry


def parsed_size(text: str, document: DocumentNode) -> int:
    """An estimate of the memory ``document``, parsed from ``text``, takes (see the module)."""
    tokens = 0
    token = document.loc.start_token if document.loc is not None else None
    while token is not None:
        tokens += 1
        token = token.next
    return len(text) + TOKEN_BYTES * tokens


def validate_in_stages(
    schema: GraphQLSchema, document: DocumentNode, rules: _Rules, max_work: int
) -> list[GraphQLError]:
    """Strawberry's validation (graphql-core's rules plus its @oneOf and Maybe ones), with the
    gate rules first and alone: a document they refuse is not validated further."""
    gates = tuple(rule for rule in rules if issubclass(rule, GateRule))
    if gates:
        errors = validate_document(schema, document, gates)
        if errors:
            return errors
        rules = tuple(rule for rule in rules if not issubclass(rule, GateRule))
    # Read when the rule starts; validation is synchronous, so no other validation sees it.
    set_field_merging_budget(max_work)
    errors = validate_document(schema, document, rules)
    # graphql-core aborts with this message when the budget runs out or fragments nest deeper
    # than the interpreter's recursion limit (its error-count abort says more).
    return [
        GraphQLError("the document is too complex to validate")
        if error.message == "Validation aborted."
        else error
        for error in errors
    ]


def operation_choice_error(document: DocumentNode) -> GraphQLError | None:
    """The spec's GetOperation without an operation name: a document with several operations
    is an error (not its first operation), reported like a validation error."""
    operations = sum(isinstance(node, OperationDefinitionNode) for node in document.definitions)
    if operations <= 1:
        return None
    return GraphQLError(
        f"the document has {operations} operations: name the one to run in operationName",
        extensions={"code": "BAD_USER_INPUT"},
    )


class DocumentCache(SchemaExtension):
    """Parses and validates through the schema's ``DocumentStore`` (``JobgraphSchema.documents``;
    a schema without one gets a store of its own on first use)."""

    def _store(self) -> DocumentStore:
        schema: Any = self.execution_context.schema
        store = getattr(schema, "documents", None)
        if not isinstance(store, DocumentStore):
            store = schema.documents = DocumentStore()
        return store

    def _max_tokens(self) -> int:
        return int(self.execution_context.parse_options.get("max_tokens") or 0)

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        text = context.query
        if text is None or context.graphql_document is not None:
            yield
            return
        entry = self._store().get(text, self._max_tokens())
        if entry is not None:
            context.graphql_document = entry.document
        yield
        if entry is None and context.graphql_document is not None:
            self._store().add(text, self._max_tokens(), context.graphql_document)

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None  # Strawberry validates parsed documents only
        schema = core_schema(context.schema)
        rules = context.validation_rules
        app_context = context.context
        max_work = (
            app_context.settings.max_validation_work
            if isinstance(app_context, Context)
            else DEFAULT_MAX_VALIDATION_WORK
        )
        entry = (
            self._store().get(context.query, self._max_tokens())
            if context.query is not None
            else None
        )
        if entry is None or entry.document is not document:
            errors = validate_in_stages(schema, document, rules, max_work)
        else:
            key = (rules, max_work)
            cached = entry.verdicts.get(key)
            if cached is None:
                cached = entry.verdicts[key] = validate_in_stages(schema, document, rules, max_work)
            errors = cached
        if not errors and provided_operation_name(context) is None:
            unnamed = operation_choice_error(document)
            if unnamed is not None:
                errors = [unnamed]
        if not errors and context.variables:
            # A request error like any variable that does not coerce, on every transport.
            nul = _nul_in(context.variables)
            if nul is not None:
                errors = [
                    GraphQLError(f"{nul}: {NUL_MESSAGE}", extensions={"code": "BAD_USER_INPUT"})
                ]
        context.pre_execution_errors = errors
        yield


def _nul_in(variables: dict[str, Any]) -> str | None:
    """Where a NUL sits in the variables, or None. JSON writes a NUL as ``\\u0000`` wherever it
    is, keys included, so one encoding in C answers the common case (none) for a variables
    object of any size; the walk that names the place runs only when there is one."""
    try:
        if b"\\u0000" not in orjson.dumps(variables):
            return None
    except TypeError:
        pass
    return nul_path(variables)
