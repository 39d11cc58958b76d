"""Every error leaves with ``extensions.code``; unexpected exceptions are logged, then masked;
then each error lets go of its traceback.

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


def release_tracebacks(errors: Iterable[GraphQLError]) -> None:
    """Drop the tracebacks of errors already labelled (and logged, for unexpected ones).

    A refusal raised by an extension's ``on_operation`` hook (a document too large, a list too
    long, the rate limit) carries a traceback whose frames hold the operation's execution
    context, and that context holds the error: a reference cycle keeping the request's
    document and variables alive until a full garbage collection, which a serving process
    makes rare (``engine.gc``). Megabytes a request, for good. Nothing reads a traceback
    once the error is labelled, so reference counting frees the request as it ends.
    """
    for error in errors:
        seen: set[int] = set()
        pending: list[BaseException | None] = [error, error.original_error]
        while pending:
            exception = pending.pop()
            if exception is None or id(exception) in seen:
                continue
            seen.add(id(exception))
            exception.__traceback__ = None
            pending += (exception.__cause__, exception.__context__)
