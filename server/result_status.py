"""The HTTP status of a GraphQL result, per the GraphQL-over-HTTP spec and our error codes.

A *request error* (the document does not parse or validate, variables do not coerce, or an
extension refused the operation before execution) leaves no ``data`` entry and every error
without a ``path``. Our own refusals carry their HTTP status (UNAUTHENTICATED 401,
RATE_LIMITED 429, UNAVAILABLE 503) whatever the media type. For the rest, the spec's
``application/graphql-response+json`` says 400, while legacy ``application/json`` keeps 200.
Field errors (with a path) never change the status: partial data is still a success.
"""

from __future__ import annotations

from strawberry.types import ExecutionResult

from domain.errors import AppError
from server.negotiation import GRAPHQL_RESPONSE_JSON

# Refusals about the caller or the service, not the document: the same status for any media type.
_HTTP_LEVEL = frozenset({401, 429, 503})


def is_request_error(result: ExecutionResult) -> bool:
    return (
        bool(result.errors)
        and result.data is None
        and all(error.path is None for error in result.errors or [])
    )


def status_for(result: ExecutionResult, media_type: str) -> int | None:
    """The status to send, or None to keep what the view would send (200)."""
    if not is_request_error(result):
        return None
    for error in result.errors or []:
        original = error.original_error
        if isinstance(original, AppError) and original.http_status in _HTTP_LEVEL:
            return original.http_status
    codes = {(error.extensions or {}).get("code") for error in result.errors or []}
    if media_type == GRAPHQL_RESPONSE_JSON and "INTERNAL_SERVER_ERROR" not in codes:
        return 400
    return None
