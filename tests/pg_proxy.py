"""A TCP proxy in front of PostgreSQL that a test can cut, blackhole and restore, so a test can
take "the database" away from a server without stopping the real PostgreSQL service."""

from __future__ import annotations

import asyncio
import contextlib

from tests.live import free_port


class TcpProxy:
    """``await proxy.start()`` listens on 127.0.0.1:``port`` and pipes to the target;
    ``await proxy.stop()`` closes the listener and every open connection (the database
    "goes away", and the client learns it at once); ``start()`` again brings it back on the
    same port.

    ``proxy.blackhole()`` is the silent failure instead: every connection stays open, new ones
    are accepted, and nothing reaches either side, as when a link drops packets (the client
    learns nothing until its own timeouts fire). ``proxy.restore()`` lets the held bytes flow
    again, as TCP retransmissions would once the link is back.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()  # a reset, as when the database host dies
        self._writers.clear()

    def blackhole(self) -> None:
        self._flowing.clear()

    def restore(self) -> None:
        self._flowing.set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            # A connection accepted while the link is down reaches the database only once it is
            # back; the client's bytes wait in its socket meanwhile.
            await self._flowing.wait()
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except (OSError, asyncio.CancelledError):
            self._writers.discard(writer)
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                await self._flowing.wait()  # held, not lost, while blackholed
                writer.write(chunk)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()
