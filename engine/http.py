"""HTTP responses written to the socket in one piece.

uvicorn writes a response's status line and headers to the transport when the app starts the
response, and the body when the app sends it: two writes per response, and on a keep-alive
connection two TCP segments, the first of which wakes the client for a few hundred bytes. The
kernel's per-segment work costs far more than the system call. So the connection's transport
gathers what is written during one turn of the event loop and hands it on once, at the end of
that turn: a response sent by one task step (Starlette sends its head and body back to back)
leaves in one write. Order is kept, a streamed response still leaves chunk by chunk, and
close, abort and flow control reach the real transport as before (what is gathered is written
before a close; ``get_write_buffer_size`` counts it).

``CoalescingProtocol`` is uvicorn's httptools protocol over this transport; ``app.py serve``
passes it as uvicorn's ``http`` protocol when the fast paths are on. A connection upgraded to
WebSocket keeps it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engine.compat import protocol_with_transport


class CoalescingTransport(asyncio.Transport):
    """Writes made in one turn of the loop leave as one write to ``transport``."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._pending.append(bytes(data))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()


# uvicorn's httptools protocol whose connections write through ``CoalescingTransport``; named
# by its import path (``engine.http:CoalescingProtocol``) so that ``--workers`` can load it.
CoalescingProtocol = protocol_with_transport(CoalescingTransport)
