"""A real webhook receiver for tests: a small Starlette app served by uvicorn on a loopback
port, in the test's own event loop. It records every request it gets and answers each path
from a script: ``receiver.script("/flaky", 500, 500, 200)``. Given a certificate
(:func:`self_signed`), it serves HTTPS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
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


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path


def self_signed(directory: Path, name: str) -> Certificate:
    """A certificate for the DNS name ``name`` only (no IP address in it), signed by itself:
    a client trusting it can only verify a connection against that name."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    found = Certificate(directory / f"{name}.crt", directory / f"{name}.key")
    found.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    found.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return found


class Receiver:
    def __init__(self, host: str = "127.0.0.1", tls: Certificate | None = None) -> None:
        self.host = host
        self.tls = tls
        self.port = 0
        self.calls: list[Call] = []
        # Requests being answered now, and the most there ever were at once.
        self.in_flight = 0
        self.peak_in_flight = 0
        self._scripts: dict[str, list[Answer]] = {}
        self.default = Answer()
        self._arrived = asyncio.Condition()
        self._server: uvicorn.Server | None = None

    def url(self, path: str = "/hook") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"

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
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if answer.delay:
                await asyncio.sleep(answer.delay)
        finally:
            self.in_flight -= 1
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
            app,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
            ssl_certfile=str(self.tls.cert_file) if self.tls else None,
            ssl_keyfile=str(self.tls.key_file) if self.tls else None,
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
