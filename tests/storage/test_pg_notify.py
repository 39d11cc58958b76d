"""The LISTEN/NOTIFY wire between processes (PostgreSQL only): events arrive in order at every
other notifier on the database, a notifier skips its own, and a lost LISTEN connection comes
back with a resync."""

from __future__ import annotations

import asyncio

import asyncpg

from live.pg_notify import (
    LISTENER_NAME,
    PAYLOAD_LIMIT,
    PgNotifier,
    asyncpg_dsn,
    decode,
    encode,
)
from storage.events import EventKind, JobEvent


def event(seq: int) -> JobEvent:
    return JobEvent(EventKind.LOGS, "00000000-0000-0000-0000-000000000001", "acme", "RUNNING", seq)


def test_round_trip() -> None:
    (payload,) = encode([event(7), event(8)], "me")
    assert decode(payload) == ("me", [event(7), event(8)])


def test_a_big_batch_splits_into_payloads_under_the_limit() -> None:
    events = [event(seq) for seq in range(1, 501)]
    payloads = encode(events, "me")
    assert len(payloads) > 1
    assert all(len(payload.encode()) <= PAYLOAD_LIMIT for payload in payloads)
    assert [item for payload in payloads for item in decode(payload)[1]] == events


async def test_other_processes_receive_in_order(pg_database: str) -> None:
    dsn = asyncpg_dsn(pg_database)
    received: dict[str, list[int]] = {"a": [], "b": []}
    done = asyncio.Event()

    def collector(name: str):
        async def deliver(item: JobEvent) -> None:
            received[name].append(item.last_seq)
            if len(received["b"]) == 50:
                done.set()

        return deliver

    a = PgNotifier(dsn, deliver=collector("a"))
    b = PgNotifier(dsn, deliver=collector("b"))
    await a.start()
    await b.start()
    try:
        for seq in range(1, 51):
            await a.notify(event(seq))
        await asyncio.wait_for(done.wait(), timeout=10)
        assert received["b"] == list(range(1, 51))
        assert received["a"] == []  # its own notifications are skipped
    finally:
        await a.close()
        await b.close()


async def test_listener_reconnects_and_resyncs(pg_database: str) -> None:
    dsn = asyncpg_dsn(pg_database)
    resynced = asyncio.Event()
    got: list[int] = []

    async def resync() -> None:
        resynced.set()

    async def deliver(item: JobEvent) -> None:
        got.append(item.last_seq)

    listener = PgNotifier(dsn, deliver=deliver, resync=resync)
    sender = PgNotifier(dsn, deliver=deliver)
    await listener.start()
    try:
        admin = await asyncpg.connect(dsn)
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1 AND datname = current_database()",
            LISTENER_NAME,
        )
        await admin.close()
        await asyncio.wait_for(resynced.wait(), timeout=10)
        await sender.notify(event(99))
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.05)
        assert got == [99]
    finally:
        await listener.close()
        await sender.close()
