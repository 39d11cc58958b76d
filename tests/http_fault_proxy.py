"""An HTTP/1.1 proxy in front of a real jobgraph server that misbehaves on cue, the way
networks, load balancers and restarting servers do: it answers 429/502/503/504 itself, resets a
connection before the request reaches the server, or forwards a request and then drops the
connection instead of answering (the server acted; the client never learns it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import Counter, defaultdict, deque

import httpx

from tests.live import free_port

PASS, DROP_ANSWER, RESET = "pass", "drop-answer", "reset"
_REASONS = {
    429: "Too Many Requests",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_FIRST_FIELD = re.compile(r"\{\s*(\w+)")


def operation_of(body: bytes) -> str:
    """The first field of the GraphQL document in a request body (``appendLogs``)."""
    try:
        query = json.loads(body).get("query", "")
    except (ValueError, AttributeError):
        return "?"
    match = _FIRST_FIELD.search(query)
    return match.group(1) if match else "?"


class FaultProxy:
    """``faults["appendLogs"] = ["pass", "drop-answer", "503"]`` applies those to the next
    three ``appendLogs`` requests, in order; later ones pass. ``outage = True`` answers every
    request 503 until set back. ``applied`` counts what was done to each operation."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/graphql"
        self.faults: dict[str, deque[str]] = defaultdict(deque)
        self.applied: Counter[tuple[str, str]] = Counter()
        self.outage = False
        self._server: asyncio.Server | None = None
        self._http = httpx.AsyncClient(base_url=upstream, timeout=30)

    def plan(self, operation: str, *actions: str) -> None:
        self.faults[operation].extend(actions)

    def unused(self) -> dict[str, list[str]]:
        return {name: list(queue) for name, queue in self.faults.items() if queue}

    async def __aenter__(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.close()
        await self._http.aclose()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.transport.abort()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection is done with."""
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        _, path, _ = head[0].split(" ", 2)
        headers = {}
        for line in head[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        operation = operation_of(body)
        queue = self.faults.get(operation)
        action = "503" if self.outage else (queue.popleft() if queue else PASS)
        self.applied[(operation, action)] += 1
        if action == RESET:
            return False
        if action.isdigit():
            page = f"<html><body>{action} {_REASONS[int(action)]}</body></html>".encode()
            await self._answer(writer, int(action), "text/html", page)
            return True
        forwarded: dict[str, str] = {
            name: headers[name]
            for name in ("content-type", "accept", "x-api-key")
            if name in headers
        }
        response = await self._http.post(path, content=body, headers=forwarded)
        if action == DROP_ANSWER:
            return False  # the server has acted on it; the client gets a reset, no answer
        content_type = response.headers.get("content-type", "application/json")
        await self._answer(writer, response.status_code, content_type, response.content)
        return True

    @staticmethod
    async def _answer(
        writer: asyncio.StreamWriter, status: int, content_type: str, body: bytes
    ) -> None:
        reason = _REASONS.get(status, "OK" if status == 200 else "Status")
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
