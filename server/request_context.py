"""Per-request bookkeeping: a request id in a contextvar, the access log line, HTTP metrics.

The request id is honoured from an incoming ``X-Request-ID`` when it looks like an id (so a
load balancer's id follows the request through), otherwise generated; it is echoed in the
response header and attached to every log line written while the request runs.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import time
from dataclasses import dataclass

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.metrics import Metrics

REQUEST_ID_HEADER = "x-request-id"
# Letters, digits and a few separators, bounded: anything else (or a header stuffed with a
# secret or a log-injection attempt) is replaced by a generated id.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
access_log = logging.getLogger("jobgraph.access")


@dataclass
class RequestInfo:
    """What the log formatter adds to each line; the GraphQL extension fills ``operation``."""

    request_id: str
    operation: str | None = None


current_request: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "jobgraph_request", default=None
)


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == b"x-request-id":
            candidate = value.decode("latin-1").strip()
            if _SANE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    # 128 random bits as 32 hex digits, as a uuid4's hex would be, without building a UUID.
    return os.urandom(16).hex()


def note_operation(name: str) -> None:
    """Record the running GraphQL operation's name for the log lines of this request."""
    info = current_request.get()
    if info is not None:
        info.operation = name


def route_label(scope: Scope) -> str:
    """The matched route's template (``/status/{jobId}``), set on the scope by the router.

    Unknown paths share one label so that scanners cannot grow the metric without bound.
    """
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


# The scope key of a WebSocket's ``send`` as the server hands it to this, the outermost of
# jobgraph's middlewares: ``server.cohorts.send_shared`` writes a cohort's frames with it,
# skipping the per-message wrappers of the layers below (none of which acts on a frame).
SOCKET_SEND = "jobgraph.socket_send"


class RequestContextMiddleware:
    """Pure ASGI middleware (no body buffering, so streaming responses stay streaming)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            # Nothing between here and the socket's handler looks at a frame once the socket
            # is accepted: a shared live payload may go straight to the server (see
            # ``SOCKET_SEND``).
            scope[SOCKET_SEND] = send
        info = RequestInfo(request_id=request_id_from(scope["headers"]))
        token = current_request.set(info)
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before starting a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = info.request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            route = route_label(scope)
            if scope["type"] == "http":
                self.metrics.observe_http(
                    method=scope["method"], route=route, status=status, seconds=duration
                )
            if access_log.isEnabledFor(logging.INFO):
                self._log_access(scope, route, status, duration)
            current_request.reset(token)

    @staticmethod
    def _log_access(scope: Scope, route: str, status: int, duration: float) -> None:
        http = scope["type"] == "http"
        access_log.info(
            "%s %s %s",
            scope.get("method", "WS"),
            route,
            status if http else "closed",
            extra={
                "method": scope.get("method", "WEBSOCKET"),
                "path": scope["path"],
                "status": status if http else None,
                "duration_ms": round(duration * 1000, 3),
                "client": (scope.get("client") or ("", 0))[0],
            },
        )
