"""Bounds on the size and shape of a document: bytes and tokens (before and while parsing),
depth, aliases and list lengths (a validation rule that runs before the others), the work the
stock validation rules may spend, and the lists in its variables.

Limits come from the request's settings, so every app (and every test) can set its own.
The validation rules are built once per limit value and reused: the validation cache keys
its entries on the rule classes, so a fresh class per operation would never hit the cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from graphql import GraphQLError, ValidationContext, ValidationRule
from strawberry.extensions import SchemaExtension

from domain.errors import BadUserInput
from resolvers.context import Context
from schema.document_shape import SATURATED, operation_shapes
from schema.list_limit import list_literal_rule, longest_list
from schema.text_inputs import NoNulRule


class GateRule(ValidationRule):
    """A rule cheap enough to run alone first: the stock rules run only on a document that
    passes every gate (``schema.validation_cache``), so a document refused for its shape never
    reaches the rules whose cost grows faster than its size."""


@cache
def shape_rule(max_depth: int, max_aliases: int) -> type[GateRule]:
    class DocumentShapeRule(GateRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            aliases = 0
            for operation, shape in operation_shapes(context.document):
                aliases += shape.aliases
                if shape.depth > max_depth:
                    name = operation.name.value if operation.name else "anonymous"
                    self.report_error(
                        GraphQLError(
                            f"'{name}' exceeds maximum operation depth of {max_depth}", operation
                        )
                    )
            if aliases > max_aliases:
                found = f"over {SATURATED}" if aliases >= SATURATED else str(aliases)
                self.report_error(GraphQLError(f"{found} aliases found. Allowed: {max_aliases}"))

    return DocumentShapeRule


def query_too_large(query: Any, max_bytes: int) -> str | None:
    """Why a query text is refused for its size, or None. Checked before anything parses it."""
    if not isinstance(query, str) or len(query) * 4 <= max_bytes:
        return None  # no UTF-8 text of this many characters can be over the cap
    size = len(query.encode("utf-8", "surrogatepass"))
    if size <= max_bytes:
        return None
    return f"the document is {size} bytes; at most {max_bytes} are allowed"


class DocumentLimits(SchemaExtension):
    """Refuses documents that are too large, too deep, use too many aliases or carry too long a
    list (a 400; BAD_USER_INPUT for a list in the variables). One extension for all of them:
    each schema extension costs every operation its hook machinery."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            settings = context.settings
            too_large = query_too_large(self.execution_context.query, settings.max_query_bytes)
            if too_large is not None:
                raise BadUserInput(too_large)
            cap = settings.max_list_length
            variables = self.execution_context.variables
            if variables and longest_list(variables) > cap:
                raise BadUserInput(f"a list in the variables is longer than {cap} entries")
            # graphql-core stops the lexer at this many tokens: cost is bounded before parsing.
            self.execution_context.parse_options["max_tokens"] = settings.max_tokens
            self.execution_context.validation_rules = (
                shape_rule(settings.max_query_depth, settings.max_aliases),
                *self.execution_context.validation_rules,
                list_literal_rule(cap),
                NoNulRule,
            )
        yield
