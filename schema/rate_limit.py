"""Rate limiting per API key, right after authentication: RATE_LIMITED, HTTP 429, Retry-After."""

from __future__ import annotations

from collections.abc import Iterator

from starlette.responses import Response
from strawberry.extensions import SchemaExtension

from domain.errors import RateLimited
from domain.rate_limit import retry_after_header
from resolvers.context import Context


class RateLimit(SchemaExtension):
    """Takes one token from the caller's bucket per operation; refuses when it is empty.

    Registered after ``ApiKeyAuth``: the bucket is the authenticated key's, so an unknown
    key cannot drain a real one's, and unauthenticated traffic is refused before this runs.
    """

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context) and context.rate_limiter is not None:
            principal = context.require()
            wait = context.rate_limiter.take(principal.key_id)
            if wait > 0:
                retry_after = retry_after_header(wait)
                if isinstance(context.response, Response):
                    context.response.status_code = 429
                    context.response.headers["Retry-After"] = retry_after
                raise RateLimited(
                    f"too many requests for this API key; retry after {retry_after} s",
                    retryAfter=int(retry_after),
                )
        yield
