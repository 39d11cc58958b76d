"""A cap on list arguments, whether written in the document or passed as variables.

Fields have their own, tighter caps where the contract names one (createJob's items); this
is the generic bound that keeps any list input — present or future — from being unbounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from graphql import GraphQLError, ListValueNode, ValidationRule
from strawberry.extensions import SchemaExtension

from domain.errors import BadUserInput
from schema.context import Context


@cache
def _list_literal_rule(max_length: int) -> type[ValidationRule]:
    class ListLengthRule(ValidationRule):
        def enter_list_value(self, node: ListValueNode, *_: Any) -> None:
            if len(node.values) > max_length:
                self.report_error(
                    GraphQLError(
                        f"a list argument has {len(node.values)} entries; at most "
                        f"{max_length} are allowed",
                        node,
                    )
                )

    return ListLengthRule


def longest_list(value: object, *, depth: int = 0) -> int:
    """The length of the longest list anywhere inside a decoded JSON value."""
    if depth > 64:  # JSON decoders cap nesting already; this keeps the walk bounded anyway.
        return 0
    if isinstance(value, list):
        inner = max((longest_list(item, depth=depth + 1) for item in value), default=0)
        return max(len(value), inner)
    if isinstance(value, dict):
        return max((longest_list(item, depth=depth + 1) for item in value.values()), default=0)
    return 0


class ListLengthLimit(SchemaExtension):
    """BAD_USER_INPUT for any list argument longer than ``max_list_length``."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            cap = context.settings.max_list_length
            variables = self.execution_context.variables or {}
            if longest_list(variables) > cap:
                raise BadUserInput(f"a list in the variables is longer than {cap} entries")
            self.execution_context.validation_rules = (
                *self.execution_context.validation_rules,
                _list_literal_rule(cap),
            )
        yield
