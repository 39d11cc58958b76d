"""The broker's outbox: events merged per job, kind and status (highest seq wins), sent at
most once per window, the last one never dropped, failed sends retried."""

from __future__ import annotations

import asyncio

from live.coalesce import Coalescer
from storage.events import EventKind, JobEvent


def logs(job: str, seq: int, status: str = "RUNNING") -> JobEvent:
    return JobEvent(EventKind.LOGS, job, "acme", status, seq)


def changed(job: str, status: str, seq: int = 0) -> JobEvent:
    return JobEvent(EventKind.JOB, job, "acme", status, seq)


class Wire:
    def __init__(self) -> None:
        self.batches: list[list[JobEvent]] = []
        self.failures = 0

    async def send(self, events: list[JobEvent]) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("down")
        self.batches.append(events)


async def test_a_burst_leaves_as_one_event_per_job_kind_and_status() -> None:
    wire = Wire()
    outbox = Coalescer(wire.send, window=0.05)
    for seq in range(1, 1001):
        outbox.add(logs("a", seq))
        outbox.add(logs("b", seq))
    outbox.add(changed("a", "COMPLETED", 1000))
    await outbox.close()
    sent = [event for batch in wire.batches for event in batch]
    assert sorted(sent, key=lambda e: (e.job_id, e.kind)) == [
        changed("a", "COMPLETED", 1000),
        logs("a", 1000),
        logs("b", 1000),
    ]
    assert outbox.added == 2001 and outbox.sent == 3


async def test_the_first_event_leaves_at_once_and_later_ones_per_window() -> None:
    wire = Wire()
    outbox = Coalescer(wire.send, window=0.2)
    outbox.add(logs("a", 1))
    await asyncio.sleep(0.05)
    assert wire.batches == [[logs("a", 1)]]
    for seq in range(2, 50):
        outbox.add(logs("a", seq))
        await asyncio.sleep(0.001)
    assert len(wire.batches) == 1  # still inside the window
    for _ in range(100):
        if len(wire.batches) == 2:
            break
        await asyncio.sleep(0.02)
    assert wire.batches[1] == [logs("a", 49)]  # the last one is never lost
    await outbox.close()


async def test_a_lower_seq_never_replaces_a_higher_one() -> None:
    wire = Wire()
    outbox = Coalescer(wire.send, window=10)
    outbox._merge(logs("a", 9))
    outbox._merge(logs("a", 5))
    await outbox.close()
    assert wire.batches == [[logs("a", 9)]]


async def test_a_failed_send_is_retried_merged_with_newer_events() -> None:
    wire = Wire()
    wire.failures = 2
    outbox = Coalescer(wire.send, window=0.01)
    outbox.add(logs("a", 1))
    await asyncio.sleep(0.005)
    outbox.add(logs("a", 2))
    for _ in range(200):
        if wire.batches:
            break
        await asyncio.sleep(0.01)
    assert wire.batches == [[logs("a", 2)]]
    await outbox.close()


async def test_an_event_after_close_is_sent_by_the_next_close() -> None:
    wire = Wire()
    outbox = Coalescer(wire.send, window=0.01)
    await outbox.close()  # shutdown's first close: requests may still finish and publish
    outbox.add(logs("a", 3))
    await outbox.close()
    assert [event for batch in wire.batches for event in batch] == [logs("a", 3)]
