"""A GraphQL document as traces may show it: its shape, without the values written into it.

Arguments written inline carry user data (an idempotency key, a URL, a log message); a trace
keeps the document's shape and names only. Every literal becomes a placeholder of its kind —
strings ``""``, numbers ``0``, lists ``[]``, input objects ``{}`` — while variables, enum values,
booleans and null stay (none of them carries data a client typed in).

>>> from graphql import parse
>>> without_literals(parse('{ job(id: "3f2c", tail: 5) { status } }'))
'{ job(id: "", tail: 0) { status } }'
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FloatValueNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    StringValueNode,
    Visitor,
    print_ast,
    visit,
)


class _HideLiterals(Visitor):
    def enter_string_value(self, node: StringValueNode, *_: Any) -> StringValueNode:
        return StringValueNode(value="")

    def enter_int_value(self, node: IntValueNode, *_: Any) -> IntValueNode:
        return IntValueNode(value="0")

    def enter_float_value(self, node: FloatValueNode, *_: Any) -> IntValueNode:
        return IntValueNode(value="0")

    def enter_list_value(self, node: ListValueNode, *_: Any) -> ListValueNode:
        return ListValueNode(values=())

    def enter_object_value(self, node: ObjectValueNode, *_: Any) -> ObjectValueNode:
        return ObjectValueNode(fields=())


def without_literals(document: DocumentNode) -> str:
    """The document's text, on one line, with every literal value replaced (see the module)."""
    hidden = visit(document, _HideLiterals())
    # Every string is empty now, so collapsing whitespace changes no value.
    return " ".join(print_ast(hidden).split())
