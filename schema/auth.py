"""The API-key schema extension: every operation is authenticated before anything else runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from starlette.responses import Response
from strawberry.extensions import SchemaExtension

from domain.errors import BadUserInput, Unauthenticated
from domain.principal import Principal
from resolvers.context import Context

API_KEY_HEADER = "x-api-key"
# Names a WebSocket client may use for the key in its connection_init payload.
_PAYLOAD_KEYS = ("X-API-Key", "x-api-key", "apiKey", "api_key")
AMBIGUOUS_KEY = "the connection presents more than one API key"


def presented_key(context: Context) -> str | None:
    """The key from the connection_init payload (WebSocket) or the X-API-Key header (HTTP).

    A connection that presents two different keys (under two payload names, or in the payload
    and the upgrade's header) is refused rather than run as whichever is read first."""
    found: list[str] = []
    params = context.connection_params
    if isinstance(params, Mapping):
        found += [v for name in _PAYLOAD_KEYS if isinstance(v := params.get(name), str) and v]
        headers = params.get("headers")
        if isinstance(headers, Mapping):
            names = ("X-API-Key", "x-api-key")
            found += [v for name in names if isinstance(v := headers.get(name), str) and v]
    if context.request is not None:
        header = context.request.headers.get(API_KEY_HEADER)
        if header:
            found.append(header)
    if len(set(found)) > 1:
        raise BadUserInput(f"{AMBIGUOUS_KEY}; send exactly one")
    return found[0] if found else None


async def authenticate(context: Context) -> Principal:
    """Resolve the caller's key to a principal and keep it on the context, or raise."""
    if context.principal is not None:
        return context.principal
    key = presented_key(context)
    if not key:
        raise Unauthenticated("missing API key: send it in the X-API-Key header")
    principal = await context.store.keys.authenticate(key)
    if principal is None:
        raise Unauthenticated("invalid or revoked API key")
    context.principal = principal
    return principal


class ApiKeyAuth(SchemaExtension):
    """Checks the key before parsing, validation or execution; HTTP answers 401 on failure."""

    async def on_operation(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        assert isinstance(context, Context)
        try:
            await authenticate(context)
        except Unauthenticated:
            if isinstance(context.response, Response):
                context.response.status_code = 401
            raise
        yield
