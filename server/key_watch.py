"""Open sockets and streams follow their API key: a revoked key ends them within seconds.

An HTTP request looks its key up on every request, so a revocation holds for the next one. A
WebSocket or a multipart subscription authenticates once and then stays open; this module
keeps such a connection tied to its key:

- each new operation on a socket re-reads its key first (``still_active``: one indexed read,
  what an HTTP request costs anyway) and is refused once the key is revoked;
- every ``JOBGRAPH_KEY_RECHECK_SECONDS`` (1 s), each process re-reads the keys of all its open
  sockets and streams in one statement, and ends those whose key was revoked (or deleted).

Polling rather than a notification: it works the same on SQLite and PostgreSQL, in every
process however many there are, whatever revoked the key (``app.py keys revoke``, another
process, an UPDATE by hand), and costs one indexed statement a second per process, and none
while nothing is open. A revoked key's connections end within one interval (plus the
statement's own time).

It also counts each key's open WebSockets, for ``JOBGRAPH_MAX_WS_CONNECTIONS_PER_KEY``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from storage.store import Store

log = logging.getLogger("jobgraph.keys")


class Watched(Protocol):
    """An open socket or stream: ``end`` closes it, telling its client why."""

    async def end(self) -> None: ...


class KeyWatch:
    """Per process (per app): the open sockets and streams by key id, re-checked together."""

    def __init__(self, *, interval: float, max_sockets_per_key: int) -> None:
        self.interval = interval
        self.max_sockets_per_key = max_sockets_per_key
        self.store: Store | None = None  # set by the lifespan
        self._watched: dict[str, set[Watched]] = {}
        self._sockets: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._endings: set[asyncio.Task[None]] = set()
        self._last_failure = 0.0

    # ---- sockets per key ------------------------------------------------------------------

    def reserve_socket(self, key_id: str) -> bool:
        """Count one more open socket for this key; False (nothing counted) at the cap."""
        count = self._sockets.get(key_id, 0)
        if self.max_sockets_per_key and count >= self.max_sockets_per_key:
            return False
        self._sockets[key_id] = count + 1
        return True

    def release_socket(self, key_id: str) -> None:
        count = self._sockets.get(key_id, 0) - 1
        if count > 0:
            self._sockets[key_id] = count
        else:
            self._sockets.pop(key_id, None)

    def sockets_of(self, key_id: str) -> int:
        return self._sockets.get(key_id, 0)

    # ---- revocation ---------------------------------------------------------------------

    def watch(self, key_id: str, watched: Watched) -> None:
        self._watched.setdefault(key_id, set()).add(watched)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="jobgraph-key-watch")

    def unwatch(self, key_id: str, watched: Watched) -> None:
        found = self._watched.get(key_id)
        if found is not None:
            found.discard(watched)
            if not found:
                del self._watched[key_id]

    @property
    def watched_count(self) -> int:
        return sum(len(found) for found in self._watched.values())

    async def still_active(self, key_id: str) -> bool:
        """Whether the key is still active, read now (a new operation on an open socket)."""
        if self.store is None:
            return True
        return await self.store.keys.is_active(key_id)

    async def check(self) -> int:
        """Re-read every watched key once; end what belongs to revoked ones. How many ended."""
        if self.store is None or not self._watched:
            return 0
        active = await self.store.keys.active_among(list(self._watched))
        ended = 0
        for key_id in [key_id for key_id in self._watched if key_id not in active]:
            for watched in self._watched.pop(key_id, set()):
                self._spawn(watched.end)
                ended += 1
        if ended:
            log.info("ended %d connection(s) of revoked API keys", ended)
        return ended

    def end_key(self, key_id: str) -> None:
        """End every socket and stream of this key now (a socket found it revoked)."""
        for watched in self._watched.pop(key_id, set()):
            self._spawn(watched.end)

    def _spawn(self, end: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            try:
                await end()
            except Exception:
                log.warning("ending a revoked key's connection failed", exc_info=True)

        task = asyncio.create_task(run())
        self._endings.add(task)
        task.add_done_callback(self._endings.discard)

    async def _run(self) -> None:
        while self._watched:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:
                # The database is unreachable (or silent): the sockets stay, as their keys
                # cannot be read, and each new operation re-reads its key anyway. Said once a
                # minute at most.
                now = time.monotonic()
                if now - self._last_failure > 60:
                    self._last_failure = now
                    log.warning("could not re-check the keys of open sockets", exc_info=True)

    async def close(self) -> None:
        tasks = [task for task in (self._task, *self._endings) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
