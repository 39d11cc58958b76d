"""No NUL character in a string literal of a document (``domain.text`` says why); the
variables are checked by ``schema.document_cache`` with ``domain.text.nul_path``, as a
request error (never an exception out of a hook, which a WebSocket stream cannot report)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, StringValueNode, ValidationRule

from domain.text import NUL, NUL_MESSAGE


class NoNulRule(ValidationRule):
    """Refuses a string literal with a NUL (written ``\\u0000`` in the document)."""

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if NUL in node.value:
            self.report_error(GraphQLError(f"a string value contains NUL: {NUL_MESSAGE}", node))
