"""Strawberry's ASGI view, adapted: typed context, orjson, JSON error bodies, WS auth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.types.unset import UnsetType

from domain.errors import AppError
from schema.auth import authenticate
from schema.context import Context
from server.frontend import graphiql_page
from server.responses import graphql_error_response
from settings import Settings
from storage.store import Store

_BODY_TYPES = ("application/json", "application/graphql", "multipart/form-data", "multipart/mixed")


def _supported_body(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type in _BODY_TYPES or media_type.endswith("+json")


class TextFrameWebSocketAdapter(ASGIWebSocketAdapter):
    """Sends every WebSocket message as a text frame.

    Strawberry sends bytes as binary frames, and our ``encode_json`` returns orjson's bytes;
    graphql-ws clients in browsers (and the protocol) expect text and close on a binary frame.
    """

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error


class GraphQLView(GraphQL[Context, None]):
    websocket_adapter_class = TextFrameWebSocketAdapter

    def __init__(self, *, store: Store | None, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            if request.method == "POST" and not _supported_body(
                request.headers.get("content-type")
            ):
                raise HTTPException(415, "Unsupported content type: send application/json")
            response = await self.run(request)
        except HTTPException as error:
            # Strawberry answers these in text/plain; the contract wants a JSON GraphQL error.
            response = graphql_error_response(error.status_code, error.reason)
        await response(scope, receive, send)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        if self.store is None:
            raise RuntimeError("the app's lifespan has not started")
        return Context.for_store(self.store, self.settings, request=request, response=response)

    async def render_graphql_ide(self, request: Request) -> Response:
        # Strawberry's page loads GraphiQL from a CDN; ours is served by jobgraph itself.
        return graphiql_page()

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        try:
            await authenticate(context)
        except AppError as error:
            # graphql-transport-ws closes with 4403; legacy graphql-ws sends connection_error.
            raise ConnectionRejectionError({"message": error.message, "code": error.code}) from None
        return await super().on_ws_connect(context)
