"""A real webhook receiver for tests: a small Starlette app served by uvicorn on a loopback
port, in the test's own event loop. It records every request it gets and answers each path
from a script: ``receiver.script("/flaky", 500, 500, 200)``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Call:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()

    @property
    def payload(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def verify(self, secret: str) -> Any:
        """The payload, if ``standardwebhooks`` accepts the signature with ``secret``."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow or hanging receiver)


class Receiver:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.calls: list[Call] = []
        self._scripts: dict[str, list[Answer]] = {}
        self.default = Answer()
        self._arrived = asyncio.Condition()
        self._server: uvicorn.Server | None = None

    def url(self, path: str = "/hook") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    def script(self, path: str, *answers: int | Answer) -> None:
        """Answer the next requests to ``path`` with these, in turn; then with ``default``."""
        self._scripts[path] = [
            answer if isinstance(answer, Answer) else Answer(answer) for answer in answers
        ]

    def calls_to(self, path: str) -> list[Call]:
        return [call for call in self.calls if call.path == path]

    async def wait_for(self, path: str, count: int, timeout: float = 20) -> list[Call]:
        """Until ``path`` got ``count`` requests; its requests."""

        async def enough() -> None:
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.calls_to(path)) >= count)

        await asyncio.wait_for(enough(), timeout)
        return self.calls_to(path)

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        call = Call(request.url.path, dict(request.headers), body, time.monotonic())
        async with self._arrived:
            self.calls.append(call)
            self._arrived.notify_all()
        queue = self._scripts.get(call.path)
        answer = queue.pop(0) if queue else self.default
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return Response(b"ok" if answer.status < 300 else b"no", answer.status, answer.headers)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Receiver]:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST", "GET"])])
        # A held (slow) answer must not hold the test up when the receiver stops.
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        server = self._server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                await task
            await asyncio.sleep(0.01)
        try:
            yield self
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)
            sock.close()
