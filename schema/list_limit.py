"""A cap on list arguments, whether written in the document or passed as variables.

Fields have their own, tighter caps where the contract names one (createJob's items); this
is the generic bound that keeps any list input — present or future — from being unbounded.
``schema.document_limits`` applies both checks to every operation.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from graphql import GraphQLError, ListValueNode, ValidationRule


@cache
def list_literal_rule(max_length: int) -> type[ValidationRule]:
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


def longest_list(value: object) -> int:
    """The length of the longest list anywhere inside a decoded JSON value.

    Iterative, and it only descends into containers: appendLogs' variables hold a thousand
    small objects, and this runs on every operation.
    """
    longest = 0
    containers: list[object] = [value]
    while containers:
        current = containers.pop()
        if isinstance(current, list):
            longest = max(longest, len(current))
            items: Iterable[object] = current
        elif isinstance(current, dict):
            items = current.values()
        else:
            continue
        containers.extend(item for item in items if isinstance(item, list | dict))
    return longest
