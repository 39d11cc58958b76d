"""On SQLite a page of jobs is one statement answering one JSON document (storage.page_document),
run on a reader thread. It must answer exactly what the statement-per-part path answers (the one
PostgreSQL runs), for every filter, cursor and part of a page, whatever the stored text holds."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Connection, update

from domain.cursors import JobCursor
from domain.errors import Unavailable
from domain.jobs import ItemStatus, JobStatus
from domain.videos import Platform, VideoRef
from settings import Settings
from storage.coltypes import utcnow
from storage.database import Database
from storage.listing import JobListFilter, select_job_page
from storage.logs import append_lines
from storage.migrate import upgrade_to_head
from storage.records import Allowance, JobPage, TailRequest
from storage.store import Store
from storage.tables import job_items, jobs
from tests.factories import make_job

WIDEST = 16_385  # the default message cap and its newline
ROOMY = Allowance(lines=50_000, bytes=8 * 1024 * 1024)
# What log text and item errors may hold: quotes, backslashes, control characters, non-ASCII.
ODD_TEXTS = ['say "hi" \\ back', "tab\there \x01\x1f", "naïve — 日本語 🎬", "", "'single'"]


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    # The page document is part of the fast paths: this store has them on, whatever the run's.
    url = f"sqlite+aiosqlite:///{tmp_path}/pages.db"
    db = Database(Settings(database_url=url, env="test", fast_paths=True))
    await upgrade_to_head(db)
    yield Store(db)
    await db.dispose()


async def _fill(store: Store) -> list[str]:
    """Jobs in two tenants, several statuses and platforms, some with lines, errors and ties."""
    platforms = [Platform.YOUTUBE, Platform.TIKTOK, Platform.INSTAGRAM]
    ids: list[str] = []
    for index in range(14):
        refs = [
            VideoRef(Platform.YOUTUBE, f"yt{index:02d}{position}xxxxxx"[:11])
            if platforms[(index + position) % 3] is Platform.YOUTUBE
            else VideoRef(Platform.TIKTOK, f"70000000000000{index:02d}{position}")
            for position in range(1 + index % 4)
        ]
        job, _ = await store.jobs.create_job(tenant="a" if index % 5 else "b", items=refs)
        ids.append(job.id)
        lines = [
            (utcnow(), "INFO", f"{ODD_TEXTS[seq % len(ODD_TEXTS)]} #{seq}")
            for seq in range((index * 3) % 11)
        ]
        if lines:
            await store.db.write(partial(append_lines, job_id=job.id, lines=lines))

    def vary(conn: Connection) -> None:
        statuses = [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.FAILED, JobStatus.COMPLETED]
        tie = utcnow() - timedelta(hours=1)
        for index, job_id in enumerate(ids):
            values: dict[str, object] = {"status": statuses[index % 4].value}
            if index % 4 == 2:
                values["error"] = ODD_TEXTS[index % len(ODD_TEXTS)]
            if 3 <= index <= 8:
                values["created_at"] = tie  # a tie on created_at: ordered by id
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(values))
        conn.execute(
            update(job_items)
            .where(job_items.c.job_id == ids[5])
            .values(status=ItemStatus.FAILED.value, error='private "video" \\ 🚫')
        )

    await store.db.write(vary)
    return ids


async def _both(
    store: Store,
    *,
    spec: JobListFilter,
    first: int,
    after: JobCursor | None,
    count: bool,
    items: bool,
    tail: int | None,
    allowance: Allowance = ROOMY,
) -> tuple[JobPage, JobPage]:
    request = TailRequest(tail, allowance) if tail is not None else None
    document = await store.listing.job_page(
        spec=spec, first=first, after=after, count=count, items=items, tail=request
    )
    statements = await store.db.read(
        lambda conn: select_job_page(
            conn,
            spec=spec,
            first=first,
            after=after,
            count=count,
            items=items,
            tail=request,
            widest=WIDEST,
        )
    )
    return document, statements


async def test_every_part_of_a_page_agrees_with_the_statement_path(sqlite_store: Store) -> None:
    await _fill(sqlite_store)
    specs = [
        JobListFilter(tenant=None),
        JobListFilter(tenant="a"),
        JobListFilter(tenant="b"),
        JobListFilter(tenant="nobody"),
        JobListFilter(tenant="a", statuses=(JobStatus.FAILED, JobStatus.RUNNING)),
        JobListFilter(tenant=None, platform=Platform.TIKTOK),
        JobListFilter(tenant="a", created_before=utcnow() - timedelta(minutes=30)),
        JobListFilter(tenant="a", created_after=utcnow() - timedelta(minutes=30)),
    ]
    compared = 0
    for spec, first, count, items, tail in itertools.product(
        specs, (1, 4, 100), (False, True), (False, True), (None, 0, 2, 50)
    ):
        document, statements = await _both(
            sqlite_store, spec=spec, first=first, after=None, count=count, items=items, tail=tail
        )
        assert document == statements, (spec, first, count, items, tail)
        compared += len(document.jobs)
    assert compared > 500  # the pages were not all empty


async def test_tails_cut_by_a_small_allowance_agree_with_the_statement_path(
    sqlite_store: Store,
) -> None:
    """Windowed tails in the document (each job's share worked out from the page's size
    inside the statement) answer what the statement path answers with the page in hand."""
    await _fill(sqlite_store)
    truncated = 0
    for first, tail, allowance in itertools.product(
        (1, 3, 100),
        (1, 4, 50),
        (
            Allowance(0, 0),
            Allowance(7, 10**6),
            Allowance(10**6, 9),
            Allowance(40, 400),
            Allowance(10**6, 600),
        ),
    ):
        document, statements = await _both(
            sqlite_store,
            spec=JobListFilter(tenant=None),
            first=first,
            after=None,
            count=False,
            items=False,
            tail=tail,
            allowance=allowance,
        )
        assert document == statements, (first, tail, allowance)
        assert document.tails is not None
        tails = document.tails.values()
        share = allowance.share(len(document.jobs))
        assert all(t.lines <= share.lines and t.bytes <= share.bytes for t in tails)
        truncated += sum(t.truncated for t in tails)
    assert truncated > 50  # the allowances did cut


async def test_pages_walked_by_cursor_agree_and_cover_every_job(sqlite_store: Store) -> None:
    ids = await _fill(sqlite_store)
    seen: list[str] = []
    after: JobCursor | None = None
    while True:
        document, statements = await _both(
            sqlite_store,
            spec=JobListFilter(tenant=None),
            first=3,
            after=after,
            count=True,
            items=True,
            tail=3,
        )
        assert document == statements
        assert document.total_count == len(ids)
        seen += [job.id for job in document.jobs]
        if not document.has_next_page:
            break
        last = document.jobs[-1]
        after = JobCursor(created_at=last.created_at, id=last.id)
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))


async def test_odd_text_survives_the_json_document(sqlite_store: Store) -> None:
    ids = await _fill(sqlite_store)
    page = await sqlite_store.listing.job_page(
        spec=JobListFilter(tenant=None),
        first=100,
        after=None,
        count=False,
        items=True,
        tail=TailRequest(50, ROOMY),
    )
    assert page.tails is not None and page.items is not None
    tails = "\n".join(tail.text for tail in page.tails.values())
    for text in ODD_TEXTS:
        assert f"{text} #" in tails
    failed = [item for item in page.items[ids[5]] if item.status is ItemStatus.FAILED]
    assert failed and all(item.error == 'private "video" \\ 🚫' for item in failed)
    errors = {ODD_TEXTS[index % len(ODD_TEXTS)] for index in range(len(ids)) if index % 4 == 2}
    assert {job.error for job in page.jobs} - {None} == errors


async def test_single_statement_reads_run_on_a_reader_thread(sqlite_store: Store) -> None:
    db = sqlite_store.db
    loop_thread = threading.current_thread().name
    names = {await db.read_statement_off_loop(lambda _conn: threading.current_thread().name)}
    names.add(await db.read_statement_off_loop(lambda _conn: threading.current_thread().name))
    assert loop_thread not in names
    assert len(names) == 1 and names.pop().startswith("jobgraph-sqlite-read")
    await db.dispose()
    assert not [t for t in threading.enumerate() if t.name.startswith("jobgraph-sqlite-read")]


async def test_a_failing_single_statement_read_is_unavailable_and_drops_its_connection(
    sqlite_store: Store,
) -> None:
    db = sqlite_store.db
    first = await db.read_statement_off_loop(lambda conn: conn)

    def broken(_conn: Connection) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(Unavailable):
        await db.read_statement_off_loop(broken)
    assert first.closed
    assert await db.read_statement_off_loop(lambda conn: conn) is not first


async def test_a_page_is_one_snapshot_while_lines_are_appended(sqlite_store: Store) -> None:
    """Each job's tail ends exactly at the last seq its own row shows, however the appends
    interleave with the reads: the row and the tail come from one statement's snapshot."""
    job_ids = [(await make_job(sqlite_store)).id for _ in range(6)]
    written = dict.fromkeys(job_ids, 0)
    done = asyncio.Event()

    async def append() -> None:
        for round_ in range(60):
            for index, job_id in enumerate(job_ids):
                count = 1 + (round_ + index) % 4
                start = written[job_id]
                lines = [(utcnow(), "INFO", f"m{start + n + 1}") for n in range(count)]
                await sqlite_store.db.write(partial(append_lines, job_id=job_id, lines=lines))
                written[job_id] += count
        done.set()

    writer = asyncio.create_task(append())
    pages = 0
    states: set[int] = set()  # lines in the page's jobs: the reads saw the appends move on
    while not done.is_set() or pages < 5:
        page = await sqlite_store.listing.job_page(
            spec=JobListFilter(tenant=None),
            first=10,
            after=None,
            count=True,
            items=True,
            tail=TailRequest(5, ROOMY),
        )
        assert page.tails is not None
        for job in page.jobs:
            first_seq = max(1, job.last_seq - 4)
            expected = [f"m{seq}" for seq in range(first_seq, job.last_seq + 1)]
            text = page.tails[job.id].text
            assert (text.split("\n") if job.last_seq else []) == expected
        states.add(sum(job.last_seq for job in page.jobs))
        pages += 1
        await asyncio.sleep(0)
    await writer
    assert len(states) >= 10, states
