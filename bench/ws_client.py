"""A WebSocket client socket light enough to hold a thousand busy subscriptions in one process.

The live benchmarks must measure the server, not their clients. ``websockets``' asyncio client
hands each message through a future and a queue of its own; at tens of thousands of messages
a second that makes the client processes the heaviest on the machine. This socket runs the same
protocol code (``websockets``' sans-I/O ``ClientProtocol``: handshake, framing, pings, close)
over a plain ``asyncio.Protocol``, reads the server's whole unfragmented data frames itself
(the bulk of the traffic; ping, close and anything else still go through the protocol), and
keeps the messages that arrive in one read in a list that its reader drains in one go.

    ws = await connect(url, "graphql-transport-ws")
    await ws.send(text)
    first = await ws.recv()
    async for message in ws: ...   # bytes, each a whole text message
    ws.close()
"""

from __future__ import annotations

import asyncio
from collections import deque

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri


class Closed(ConnectionError):
    """The connection closed before the message asked for."""


class LightSocket(asyncio.Protocol):
    def __init__(self, url: str, subprotocol: str) -> None:
        self._protocol = ClientProtocol(
            parse_uri(url), subprotocols=[Subprotocol(subprotocol)], max_size=None
        )
        self._inbox: deque[bytes] = deque()
        self._arrived = asyncio.Event()
        self._closed = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()  # after the handshake: bytes not yet a whole frame

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._protocol.send_request(self._protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        # The handshake's answer comes alone: a GraphQL server speaks only after the client's
        # first message, so no frame shares a read with it.
        if self.opened.done():
            self._buffer += data
            self._frames()
        else:
            self._protocol.receive_data(data)
        self._events()

    def _frames(self) -> None:
        """Takes whole unmasked data frames off the buffer; hands the protocol the rest."""
        buffer = self._buffer
        start = 0
        while len(buffer) - start >= 2:
            first, second = buffer[start], buffer[start + 1]
            size, head = second & 0x7F, 2
            if size == 126:
                if len(buffer) - start < 4:
                    break
                size, head = int.from_bytes(buffer[start + 2 : start + 4], "big"), 4
            elif size == 127:
                if len(buffer) - start < 10:
                    break
                size, head = int.from_bytes(buffer[start + 2 : start + 10], "big"), 10
            end = start + head + size
            if len(buffer) < end:
                break
            if first in (0x81, 0x82) and not second & 0x80:  # FIN, text or binary, unmasked
                self._inbox.append(bytes(buffer[start + head : end]))
            else:
                self._protocol.receive_data(bytes(buffer[start:end]))
            start = end
        del buffer[:start]

    def _events(self) -> None:
        for event in self._protocol.events_received():
            if isinstance(event, Response):
                if self.opened.done():
                    continue
                if self._protocol.handshake_exc is not None:
                    self.opened.set_exception(self._protocol.handshake_exc)
                else:
                    self.opened.set_result(None)
            elif event.opcode is Opcode.TEXT or event.opcode is Opcode.BINARY:
                self._inbox.append(bytes(event.data))  # the server sends whole messages
            elif event.opcode is Opcode.CLOSE:
                self._closed = True
        self._flush()  # pongs, and the answer to a close
        if self._inbox or self._closed:
            self._arrived.set()

    def eof_received(self) -> bool | None:
        self._protocol.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._arrived.set()
        if not self.opened.done():
            self.opened.set_exception(exc or Closed("closed during the handshake"))

    def _flush(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        for chunk in self._protocol.data_to_send():
            if chunk:
                transport.write(chunk)
            elif transport.can_write_eof():
                transport.write_eof()

    async def send(self, text: str) -> None:
        self._protocol.send_text(text.encode())
        self._flush()

    async def recv(self) -> bytes:
        while not self._inbox:
            if self._closed:
                raise Closed("the connection closed")
            self._arrived.clear()
            await self._arrived.wait()
        return self._inbox.popleft()

    def __aiter__(self) -> LightSocket:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except Closed:
            raise StopAsyncIteration from None

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._protocol.send_close(1000)
            self._flush()
            self._transport.close()


async def connect(url: str, subprotocol: str) -> LightSocket:
    """An open socket to ``url`` speaking ``subprotocol`` (waits as long as the handshake
    takes: a busy machine can take long over a thousand of them)."""
    uri = parse_uri(url)
    loop = asyncio.get_running_loop()
    _, socket = await loop.create_connection(
        lambda: LightSocket(url, subprotocol), uri.host, uri.port
    )
    await socket.opened
    return socket
