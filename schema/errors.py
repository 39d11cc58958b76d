"""Every error leaves with ``extensions.code``; unexpected exceptions are logged, then masked.

This runs from ``Schema.process_errors``, the one hook Strawberry calls for every error —
parse and validation errors, resolver errors, and errors raised by other extensions — before
any of them is formatted for a transport.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from graphql import GraphQLError

from domain.errors import AppError, BadUserInput

INTERNAL_MESSAGE = "Internal server error"
log = logging.getLogger("jobgraph.graphql")


def is_unexpected(error: GraphQLError) -> bool:
    """Our own errors and graphql-core's (parse, validation, coercion) are safe to show."""
    original = error.original_error
    return original is not None and not isinstance(original, AppError | GraphQLError)


def label_errors(errors: Iterable[GraphQLError]) -> None:
    for error in errors:
        if is_unexpected(error):
            log.error("unexpected error at %s", error.path, exc_info=error.original_error)
            error.message = INTERNAL_MESSAGE
            error.original_error = None
            error.extensions = {"code": "INTERNAL_SERVER_ERROR"}
        elif not (error.extensions or {}).get("code"):
            # Documents that do not parse or validate, variables that do not coerce.
            error.extensions = {**(error.extensions or {}), "code": BadUserInput.code}
