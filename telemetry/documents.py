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


# The described form by document text: a client sends the same few documents again and again,
# and describing one walks and prints it whole. Bounded in entries and in the size of each
# (a few MB at most); emptied when full.
_described: dict[str, str] = {}
MAX_DESCRIBED = 256
MAX_DESCRIBED_TEXT = 8192


def described(text: str | None, document: DocumentNode) -> str:
    """``without_literals(document)``, remembered by the text it was parsed from."""
    if text is None or len(text) > MAX_DESCRIBED_TEXT:
        return without_literals(document)
    found = _described.get(text)
    if found is None:
        if len(_described) >= MAX_DESCRIBED:
            _described.clear()
        found = _described[text] = without_literals(document)
    return found
