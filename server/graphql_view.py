"""Strawberry's ASGI view, adapted: typed context, orjson, JSON error bodies, WS auth."""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.subscriptions import (
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage
from strawberry.types.execution import ExecutionResult, SubscriptionExecutionResult
from strawberry.types.unset import UnsetType

from domain.errors import AppError, Unauthenticated
from schema.auth import authenticate
from schema.context import Context
from server.responses import graphql_error_response
from settings import Settings
from storage.store import Store

_BODY_TYPES = ("application/json", "application/graphql", "multipart/form-data", "multipart/mixed")


def _supported_body(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type in _BODY_TYPES or media_type.endswith("+json")


# Subscriptions over WebSocket (both subprotocols) and over plain HTTP as multipart/mixed.
SUBSCRIPTION_PROTOCOLS = (
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)


class _TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        # The protocol allows a null payload; treat it as an empty one, so a client that sends
        # no key is refused for the key (4403), like any other.
        if message.get("payload", {}) is None:
            message = {"type": "connection_init", "payload": {}}
        await super().handle_connection_init(message)


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = _TransportWSHandler

    def __init__(self, *, store: Store | None, settings: Settings, **kwargs: Any) -> None:
        kwargs.setdefault("subscription_protocols", SUBSCRIPTION_PROTOCOLS)
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

    async def execute_operation(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        if isinstance(request_data, GraphQLRequestData) and request_data.protocol != "http":
            # A streamed response starts with 200 before the operation runs: check the key
            # first, so a multipart subscription without a valid key gets the usual 401.
            try:
                await authenticate(context)
            except Unauthenticated as error:
                raise HTTPException(401, error.message) from None
        return await super().execute_operation(
            request=request,
            request_adapter=request_adapter,
            request_data=request_data,
            context=context,
            root_value=root_value,
            sub_response=sub_response,
        )

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        try:
            await authenticate(context)
        except AppError as error:
            # graphql-transport-ws closes with 4403; legacy graphql-ws sends connection_error.
            raise ConnectionRejectionError({"message": error.message, "code": error.code}) from None
        return await super().on_ws_connect(context)
