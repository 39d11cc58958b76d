"""No NUL character in a string literal of a document (``domain.text`` says why); the
variables are checked by ``schema.document_limits`` with ``domain.text.nul_path``."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, StringValueNode, ValidationRule

from domain.text import NUL, NUL_MESSAGE


class NoNulRule(ValidationRule):
    """Refuses a string literal with a NUL (written ``\\u0000`` in the document)."""

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if NUL in node.value:
            self.report_error(GraphQLError(f"a string value contains NUL: {NUL_MESSAGE}", node))
