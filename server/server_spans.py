"""A SERVER span per HTTP request or WebSocket connection, when tracing is on.

Joined to the caller's trace through the W3C ``traceparent``/``tracestate`` headers (the
globally configured propagator), named ``{method} {path}`` for HTTP and ``WS {path}`` for a
WebSocket, with the HTTP semantic conventions' attributes. Everything below it — the
operation's span, its statements' spans — is its child.

Its cost when the sampler drops the trace is one pass over the headers, the propagator when the
caller sent a trace, and the sampler's decision (``telemetry.tracing.start_server_span``): no
span is built or made current, attributes are read and ``send`` is wrapped only for a recorded
span, and the spans below check the same decision (``telemetry.tracing.unsampled``), so a 1 %
sampler leaves the other 99 % of requests nearly as cheap as with tracing off.
"""

from __future__ import annotations

from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telemetry import tracing

_PROPAGATION_HEADERS = frozenset((b"traceparent", b"tracestate", b"baggage"))


class _Headers(Getter[dict[str, str]]):
    def get(self, carrier: dict[str, str], key: str) -> list[str] | None:
        value = carrier.get(key.lower())
        return None if value is None else [value]

    def keys(self, carrier: dict[str, str]) -> list[str]:
        return list(carrier)


_GETTER = _Headers()


class ServerSpanMiddleware:
    """Pure ASGI middleware: nothing buffered, streamed answers stay streamed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name.lower() in _PROPAGATION_HEADERS
        }
        parent = propagate.extract(carrier, getter=_GETTER) if carrier else None
        path = scope.get("path", "")
        method = scope.get("method", "GET") if kind == "http" else "WS"
        started = tracing.start_server_span(f"{method} {path}", parent)
        if isinstance(started, tuple):
            # A dropped trace: nothing below records, and log lines take the dropped span's
            # ids from the mark (``telemetry.tracing.current_ids``).
            dropped = tracing.mark_dropped(started)
            try:
                await self.app(scope, receive, send)
            finally:
                tracing.unmark_dropped(dropped)
            return
        span = started
        if not span.is_recording():  # tracing was shut down (the end of a test)
            await self.app(scope, receive, send)
            return
        with trace.use_span(span, end_on_exit=True):
            client = scope.get("client") or ("", 0)
            span.set_attributes(
                {
                    "http.request.method": method,
                    "url.path": path,
                    "url.scheme": scope.get("scheme", "http"),
                    "network.protocol.version": scope.get("http_version", "1.1"),
                    "client.address": str(client[0]),
                }
            )

            async def recorded_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            await self.app(scope, receive, recorded_send)
