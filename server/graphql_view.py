"""Strawberry's ASGI view, adapted: typed context, orjson, JSON error bodies, WS auth, and
GraphQL over HTTP as the spec says (media types, status codes, methods, limits, CSRF)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import (
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)

from domain.errors import AppError, BadUserInput, RateLimited, Unauthenticated
from domain.rate_limit import RateLimiter
from engine.compat import (
    ASGIWebSocketAdapter,
    AsyncHTTPRequestAdapter,
    BaseGraphQLTransportWSHandler,
    BaseGraphQLWSHandler,
    ConnectionInitMessage,
    ErrorMessage,
    ExecutionResult,
    GraphQLHTTPResponse,
    GraphQLRequestData,
    HTTPException,
    StartMessage,
    SubscribeMessage,
    SubscriptionExecutionResult,
    UnsetType,
    WebSocketDisconnected,
    run_json_post,
    starlette_request,
    text_frame_writer,
)
from live.turns import start_turn
from resolvers.context import Context
from schema.auth import authenticate
from schema.rate_limit import charge_before_streaming
from server import csrf
from server.body_limit import BodyTooLarge, check_declared_length, limited_receive
from server.cohorts import Cohorts, Direct, send_shared, spliced_multipart, spliced_ws
from server.frontend import graphiql_page
from server.http_operations import HTTPErrorWithHeaders, execute_plain, streams
from server.key_watch import KeyWatch
from server.negotiation import NotAcceptable, response_media_type, wants_html
from server.persisted import PersistedDocuments
from server.request_context import SOCKET_SEND
from server.responses import graphql_error_response
from server.result_status import is_request_error, status_for
from server.socket_guard import (
    GuardedLegacyWS,
    GuardedTransportWS,
    admit_socket,
    close_frame,
    guard_stream,
    rate_limited_result,
)
from server.ws_edges import NO_QUERY, legacy_start_refusal, malformed_payload, with_init_deadline
from settings import Settings
from storage.store import Store

_ALLOWED_METHODS = "GET, POST"


_HTTPError = HTTPErrorWithHeaders


# Subscriptions over WebSocket (both subprotocols) and over plain HTTP as multipart/mixed.
SUBSCRIPTION_PROTOCOLS = (
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)


async def _resolved_payload(view: Any, context: Context, payload: dict[str, Any]) -> None:
    """The payload of a WebSocket operation with its document resolved in place (sent by
    documentId or APQ hash); raises an ``AppError`` to refuse it."""
    principal = context.principal
    resolved = await view.documents.resolve(
        query=payload.get("query"),
        extensions=payload.get("extensions"),
        document_id_value=payload.get("documentId"),
        is_admin=principal is not None and principal.is_admin,
    )
    payload["query"] = resolved.query
    if not isinstance(resolved.query, str):
        raise BadUserInput(NO_QUERY)


def _error_payload(error: AppError) -> dict[str, Any]:
    return {"message": error.message, "extensions": error.extensions}


# The id of the WebSocket operation being started (set around the handler's start of it, so
# the operation's task inherits it): what the cohorts' direct writes put in its messages.
_OPERATION_ID: ContextVar[str | None] = ContextVar("jobgraph_ws_operation_id", default=None)


@contextlib.contextmanager
def _starting(operation_id: str) -> Iterator[None]:
    token = _OPERATION_ID.set(operation_id)
    try:
        yield
    finally:
        _OPERATION_ID.reset(token)


class _CohortSchema:
    """The schema as a WebSocket handler sees it: subscriptions go through the view's cohorts
    (``server.cohorts``), with the socket for the cohort's producer to write to; everything
    else is the schema's own."""

    def __init__(self, schema: Any, cohorts: Cohorts, handler: Any, head: HeadOf) -> None:
        self._schema = schema
        self._cohorts = cohorts
        self._handler = handler
        self._head = head
        # The socket's frame writer, looked up once: its server protocol does not change.
        self._write: Callable[[Sequence[str]], bool] | None = None
        self._write_looked_up = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._schema, name)

    def _direct(self) -> Direct | None:
        """This operation's socket, written directly, when the server's protocol allows it."""
        operation_id = _OPERATION_ID.get()
        task = asyncio.current_task()
        if operation_id is None or task is None:
            return None
        if not self._write_looked_up:
            ws = getattr(self._handler.websocket, "ws", None)
            send = ws.scope.get(SOCKET_SEND) if ws is not None else None
            self._write = text_frame_writer(send) if send is not None else None
            self._write_looked_up = True
        write = self._write
        if write is None:
            return None
        handler = self._handler

        def alive() -> bool:
            # Until the operation is stopped (its task cancelled: a `complete`, a cleanup) or
            # the socket ends (``server.socket_guard``): nothing is sent for it after that.
            return not handler._ended and not task.cancelling() and not task.done()

        return Direct(write, self._head(operation_id), alive)

    async def stream(self, query: str, **kwargs: Any) -> Any:
        return await self._cohorts.stream(
            lambda context: self._schema.stream(query, **{**kwargs, "context_value": context}),
            query=query,
            variables=kwargs.get("variable_values"),
            operation_name=kwargs.get("operation_name"),
            context=kwargs["context_value"],
            direct=self._direct,
        )

    async def subscribe(self, query: str, **kwargs: Any) -> Any:
        return await self._cohorts.stream(
            lambda context: self._schema.subscribe(
                query=query, **{**kwargs, "context_value": context}
            ),
            query=query,
            variables=kwargs.get("variable_values"),
            operation_name=kwargs.get("operation_name"),
            context=kwargs["context_value"],
            direct=self._direct,
        )


HeadOf = Callable[[str], str]


def _transport_head(operation_id: str) -> str:
    """How graphql-transport-ws opens a ``next`` message (Strawberry's ``send_next``)."""
    return orjson.dumps({"id": operation_id, "type": "next", "payload": 0}).decode()[:-2]


def _legacy_head(operation_id: str) -> str:
    """How graphql-ws opens a ``data`` message (Strawberry's ``send_data_message``)."""
    return orjson.dumps({"type": "data", "id": operation_id, "payload": 0}).decode()[:-2]


def _with_cohorts(handler: Any, head: HeadOf) -> None:
    cohorts = getattr(handler.view, "cohorts", None)
    if cohorts is not None:
        handler.schema = _CohortSchema(handler.schema, cohorts, handler, head)


class _TransportWSHandler(GuardedTransportWS, BaseGraphQLTransportWSHandler[Context, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _with_cohorts(self, _transport_head)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        # The protocol allows a null payload; treat it as an empty one, so a client that sends
        # no key is refused for the key (4403), like any other.
        if message.get("payload", {}) is None:
            message = {"type": "connection_init", "payload": {}}
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        await start_turn()  # a few starts per pass of the loop (``live.turns``)
        payload: Any = message.get("payload")
        malformed = (
            "the id must be a string"
            if not isinstance(message.get("id"), str)
            else malformed_payload(payload)
        )
        if malformed is not None:
            # The protocol's answer to a message that does not parse: close 4400.
            await self.handle_invalid_message(f"Invalid subscribe message: {malformed}")
            return
        # The key (revoked?), the socket's cap and the rate limit (server.socket_guard).
        if not await self.admitted(message["id"]):
            return
        if self.connection_acknowledged and isinstance(payload, dict):
            try:
                await _resolved_payload(self.view, self.context, payload)
            except AppError as error:
                refusal: Any = {
                    "id": message["id"],
                    "type": "error",
                    "payload": [_error_payload(error)],
                }
                await self.send_message(refusal)
                return
        with _starting(message["id"]):
            await super().handle_subscribe(message)


def _settings(view: Any) -> Settings:
    settings: Settings = view.settings
    return settings


class _LegacyWSHandler(GuardedLegacyWS, BaseGraphQLWSHandler[Context, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _with_cohorts(self, _legacy_head)

    async def handle(self) -> None:
        seconds = _settings(self.view).ws_init_timeout_seconds
        await with_init_deadline(self, seconds, super().handle)

    async def handle_start(self, message: StartMessage) -> None:
        await start_turn()  # a few starts per pass of the loop (``live.turns``)
        if not isinstance(message.get("id"), str):
            await self.websocket.close(code=4400, reason="a start message needs an id")
            return
        refusal = (
            legacy_start_refusal(message, _settings(self.view))
            if self.connection_acknowledged
            else None
        )
        if refusal is not None:
            await self.send_message(
                ErrorMessage(type="error", id=message["id"], payload=_error_payload(refusal))  # type: ignore[typeddict-item]
            )
            return
        # The key (revoked?), the socket's cap and the rate limit (server.socket_guard).
        if not await self.admitted(message["id"]):
            return
        payload = message.get("payload")
        if self.connection_acknowledged and isinstance(payload, dict):
            try:
                await _resolved_payload(self.view, self.context, payload)  # type: ignore[arg-type]
            except AppError as error:
                await self.send_message(
                    ErrorMessage(type="error", id=message["id"], payload=_error_payload(error))  # type: ignore[typeddict-item]
                )
                return
        with _starting(message["id"]):
            await super().handle_start(message)


class TextFrameWebSocketAdapter(ASGIWebSocketAdapter):
    """Sends every WebSocket message as a text frame.

    Strawberry sends bytes as binary frames, and our ``encode_json`` returns orjson's bytes;
    graphql-ws clients in browsers (and the protocol) expect text and close on a binary frame.
    """

    _heads: dict[Any, str] | None = None

    async def send_json(self, message: Mapping[str, object]) -> None:
        # A cohort's shared payload goes out as encoded once, with this operation's id.
        text = None
        if isinstance(message, dict):
            if self._heads is None:
                self._heads = {}
            text = spliced_ws(message, self._heads)
        try:
            if text is None:
                await self.ws.send_text(orjson.dumps(message).decode())
            else:
                await send_shared(self.ws, text)
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error

    async def close(self, code: int, reason: str) -> None:
        # A refusal may name its own close frame (server.socket_guard.admit_socket).
        code, reason = close_frame(self.ws, code, reason)
        await super().close(code, reason)


def _single_operation(data: dict[str, Any]) -> dict[str, Any]:
    """The operation in a POST body, checked as Strawberry's ``parse_http_body`` checks it."""
    query = data.get("query")
    if not isinstance(query, str | None):
        raise HTTPException(
            400, "The GraphQL operation's `query` must be a string or null, if provided."
        )
    variables = data.get("variables")
    if not isinstance(variables, dict | None):
        raise HTTPException(
            400, "The GraphQL operation's `variables` must be an object or null, if provided."
        )
    extensions = data.get("extensions")
    if not isinstance(extensions, dict | None):
        raise HTTPException(
            400, "The GraphQL operation's `extensions` must be an object or null, if provided."
        )
    return data


class GraphQLView(GraphQL[Context, None]):
    websocket_adapter_class = TextFrameWebSocketAdapter
    graphql_transport_ws_handler_class = _TransportWSHandler
    graphql_ws_handler_class = _LegacyWSHandler

    def __init__(self, *, store: Store | None, settings: Settings, **kwargs: Any) -> None:
        kwargs.setdefault("subscription_protocols", SUBSCRIPTION_PROTOCOLS)
        kwargs.setdefault(
            "max_subscriptions_per_connection", settings.max_subscriptions_per_connection
        )
        kwargs.setdefault(
            "connection_init_wait_timeout", timedelta(seconds=settings.ws_init_timeout_seconds)
        )
        # Browsers on the origins CORS allows may open sockets too; others are refused (403).
        kwargs.setdefault("allowed_origins", tuple(settings.cors_origins))
        super().__init__(**kwargs)
        self.store = store
        self.settings = settings
        # One limiter per app (so per process): buckets outlive the per-operation extensions.
        self.rate_limiter = RateLimiter(
            rate=settings.rate_limit_per_second, burst=settings.rate_limit_burst
        )
        # Documents sent by reference (APQ, trusted documents); its store is set with ours.
        self.documents = PersistedDocuments(settings)
        # Open sockets and streams by key: revocation ends them, sockets per key are capped.
        self.key_watch = KeyWatch(
            interval=settings.key_recheck_seconds,
            max_sockets_per_key=settings.max_ws_connections_per_key,
        )
        # Subscribers of one operation share its execution: a fast path.
        self.cohorts = (
            Cohorts(
                max_queue=settings.live_queue_size,
                max_query_bytes=settings.max_query_bytes,
                max_tokens=settings.max_tokens,
            )
            if settings.fast_paths
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        limit = self.settings.max_body_bytes
        request = Request(scope=scope, receive=limited_receive(receive, limit))
        media_type = "application/json"
        try:
            media_type = self._check_request(request)
            check_declared_length(scope, limit)
            request.state.response_media_type = media_type
            if (
                self.settings.fast_paths
                and request.method == "POST"
                and "multipart" not in request.headers.get("accept", "")
            ):
                # The request nearly every client sends: one JSON operation, one JSON answer
                # (``_check_request`` has refused any other body), without Strawberry's
                # general dispatch.
                body = _single_operation(self.parse_json(await request.body()))
                body["query"] = await self._document_text(request, body)
                response = await run_json_post(self, request, body)
            else:
                response = await self.run(request)
        except BodyTooLarge as error:
            response = graphql_error_response(413, str(error), media_type=media_type)
        except AppError as error:
            # A document sent by reference that cannot be run (unknown, refused, malformed).
            response = graphql_error_response(
                error.http_status, error.message, code=error.code, media_type=media_type
            )
        except HTTPException as error:
            # Strawberry answers these in text/plain; the contract wants a JSON GraphQL error.
            headers = error.headers if isinstance(error, _HTTPError) else None
            response = graphql_error_response(
                error.status_code, error.reason, headers=headers, media_type=media_type
            )
        await response(scope, receive, send)

    def _check_request(self, request: Request) -> str:
        """The response media type; raises for a method, Accept or Content-Type we refuse."""
        method = request.method
        if method not in ("GET", "POST"):
            raise _HTTPError(405, f"method {method} is not allowed", {"Allow": _ALLOWED_METHODS})
        accept = request.headers.get("accept")
        asks = ("query", "documentId", "extensions")
        if (
            method == "GET"
            and wants_html(accept)
            and not any(name in request.query_params for name in asks)
        ):
            return "text/html"  # GraphiQL
        try:
            media_type = response_media_type(accept)
        except NotAcceptable:
            raise HTTPException(
                406, "not acceptable: accept application/graphql-response+json or application/json"
            ) from None
        if method == "POST":
            refusal = csrf.post_refusal(request.headers.get("content-type"))
            if refusal is not None:
                raise HTTPException(415, refusal)
        return media_type

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        # Queries and mutations only: a subscription needs a streaming answer.
        return await execute_plain(self, request_adapter, context, request_data)

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET that names its document by id or hash asks for the answer, not the IDE.
        params = request.query_params
        if "documentId" in params or "extensions" in params:
            return False
        return bool(super().should_render_graphql_ide(request))

    async def _document_text(self, request: Request, body: dict[str, Any]) -> str | None:
        """The text a request runs: its own, or the one its documentId or APQ hash names."""

        async def is_admin() -> bool:
            key = request.headers.get("x-api-key")
            principal = await self.store.keys.authenticate(key) if key and self.store else None
            return principal is not None and principal.is_admin

        resolved = await self.documents.resolve(
            query=body.get("query"),
            extensions=body.get("extensions"),
            document_id_value=body.get("documentId"),
            is_admin=is_admin,
        )
        request.state.by_reference = resolved.by_reference
        return resolved.query

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        # The stock path's parsing, then the document resolved as the fast lane resolves it.
        data = await super().parse_http_body(request)
        if not isinstance(data, GraphQLRequestData):
            return data
        if request.method == "GET":
            raw: dict[str, Any] = dict(request.query_params)
            if isinstance(raw.get("extensions"), str):
                raw["extensions"] = self.parse_json(raw["extensions"])
        else:
            raw = self.parse_json(await request.get_body())
        query = await self._document_text(starlette_request(request), {**raw, "query": data.query})
        return dataclasses.replace(data, query=query)

    def decode_json(self, data: str | bytes) -> object:
        # orjson: invalid UTF-8 and over-deep nesting are JSONDecodeErrors too (so 400s).
        return orjson.loads(data)

    def parse_json(self, data: str | bytes) -> Any:
        parsed = super().parse_json(data)
        if isinstance(parsed, list):
            raise HTTPException(
                400, "batching is not supported: send one operation (a JSON object) per request"
            )
        if not isinstance(parsed, dict):
            raise HTTPException(400, "the request body must be a JSON object")
        return parsed

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = getattr(request.state, "response_media_type", None)
        return sub_response

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        if self.store is None:
            raise RuntimeError("the app's lifespan has not started")
        if isinstance(response, Response):
            request.state.sub_response = response
        return Context.for_store(
            self.store,
            self.settings,
            request=request,
            response=response,
            rate_limiter=self.rate_limiter,
        )

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        data = await super().process_result(request, result)
        sub_response: Response | None = getattr(request.state, "sub_response", None)
        media_type = getattr(request.state, "response_media_type", "application/json")
        status = status_for(result, media_type)
        if status is not None and sub_response is not None:
            sub_response.status_code = status
        if (
            sub_response is not None
            and request.method == "GET"
            and getattr(request.state, "by_reference", False)
            and not result.errors
        ):
            # A query named by hash or id is a cacheable GET: private to the key that asked.
            max_age = self.settings.persisted_query_max_age
            sub_response.headers["cache-control"] = f"private, max-age={max_age}"
            sub_response.headers["vary"] = "X-API-Key, Accept"
        if is_request_error(result):
            # Execution never started, so the response has no data entry at all.
            data.pop("data", None)
        return data

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        if sub_response.media_type:
            response.headers["content-type"] = sub_response.media_type
        return response

    async def execute_operation(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        if (
            isinstance(request_data, GraphQLRequestData)
            and request_data.protocol != "http"
            and not streams(request_data, self.settings)
        ):
            # Only a subscription streams: anything else asked for as multipart gets JSON.
            request_data = dataclasses.replace(request_data, protocol="http")
        if isinstance(request_data, GraphQLRequestData) and request_data.protocol != "http":
            # A streamed response starts with 200 before the operation runs: check the key
            # first, so a multipart subscription without a valid key gets the usual 401.
            try:
                await authenticate(context)
            except Unauthenticated as error:
                raise HTTPException(401, error.message) from None
            # Charged here, before the stream's 200: a refusal is the usual JSON 429.
            try:
                charge_before_streaming(context)
            except RateLimited as error:
                return rate_limited_result(error, sub_response)
            request.state.streaming_key_id = context.require().key_id
            if self.cohorts is not None and request_data.protocol == "multipart-subscription":
                data = request_data
                return await self.cohorts.stream(  # type: ignore[no-any-return]
                    lambda own: super(GraphQLView, self).execute_operation(
                        request=request,
                        request_adapter=request_adapter,
                        request_data=data,
                        context=own,
                        root_value=root_value,
                        sub_response=sub_response,
                    ),
                    query=data.query,
                    variables=data.variables,
                    operation_name=data.operation_name,
                    context=context,
                )
        return await super().execute_operation(
            request=request,
            request_adapter=request_adapter,
            request_data=request_data,
            context=context,
            root_value=root_value,
            sub_response=sub_response,
        )

    async def create_streaming_response(
        self,
        request: Request | WebSocket,
        stream: Callable[[], AsyncIterator[str]],
        sub_response: Response,
        headers: Mapping[str, str],
    ) -> Response:
        key_id = getattr(request.state, "streaming_key_id", None)
        if key_id is not None:
            # A multipart subscription ends when its key is revoked (server.socket_guard).
            stream = guard_stream(self.key_watch, key_id, stream, headers)
        return await super().create_streaming_response(request, stream, sub_response, headers)

    async def render_graphql_ide(self, request: Request) -> Response:
        # Strawberry's page loads GraphiQL from a CDN; ours is served by jobgraph itself.
        return graphiql_page()

    def encode_json(self, data: object) -> bytes:
        spliced = spliced_multipart(data)
        return orjson.dumps(data) if spliced is None else spliced

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        try:
            await authenticate(context)
            refusal = admit_socket(self.key_watch, context)  # the key's cap on sockets
            if refusal is not None:
                raise refusal
        except AppError as error:
            # graphql-transport-ws closes with 4403; legacy graphql-ws sends connection_error.
            raise ConnectionRejectionError({"message": error.message, "code": error.code}) from None
        return await super().on_ws_connect(context)
