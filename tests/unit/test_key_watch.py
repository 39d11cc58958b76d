"""The watch behind revocation (server.key_watch), with a stand-in for the key store: one
batched read per interval, revoked keys' connections ended, an unreadable database survived,
sockets per key counted."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any, cast

from domain.errors import Unavailable
from server.key_watch import KeyWatch
from storage.store import Store


class Keys:
    def __init__(self, active: set[str]) -> None:
        self.active = active
        self.reads: list[set[str]] = []
        self.failing = False

    async def active_among(self, key_ids: Collection[str]) -> set[str]:
        if self.failing:
            raise Unavailable("the database is unreachable")
        self.reads.append(set(key_ids))
        return self.active & set(key_ids)


class Conn:
    def __init__(self) -> None:
        self.ended = asyncio.Event()

    async def end(self) -> None:
        self.ended.set()


def watch_with(keys: Keys, interval: float = 0.02) -> KeyWatch:
    watch = KeyWatch(interval=interval, max_sockets_per_key=2)
    fake: Any = type("FakeStore", (), {"keys": keys})()
    watch.store = cast(Store, fake)
    return watch


async def test_revoked_keys_connections_end_after_one_batched_read() -> None:
    keys = Keys({"a", "b"})
    watch = watch_with(keys)
    a1, a2, b = Conn(), Conn(), Conn()
    watch.watch("a", a1)
    watch.watch("a", a2)
    watch.watch("b", b)
    await asyncio.sleep(0.05)
    assert keys.reads and keys.reads[-1] == {"a", "b"}  # one read for every key
    keys.active.discard("a")
    async with asyncio.timeout(2):
        await a1.ended.wait()
        await a2.ended.wait()
    assert not b.ended.is_set()
    assert watch.watched_count == 1
    await watch.close()


async def test_an_unreadable_database_ends_nothing_and_the_watch_goes_on() -> None:
    keys = Keys({"a"})
    watch = watch_with(keys)
    conn = Conn()
    watch.watch("a", conn)
    keys.failing = True
    await asyncio.sleep(0.1)
    assert not conn.ended.is_set()
    keys.failing = False
    keys.active.clear()
    async with asyncio.timeout(2):
        await conn.ended.wait()
    await watch.close()


async def test_the_watch_idles_when_nothing_is_open_and_wakes_again() -> None:
    keys = Keys({"a"})
    watch = watch_with(keys)
    conn = Conn()
    watch.watch("a", conn)
    watch.unwatch("a", conn)
    await asyncio.sleep(0.1)
    reads = len(keys.reads)
    await asyncio.sleep(0.1)
    assert len(keys.reads) == reads  # no statement while nothing is open
    again = Conn()
    watch.watch("a", again)
    keys.active.clear()
    async with asyncio.timeout(2):
        await again.ended.wait()
    await watch.close()


def test_sockets_per_key_are_capped_and_given_back() -> None:
    watch = KeyWatch(interval=1, max_sockets_per_key=2)
    assert [watch.reserve_socket("a") for _ in range(3)] == [True, True, False]
    assert watch.reserve_socket("b")
    watch.release_socket("a")
    assert watch.sockets_of("a") == 1 and watch.reserve_socket("a")
    unlimited = KeyWatch(interval=1, max_sockets_per_key=0)
    assert all(unlimited.reserve_socket("a") for _ in range(1000))
