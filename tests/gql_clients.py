"""Minimal real GraphQL subscription clients: graphql-transport-ws, legacy graphql-ws, multipart.

Each speaks the wire protocol directly (``websockets`` and ``httpx``), like a browser client
would, so the end-to-end tests see exactly what goes over the socket.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
LEGACY_WS = Subprotocol("graphql-ws")
MULTIPART_ACCEPT = "multipart/mixed;subscriptionSpec=1.0,application/json"


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await ws.recv())
    return message


class WsClient:
    """One WebSocket connection on either subprotocol; ``subscribe`` yields each payload."""

    def __init__(self, ws: ClientConnection, protocol: Subprotocol) -> None:
        self.ws = ws
        self.protocol = protocol
        self._next_id = 0

    @property
    def legacy(self) -> bool:
        return self.protocol == LEGACY_WS

    async def init(self, payload: dict[str, Any] | None) -> dict[str, Any]:
        message: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            message["payload"] = payload
        await self.ws.send(json.dumps(message))
        return await recv_json(self.ws)

    async def start(self, query: str, variables: dict[str, Any] | None = None) -> str:
        return await self.start_payload({"query": query, "variables": variables or {}})

    async def start_payload(self, payload: dict[str, Any]) -> str:
        """Start an operation with this payload as it is (a documentId instead of a query...)."""
        self._next_id += 1
        op_id = str(self._next_id)
        kind = "start" if self.legacy else "subscribe"
        await self.ws.send(json.dumps({"id": op_id, "type": kind, "payload": payload}))
        return op_id

    async def messages(self, op_id: str) -> AsyncIterator[dict[str, Any]]:
        """Every message for ``op_id`` until (and including) its complete or error."""
        while True:
            message = await recv_json(self.ws)
            if message.get("type") == "ka" or message.get("id") != op_id:
                continue
            yield message
            if message["type"] in ("complete", "error"):
                return

    async def collect(self, query: str, variables: dict[str, Any] | None = None) -> list[Any]:
        """Subscribe and gather every ``next``/``data`` payload; the last item is the end type."""
        op_id = await self.start(query, variables)
        out: list[Any] = []
        async for message in self.messages(op_id):
            if message["type"] in ("next", "data"):
                out.append(message["payload"])
            else:
                out.append(message)
        return out


def ws_connect(url: str, protocol: Subprotocol) -> Any:
    return connect(url, subprotocols=[protocol], open_timeout=10, close_timeout=5)


def parse_multipart(body: str) -> list[dict[str, Any]]:
    """The JSON parts of a multipart/mixed subscription response (heartbeats dropped)."""
    parts = []
    for chunk in body.split("--graphql"):
        _, sep, payload = chunk.partition("\r\n\r\n")
        payload = payload.strip()
        if not sep or not payload:
            continue
        data = json.loads(payload)
        if data:  # {} is a heartbeat
            parts.append(data)
    return parts


async def multipart_collect(
    client: httpx.AsyncClient, url: str, query: str, variables: dict[str, Any], key: str | None
) -> tuple[httpx.Response, list[dict[str, Any]], str]:
    headers = {"accept": MULTIPART_ACCEPT, "content-type": "application/json"}
    if key is not None:
        headers["X-API-Key"] = key
    body = ""
    async with client.stream(
        "POST", url, json={"query": query, "variables": variables}, headers=headers
    ) as response:
        async for text in response.aiter_text():
            body += text
    return response, parse_multipart(body), body
