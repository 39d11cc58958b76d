"""What every WebSocket operation and multipart stream passes before it runs, and how a
revoked key ends them.

Each operation a socket starts (``subscribe`` on ``graphql-transport-ws``, ``start`` on
legacy ``graphql-ws``) is admitted here first, in this order:

1. its key is read again (``KeyWatch.still_active``): a revoked key's operation is refused with
   ``UNAUTHENTICATED`` and its sockets end (below);
2. the socket's cap on operations (``TOO_MANY_SUBSCRIPTIONS``);
3. the key's rate limit, the same buckets as HTTP and REST (``RATE_LIMITED`` with
   ``retryAfter``).

A refusal is an ``error`` message for that operation id, with ``extensions.code`` — never a
bare ``complete``, which a client would read as "the stream ended".

A revoked key's socket gets an ``error`` (``UNAUTHENTICATED``) for each operation still
running, then closes with 4401 ``API key revoked`` (both subprotocols; graphql-ws clients do
not retry 4401). A multipart stream gets a last part ``{"payload": null, "errors": [...]}``
(the transport-level error of the multipart subscription protocol) and ends.

A new socket of a key that already has ``JOBGRAPH_MAX_WS_CONNECTIONS_PER_KEY`` open in this
process is refused at ``connection_init``: closed with 1013 (Try Again Later) and the reason
``too many WebSocket connections for this API key``; legacy ``graphql-ws`` first gets a
``connection_error`` with ``TOO_MANY_CONNECTIONS``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.responses import Response
from starlette.websockets import WebSocket

from domain.errors import (
    AppError,
    RateLimited,
    TooManyConnections,
    TooManySubscriptions,
    Unauthenticated,
)
from engine.compat import ExecutionResult
from live.turns import end_turn
from resolvers.context import Context
from schema.rate_limit import charge
from server.key_watch import KeyWatch

REVOKED_CLOSE_CODE = 4401
REVOKED_CLOSE_REASON = "API key revoked"
TOO_MANY_SOCKETS_CLOSE_CODE = 1013  # Try Again Later: graphql-ws clients retry with backoff
# Where the reserved socket slot's key id and a close frame to send instead are kept.
_SLOT = "ws_socket_slot"
_CLOSE_WITH = "jobgraph_close_with"


def revoked_error() -> Unauthenticated:
    return Unauthenticated("the API key was revoked")


def error_payload(error: AppError) -> dict[str, Any]:
    return {"message": error.message, "extensions": error.extensions}


# ---- connection_init ----------------------------------------------------------------------


def admit_socket(watch: KeyWatch, context: Context) -> AppError | None:
    """At ``connection_init``, after the key was authenticated: take one of the key's socket
    slots, or the refusal (the socket then closes with 1013 and the reason)."""
    principal = context.require()
    if _SLOT in context.extra:
        return None  # a repeated connection_init on the same socket
    if not watch.reserve_socket(principal.key_id):
        cap = watch.max_sockets_per_key
        error = TooManyConnections(
            f"too many WebSocket connections for this API key (at most {cap} per server process)",
            limit=cap,
        )
        if isinstance(context.request, WebSocket):
            reason = "too many WebSocket connections for this API key"
            setattr(context.request.state, _CLOSE_WITH, (TOO_MANY_SOCKETS_CLOSE_CODE, reason))
        return error
    context.extra[_SLOT] = principal.key_id
    return None


def close_frame(ws: WebSocket, code: int, reason: str) -> tuple[int, str]:
    """The close frame to send: the one a refusal chose (``admit_socket``), else as asked."""
    chosen: tuple[int, str] | None = getattr(ws.state, _CLOSE_WITH, None)
    return chosen if chosen is not None else (code, reason)


# ---- the handlers ---------------------------------------------------------------------------


class GuardedHandler:
    """Mixed into both subprotocol handlers (before Strawberry's base class)."""

    view: Any
    context: Context
    websocket: Any
    connection_acknowledged: bool
    _ended = False

    @property
    def _watch(self) -> KeyWatch:
        watch: KeyWatch = self.view.key_watch
        return watch

    async def handle(self) -> None:
        try:
            await super().handle()  # type: ignore[misc]
        finally:
            principal = self.context.principal
            if principal is not None:
                self._watch.unwatch(principal.key_id, self)
            slot = self.context.extra.pop(_SLOT, None)
            if slot is not None:
                self._watch.release_socket(slot)

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)  # type: ignore[misc]
        principal = self.context.principal
        if self.connection_acknowledged and principal is not None and not self._ended:
            self._watch.watch(principal.key_id, self)

    async def send_message(self, message: Any) -> None:
        # Once the socket is ending, its operations' last words (a `complete` from a cancelled
        # legacy operation, a keep-alive) would contradict the error it ends with.
        if not self._ended:
            await super().send_message(message)  # type: ignore[misc]

    def running(self, operation_id: str) -> int:
        """Operations running on this socket besides ``operation_id`` (what the cap counts)."""
        raise NotImplementedError

    async def admitted(self, operation_id: str) -> bool:
        """Whether this new operation may start; if not, its refusal is sent (and a revoked
        key's socket ends, with every other socket and stream of the key)."""
        if self._ended:
            return False  # the socket is closing: nothing more runs on it
        principal = self.context.principal
        if principal is None or not self.connection_acknowledged:
            return True  # the protocol refuses it itself (4401 before connection_init)
        revoked = False
        error: AppError | None = None
        try:
            revoked = not await self._watch.still_active(principal.key_id)
        except AppError as unreadable:  # the key cannot be read: UNAVAILABLE, as on HTTP
            error = unreadable
        cap = self.view.max_subscriptions_per_connection
        if revoked:
            error = revoked_error()
        elif error is None and cap is not None and self.running(operation_id) >= cap:
            error = TooManySubscriptions(
                f"this connection already runs {cap} operations, the most it may", limit=cap
            )
        elif error is None:
            try:
                charge(self.context)
            except AppError as limited:
                error = limited
        if error is None:
            return True
        await self.send_message(self._error_message(operation_id, error))
        if revoked:
            self._watch.unwatch(principal.key_id, self)
            self._watch.end_key(principal.key_id)
            await self.end()
        return False

    async def end(self) -> None:
        """The key was revoked: an error for each running operation, then close 4401."""
        if self._ended:
            return
        self._ended = True
        operations = await self._stop_operations()
        with contextlib.suppress(Exception):  # the client may be gone already
            for operation_id in operations:
                await self.websocket.send_json(self._error_message(operation_id, revoked_error()))
            await self.websocket.close(code=REVOKED_CLOSE_CODE, reason=REVOKED_CLOSE_REASON)

    async def _stop_operations(self) -> list[str]:
        raise NotImplementedError

    def _error_message(self, operation_id: str, error: AppError) -> dict[str, Any]:
        raise NotImplementedError


class GuardedTransportWS(GuardedHandler):
    """``graphql-transport-ws``: a refusal is ``error`` with a list of GraphQL errors."""

    operations: dict[str, Any]

    def running(self, operation_id: str) -> int:
        return len(self.operations)

    def _error_message(self, operation_id: str, error: AppError) -> dict[str, Any]:
        return {"id": operation_id, "type": "error", "payload": [error_payload(error)]}

    async def _stop_operations(self) -> list[str]:
        operations = list(self.operations)
        for operation_id in operations:
            await self.cleanup_operation(operation_id)  # type: ignore[attr-defined]
        return operations

    async def shutdown(self) -> None:
        """The socket is done: its operations end once it has its turn (``live.turns``)."""
        try:
            await end_turn()
        finally:
            await super().shutdown()  # type: ignore[misc]


class GuardedLegacyWS(GuardedHandler):
    """Legacy ``graphql-ws``: a refusal is ``error`` with one GraphQL error as its payload."""

    tasks: dict[str, Any]

    def running(self, operation_id: str) -> int:
        # A start that reuses a running operation's id replaces it.
        return len(self.tasks) - (operation_id in self.tasks)

    def _error_message(self, operation_id: str, error: AppError) -> dict[str, Any]:
        return {"id": operation_id, "type": "error", "payload": error_payload(error)}

    async def _stop_operations(self) -> list[str]:
        operations = list(self.tasks)
        for operation_id in operations:
            await self.cleanup_operation(operation_id)  # type: ignore[attr-defined]
        return operations

    async def cleanup(self) -> None:
        """The socket is done: its operations end once it has its turn (``live.turns``)."""
        try:
            await end_turn()
        finally:
            await super().cleanup()  # type: ignore[misc]


# ---- multipart subscriptions ----------------------------------------------------------------


def rate_limited_result(error: RateLimited, sub_response: Response) -> ExecutionResult:
    """A rate-limited multipart request's answer: 429 with Retry-After and the JSON error, as
    the RateLimit extension gives any other request."""
    sub_response.status_code = 429
    sub_response.headers["Retry-After"] = str(error.extra["retryAfter"])
    graphql_error = GraphQLError(error.message, extensions=error.extensions, original_error=error)
    return ExecutionResult(data=None, errors=[graphql_error])


class _Stream:
    def __init__(self) -> None:
        self.revoked = asyncio.Event()

    async def end(self) -> None:
        self.revoked.set()


def _boundary(headers: Mapping[str, str]) -> str | None:
    """The boundary of a multipart subscription response, from its Content-Type."""
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if not content_type.startswith("multipart/mixed") or "subscriptionspec" not in (
        content_type.lower()
    ):
        return None
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "boundary":
            return value.strip('"')
    return None


def _revoked_part() -> str:
    body = orjson.dumps({"payload": None, "errors": [error_payload(revoked_error())]}).decode()
    return (
        "\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
    )


def guard_stream(
    watch: KeyWatch,
    key_id: str,
    stream: Callable[[], AsyncIterator[str]],
    headers: Mapping[str, str],
) -> Callable[[], AsyncIterator[str]]:
    """A multipart subscription's text stream that ends when its key is revoked: a last part
    with the error, then the closing boundary."""
    boundary = _boundary(headers)
    if boundary is None:
        return stream

    async def guarded() -> AsyncIterator[str]:
        watched = _Stream()
        watch.watch(key_id, watched)
        source = stream()
        step: asyncio.Future[str] | None = None
        revoked = asyncio.ensure_future(watched.revoked.wait())
        try:
            while not revoked.done():
                # Every chunk of the source ends with a boundary line, so the stream can stop
                # between any two of them.
                step = asyncio.ensure_future(anext(source))
                await asyncio.wait({step, revoked}, return_when=asyncio.FIRST_COMPLETED)
                if not step.done():
                    break
                try:
                    chunk = step.result()
                except StopAsyncIteration:
                    return
                step = None
                yield chunk
            yield _revoked_part() + f"\r\n--{boundary}--\r\n"
        finally:
            watch.unwatch(key_id, watched)
            for task in (step, revoked):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
            with contextlib.suppress(Exception):
                await source.aclose()  # type: ignore[attr-defined]

    return guarded
