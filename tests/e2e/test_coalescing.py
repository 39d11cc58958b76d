"""A response leaves in one write (engine.http): unit tests of the transport, and a real
server answering keep-alive, pipelined and closing requests over a raw socket."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from engine.http import CoalescingTransport
from tests.live import live_server


class Recording(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 7


async def _turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_writes_of_one_turn_leave_as_one_in_order() -> None:
    real = Recording()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.writelines([b"{", bytearray(b'"a"'), memoryview(b":1}")])
    transport.write(b"")
    assert real.writes == []
    assert transport.get_write_buffer_size() == 7 + 19 + 7
    await _turn()
    assert real.writes == [b'HTTP/1.1 200 OK\r\n\r\n{"a":1}']
    transport.write(b"next")
    await _turn()
    assert real.writes[1:] == [b"next"]


async def test_close_sends_what_was_gathered_first_and_abort_drops_it() -> None:
    real = Recording()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"last words")
    transport.close()
    assert real.writes == [b"last words"] and real.closed
    await _turn()  # the scheduled flush finds nothing more to write
    assert real.writes == [b"last words"]

    real = Recording()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"never sent")
    transport.abort()
    await _turn()
    assert real.writes == [] and real.aborted


def _exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return received
            received += chunk


@pytest.mark.e2e
def test_a_real_server_answers_pipelined_and_closing_requests(
    database_url: str, tmp_path: Path
) -> None:
    with live_server(database_url, tmp_path) as server:
        keep = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        last = b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        answer = _exchange(server.port, keep + keep + last)
    responses = answer.split(b"HTTP/1.1 ")[1:]
    assert len(responses) == 3, answer
    assert all(response.startswith(b"200 OK\r\n") for response in responses), answer
    assert responses[0].endswith(b'{"status":"ok"}') and responses[1].endswith(b'{"status":"ok"}')
    assert b"connection: close" in responses[2].lower()
