"""Bounds on the shape of a document: tokens (at parse time), depth, aliases and list lengths
(validation), and the lists in its variables.

Limits come from the request's settings, so every app (and every test) can set its own.
The validation rules are built once per limit value and reused: the validation cache keys
its entries on the rule classes, so a fresh class per operation would never hit the cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

from graphql import ValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule

from domain.errors import BadUserInput
from schema.context import Context
from schema.list_limit import list_literal_rule, longest_list


@cache
def _depth_rule(max_depth: int) -> type[ValidationRule]:
    # Introspection fields (``__schema``...) are not counted, so GraphiQL's query still runs.
    return depth_rule(max_depth, should_ignore=None)


@cache
def _aliases_rule(max_aliases: int) -> type[ValidationRule]:
    return aliases_rule(max_aliases)


class DocumentLimits(SchemaExtension):
    """Refuses documents that are too long, too deep, use too many aliases or carry too long a
    list (a 400; BAD_USER_INPUT for a list in the variables). One extension for all of them:
    each schema extension costs every operation its hook machinery (README, Performance)."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            settings = context.settings
            cap = settings.max_list_length
            if (
                self.execution_context.variables
                and longest_list(self.execution_context.variables) > cap
            ):
                raise BadUserInput(f"a list in the variables is longer than {cap} entries")
            # graphql-core stops the lexer at this many tokens: cost is bounded before parsing.
            self.execution_context.parse_options["max_tokens"] = settings.max_tokens
            self.execution_context.validation_rules = (
                *self.execution_context.validation_rules,
                _depth_rule(settings.max_query_depth),
                _aliases_rule(settings.max_aliases),
                list_literal_rule(cap),
            )
        yield
