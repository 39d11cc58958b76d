"""Request body size cap: refuse by Content-Length up front, and count streamed bytes.

A chunked body has no Content-Length, and a client may lie about it, so the receive
channel is wrapped: the moment the bytes read pass the cap, reading stops with
:class:`BodyTooLarge` — the server never buffers more than the cap plus one chunk.
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope


class BodyTooLarge(Exception):
    """The request body is larger than the configured cap (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body too large: the limit is {limit} bytes")
        self.limit = limit


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def check_declared_length(scope: Scope, limit: int) -> None:
    length = declared_length(scope)
    if length is not None and length > limit:
        raise BodyTooLarge(limit)


def limited_receive(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises :class:`BodyTooLarge` once more than ``limit`` bytes arrived."""
    seen = 0

    async def receive_within_limit() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return receive_within_limit
