"""Redis pub/sub as the wire between server processes (``JOBGRAPH_BROKER_URL=redis://…``).

It replaces LISTEN/NOTIFY on PostgreSQL and lets several processes share one SQLite file.
Messages are the same as NOTIFY payloads (:func:`live.pg_notify.encode`): batches of tiny
events, coalesced per job by the broker's outbox, published on one channel
(``JOBGRAPH_BROKER_CHANNEL``; Redis channels ignore the database number, so processes that must
not hear each other need different channels). Each process holds one subscribing connection
and one for publishing.

Redis keeps nothing for a subscriber that is away. When the subscribing connection drops (a
restart, ``CLIENT KILL``, a network cut), the wire reconnects with backoff and, once subscribed
again, calls ``resync``: the broker re-announces from the store every job watched here and
every job changed since shortly before the loss, so no subscriber silently misses a change. A
connection that goes silent is found by a PING every few seconds. Events this process could
not publish stay in the outbox and are retried, so they are late, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from typing import Any

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from live.pg_notify import Deliver, Resync, decode, encode
from live.relay import DEFAULT_WINDOW, RelayBroker
from storage.events import JobEvent

log = logging.getLogger("jobgraph.live")

DEFAULT_CHANNEL = "jobgraph:events"
_CONNECT_TIMEOUT = 5.0
_PING_EVERY = 5.0  # seconds of silence on the subscribing connection before a PING
_DEAD_AFTER = 10.0  # seconds without any answer: the connection is dead
_MAX_BACKOFF = 5.0
# Anything else Redis answers (a refused AUTH, a server still loading) is retried the same way.
_LOST = (RedisError, OSError)


class RedisWire:
    """Publishes event batches on a Redis channel and delivers the other processes' ones."""

    def __init__(self, url: str, *, channel: str, deliver: Deliver, resync: Resync) -> None:
        self.channel = channel
        self.origin = uuid.uuid4().hex
        self._deliver = deliver
        self._resync = resync
        options: dict[str, Any] = {
            "socket_connect_timeout": _CONNECT_TIMEOUT,
            "socket_keepalive": True,
        }
        # Named, so an operator (or a test) can find each connection in CLIENT LIST.
        self._publisher = redis.Redis.from_url(
            url, socket_timeout=_CONNECT_TIMEOUT, client_name=f"jobgraph-pub-{channel}", **options
        )
        self._subscriber = redis.Redis.from_url(
            url, client_name=f"jobgraph-sub-{channel}", **options
        )
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._ever_subscribed = False
        self._heard_subscribe = False
        self._closed = False
        self.reconnects = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="redis-broker-listen")
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout=_CONNECT_TIMEOUT)
        except TimeoutError:
            # Serve anyway: local subscribers work, /readyz reports the broker, and the
            # listener keeps trying (with a resync once it is in).
            log.warning("Redis broker unreachable at start; retrying in the background")

    async def send(self, events: list[JobEvent]) -> None:
        for payload in encode(events, self.origin):
            await self._publisher.publish(self.channel, payload)

    async def healthy(self) -> bool:
        if not self._subscribed.is_set():
            return False
        try:
            return bool(await asyncio.wait_for(self._publisher.ping(), timeout=2))
        except (RedisError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for client in (self._publisher, self._subscriber):
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _listen(self) -> None:
        backoff = 0.1
        while not self._closed:
            pubsub: Any = self._subscriber.pubsub()
            self._heard_subscribe = False
            try:
                await pubsub.subscribe(self.channel)
                await self._receive(pubsub)
            except _LOST as error:
                self._subscribed.clear()
                log.warning("Redis broker connection lost (%s); reconnecting", error)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            if self._heard_subscribe:
                backoff = 0.1  # it worked for a while: start the backoff over
            await asyncio.sleep(backoff * (0.5 + random.random()))  # noqa: S311 (jitter)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _receive(self, pubsub: Any) -> None:
        heard = time.monotonic()
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=1.0)
            now = time.monotonic()
            if message is None:
                if now - heard > _DEAD_AFTER:
                    raise RedisConnectionError("no answer to PING")
                if now - heard > _PING_EVERY and not pinged:
                    await pubsub.ping()
                    pinged = True
                continue
            heard, pinged = now, False
            kind = message["type"]
            if kind == "message":
                await self._on_message(message["data"])
            elif kind == "subscribe":
                # Also seen when redis-py reconnected and resubscribed on its own: either way
                # whatever was published meanwhile never reached us.
                self._subscribed.set()
                self._heard_subscribe = True
                if self._ever_subscribed:
                    self.reconnects += 1
                    log.info("Redis broker subscribed again; resyncing")
                    await self._resync()
                self._ever_subscribed = True

    async def _on_message(self, data: bytes | str) -> None:
        try:
            origin, events = decode(data)
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed message on %s", self.channel)
            return
        if origin == self.origin:
            return
        for event in events:
            await self._deliver(event)


class RedisBroker(RelayBroker):
    """A :class:`~live.broker.Broker` whose events reach every process on one Redis channel."""

    def __init__(
        self,
        url: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        max_queue: int,
        window: float = DEFAULT_WINDOW,
    ) -> None:
        super().__init__(max_queue=max_queue, window=window)
        self.wire = self._wire = RedisWire(
            url, channel=channel, deliver=self._from_peer, resync=self._resync
        )
