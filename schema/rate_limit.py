"""Rate limiting per API key, right after authentication: RATE_LIMITED, HTTP 429, Retry-After.

Every entry point spends from the same buckets (the view's ``RateLimiter``): this extension
for GraphQL over HTTP, ``charge`` called by the WebSocket handlers for each operation a socket
starts and by the view for a multipart subscription (both before anything streams, so the
refusal is a clear error and not a broken stream), and the REST routes.
"""

from __future__ import annotations

from collections.abc import Iterator

from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension

from domain.errors import RateLimited
from domain.rate_limit import retry_after_header
from resolvers.context import Context

# Set on an HTTP request's context whose operation was charged before it ran (multipart).
_CHARGED = "rate_limit_charged"


def charge(context: Context) -> None:
    """Take one token from the caller's bucket; ``RateLimited`` (with ``retryAfter`` in whole
    seconds) when it is empty. The caller must be authenticated."""
    limiter = context.rate_limiter
    if limiter is None:
        return
    wait = limiter.take(context.require().key_id)
    if wait > 0:
        retry_after = retry_after_header(wait)
        raise RateLimited(
            f"too many requests for this API key; retry after {retry_after} s",
            retryAfter=int(retry_after),
        )


def charge_before_streaming(context: Context) -> None:
    """``charge`` for an HTTP request whose operation streams; the extension then lets it be."""
    charge(context)
    context.extra[_CHARGED] = True


def _charged_at_the_edge(context: Context) -> bool:
    # Every operation on a WebSocket is charged by the socket's handler when it starts.
    return isinstance(context.request, WebSocket) or bool(context.extra.get(_CHARGED))


class RateLimit(SchemaExtension):
    """Takes one token from the caller's bucket per operation; refuses when it is empty.

    Registered after ``ApiKeyAuth``: the bucket is the authenticated key's, so an unknown
    key cannot drain a real one's, and unauthenticated traffic is refused before this runs.
    """

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context) and not _charged_at_the_edge(context):
            try:
                charge(context)
            except RateLimited as error:
                if isinstance(context.response, Response):
                    context.response.status_code = 429
                    context.response.headers["Retry-After"] = str(error.extra["retryAfter"])
                raise
        yield
