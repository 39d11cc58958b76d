"""The API-key schema extension: every operation is authenticated before anything else runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from starlette.responses import Response
from strawberry.extensions import SchemaExtension

from domain.errors import Unauthenticated
from domain.principal import Principal
from resolvers.context import Context

API_KEY_HEADER = "x-api-key"
# Names a WebSocket client may use for the key in its connection_init payload.
_PAYLOAD_KEYS = ("X-API-Key", "x-api-key", "apiKey", "api_key")


def presented_key(context: Context) -> str | None:
    """The key from the connection_init payload (WebSocket) or the X-API-Key header (HTTP)."""
    params = context.connection_params
    if isinstance(params, Mapping):
        for name in _PAYLOAD_KEYS:
            value = params.get(name)
            if isinstance(value, str):
                return value
        headers = params.get("headers")
        if isinstance(headers, Mapping):
            value = headers.get("X-API-Key") or headers.get("x-api-key")
            if isinstance(value, str):
                return value
    if context.request is not None:
        return context.request.headers.get(API_KEY_HEADER)
    return None


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
