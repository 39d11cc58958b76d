"""Edges of the WebSocket protocols that Strawberry leaves open.

- An init deadline for legacy ``graphql-ws``: ``graphql-transport-ws`` closes a socket that
  sends no ``connection_init`` in time (Strawberry's ``connection_init_wait_timeout``, set from
  ``JOBGRAPH_WS_INIT_TIMEOUT_SECONDS``); the legacy handler has no such timer, so an idle,
  unauthenticated socket would hold its descriptor forever. It gets the same deadline and the
  same close code, 4408.
- A legacy ``start`` the handler cannot run is refused with an ``error`` message carrying
  ``extensions.code``: one without a payload object (which would drop the socket without a
  close frame) and a query or mutation (legacy ``graphql-ws`` here runs subscriptions only).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from domain.errors import AppError, BadUserInput
from server.http_operations import operation_kind
from settings import Settings

INIT_TIMEOUT_CODE = 4408
INIT_TIMEOUT_REASON = "Connection initialisation timeout"
NO_PAYLOAD = "a start message needs a payload object with the query"
NO_QUERY = "the operation has no query: send its text, a documentId or a persisted query's hash"
SUBSCRIPTIONS_ONLY = (
    "graphql-ws runs subscriptions only: send queries and mutations over HTTP or the "
    "graphql-transport-ws subprotocol"
)


async def with_init_deadline(
    handler: Any, seconds: float, run: Callable[[], Awaitable[None]]
) -> None:
    """Runs the handler's message loop; closes the socket with 4408 if it is not acknowledged
    (a valid ``connection_init``) within ``seconds``."""

    async def deadline() -> None:
        await asyncio.sleep(seconds)
        if not handler.connection_acknowledged:
            with contextlib.suppress(Exception):
                await handler.websocket.close(code=INIT_TIMEOUT_CODE, reason=INIT_TIMEOUT_REASON)

    timer = asyncio.create_task(deadline())
    try:
        await run()
    finally:
        timer.cancel()
        with contextlib.suppress(BaseException):
            await timer


def malformed_payload(payload: Any) -> str | None:
    """What is wrong with an operation message's payload by both protocols' types (``query``
    is checked once a persisted document has been resolved); None when nothing is."""
    if not isinstance(payload, dict):
        return "the payload must be an object"
    for name, kind in (("variables", dict), ("extensions", dict), ("operationName", str)):
        value = payload.get(name)
        if value is not None and not isinstance(value, kind):
            return f"{name} must be {'an object' if kind is dict else 'a string'} or null"
    return None


def legacy_start_refusal(message: Any, settings: Settings) -> AppError | None:
    """Why a legacy ``start`` message cannot run, or None to run it."""
    payload = message.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str | None):
        return BadUserInput(NO_PAYLOAD)
    malformed = malformed_payload(payload)
    if malformed is not None:
        return BadUserInput(f"invalid start message: {malformed}")
    kind = operation_kind(payload.get("query"), payload.get("operationName"), settings)
    if kind is not None and kind != "subscription":
        return BadUserInput(SUBSCRIPTIONS_ONLY)
    return None
