"""What the app refuses at its edge, before any route runs: a body that takes too long to
arrive, and a request that sends its API key twice.

- **Body read timeout.** uvicorn waits for a body as long as the client trickles it, holding
  the connection and its descriptor meanwhile. Reading the body (first ``receive`` to its last
  chunk) gets ``JOBGRAPH_BODY_READ_TIMEOUT_SECONDS`` in all; past that the answer is 408 with a
  JSON error (the connection then closes). Header timeouts and per-client connection caps are
  the reverse proxy's (docs/operations.md, deploy/nginx/jobgraph.conf): uvicorn has none.
- **Duplicate ``X-API-Key``.** Which of two keys would a request run as? Refused outright: 400
  with a JSON error on HTTP (``{"detail": ...}`` on the REST paths, as they answer), and the
  same 400 for a WebSocket upgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.responses import error_response_for

DUPLICATE_KEY = "the request has more than one X-API-Key header: send exactly one"


class BodyReadTimeout(Exception):
    """The request body did not arrive within the configured time (HTTP 408)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request body did not arrive within {seconds:g} s")
        self.seconds = seconds


def timed_receive(receive: Receive, seconds: float) -> Receive:
    """``receive`` whose body messages must all arrive within ``seconds`` of the first call;
    after the last chunk (a disconnect watch of a streamed answer) it waits unbounded."""
    deadline: float | None = None
    body_done = False

    async def receive_in_time() -> Message:
        nonlocal deadline, body_done
        if body_done:
            return await receive()
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + seconds
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            raise BodyReadTimeout(seconds) from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            body_done = True
        return message

    return receive_in_time


def _key_headers(scope: Scope) -> int:
    return sum(1 for name, _ in scope.get("headers", ()) if name.lower() == b"x-api-key")


def _refusal(scope: Scope, status: int, message: str, code: str) -> tuple[int, bytes]:
    return status, bytes(error_response_for(scope, status, message, code=code).body)


class EdgeGuardMiddleware:
    """Pure ASGI middleware (nothing buffered, streamed answers stay streamed)."""

    def __init__(self, app: ASGIApp, *, body_read_timeout: float) -> None:
        self.app = app
        self.body_read_timeout = body_read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if _key_headers(scope) > 1:
            status, body = _refusal(scope, 400, DUPLICATE_KEY, "BAD_USER_INPUT")
            if kind == "http":
                await _send_json(send, status, body)
            else:
                await _deny_websocket(scope, receive, send, status, body)
            return
        if kind == "websocket":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        begun = time.monotonic()
        try:
            await self.app(scope, timed_receive(receive, self.body_read_timeout), watched_send)
        except BodyReadTimeout as error:
            if started:
                raise
            waited = time.monotonic() - begun
            status, body = _refusal(scope, 408, f"{error} ({waited:.1f} s)", "BAD_USER_INPUT")
            await _send_json(send, status, body, close=True)


def _json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]


async def _send_json(send: Send, status: int, body: bytes, *, close: bool = False) -> None:
    headers = _json_headers(body)
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _deny_websocket(
    scope: Scope, receive: Receive, send: Send, status: int, body: bytes
) -> None:
    """A WebSocket upgrade refused with an HTTP answer where the server can send one (the ASGI
    denial-response extension); a plain close (uvicorn's 403) elsewhere."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
        return
    with contextlib.suppress(Exception):
        await send({"type": "websocket.close", "code": 1008, "reason": DUPLICATE_KEY[:100]})
