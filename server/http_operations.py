"""Which operations a plain (non-streaming) HTTP request may run, and how a refusal reads.

A subscription streams: over HTTP it needs ``Accept: multipart/mixed`` (or a WebSocket). Sent
with a plain JSON Accept, Strawberry would run it like a query and fail inside its resolver
(an internal error); here it is a 400 that says what to send instead. A query or mutation sent
with a multipart Accept that also accepts JSON is answered as JSON, since nothing streams.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, get_operation_ast, parse
from strawberry.exceptions import MissingQueryError
from strawberry.types.graphql import OperationType

from engine.compat import (
    AsyncHTTPRequestAdapter,
    CannotGetOperationTypeError,
    ExecutionResult,
    GraphQLRequestData,
    HTTPException,
    InvalidOperationTypeError,
)
from schema.document_limits import query_too_large
from settings import Settings

SUBSCRIPTION_OVER_PLAIN_HTTP = (
    "a subscription streams its events: send it with Accept: multipart/mixed;"
    "subscriptionSpec=1.0 (GraphQL over HTTP) or over a WebSocket"
)

# Raised out of the schema's execution for an operation a transport does not run.
CLIENT_ERRORS = (InvalidOperationTypeError, CannotGetOperationTypeError, MissingQueryError)


class HTTPErrorWithHeaders(HTTPException):
    """An HTTPException with response headers (Allow on 405)."""

    def __init__(self, status_code: int, reason: str, headers: dict[str, str]) -> None:
        super().__init__(status_code, reason)
        self.headers = headers


async def execute_plain(
    view: Any,
    request_adapter: AsyncHTTPRequestAdapter,
    context: Any,
    request_data: GraphQLRequestData,
) -> ExecutionResult:
    """Strawberry's ``execute_single`` with subscriptions refused: GET runs queries, POST
    queries and mutations."""
    method = request_adapter.method
    allowed = {OperationType.QUERY}
    if method == "POST":
        allowed.add(OperationType.MUTATION)
    try:
        result: ExecutionResult = await view.schema.execute(
            request_data.query,
            root_value=None,
            variable_values=request_data.variables,
            context_value=context,
            operation_name=request_data.operation_name,
            allowed_operation_types=allowed,
            operation_extensions=request_data.extensions,
        )
    except CannotGetOperationTypeError as error:
        raise HTTPException(400, error.as_http_error_reason()) from None
    except InvalidOperationTypeError as error:
        if error.operation_type == OperationType.SUBSCRIPTION:
            raise HTTPException(400, SUBSCRIPTION_OVER_PLAIN_HTTP) from None
        # GET is for queries only (the spec's 405): a mutation must be a POST.
        raise HTTPErrorWithHeaders(
            405, error.as_http_error_reason(method), {"Allow": "POST"}
        ) from None
    except MissingQueryError:
        raise HTTPException(400, "No GraphQL query found in the request") from None
    return result


def operation_kind(query: object, operation_name: object, settings: Settings) -> str | None:
    """``"query"``, ``"mutation"`` or ``"subscription"``: what a document would run, read before
    it runs (for the transports that run one kind only); None when that cannot be told (no
    text, too large, does not parse, no such operation), so the usual error answers it."""
    if not isinstance(query, str) or query_too_large(query, settings.max_query_bytes):
        return None
    try:
        document = parse(query, max_tokens=settings.max_tokens)
    except GraphQLError:
        return None
    operation = get_operation_ast(
        document, operation_name if isinstance(operation_name, str) else None
    )
    if not isinstance(operation, OperationDefinitionNode):
        return None
    return str(operation.operation.value)


def streams(request_data: GraphQLRequestData, settings: Settings) -> bool:
    """Whether a request that asked for a multipart answer names a subscription (the only
    operation that streams). Anything else, a document that does not parse included, is
    answered as one JSON document, which reports its errors as usual."""
    kind = operation_kind(request_data.query, request_data.operation_name, settings)
    return kind == OperationType.SUBSCRIPTION.value
