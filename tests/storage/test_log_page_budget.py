"""Log pages within an allowance (storage.listing.select_log_page): whichever way a page is
read (plain, windowed, windowed after a first look), it is the reference's: the lines of the
range in its direction that fit, oldest first, and hasMore when the range holds more."""

from __future__ import annotations

import random
from functools import partial

from storage.coltypes import utcnow
from storage.listing import LogPageRecord, select_log_page
from storage.logs import append_lines
from storage.records import Allowance
from storage.store import Store
from tests.factories import make_job


def reference(
    messages: list[str],
    *,
    after: int | None,
    before: int | None,
    limit: int,
    backward: bool,
    allowance: Allowance,
) -> tuple[list[int], bool, int]:
    seqs = [
        seq
        for seq in range(1, len(messages) + 1)
        if (after is None or seq > after) and (before is None or seq < before)
    ]
    if backward:
        seqs.reverse()
    kept: list[int] = []
    spent = 0
    for seq in seqs:
        cost = len(messages[seq - 1].encode()) + 1
        if len(kept) == min(limit, allowance.lines) or spent + cost > allowance.bytes:
            break
        kept.append(seq)
        spent += cost
    has_more = len(kept) < len(seqs)
    return sorted(kept), has_more, spent


def shown(page: LogPageRecord) -> tuple[list[int], bool, int]:
    return [line.seq for line in page.lines], page.has_more, page.bytes


async def test_pages_within_an_allowance_match_the_reference(store: Store) -> None:
    rng = random.Random(29)
    alphabet = ["a", "é", "日", "🎬", "\n", "\\", '"']
    messages = [
        "".join(rng.choices(alphabet, k=rng.choice([0, 1, 5, 60, 400]))) for _ in range(300)
    ]
    job = await make_job(store, items=1)
    lines = [(utcnow(), "INFO", message) for message in messages]
    await store.db.write(partial(append_lines, job_id=job.id, lines=lines))
    for _ in range(60):
        after = rng.choice([None, 0, 10, 150])
        before = rng.choice([None, 200, 301])
        limit = rng.choice([1, 10, 64, 65, 100, 300])
        backward = rng.random() < 0.5
        allowance = Allowance(lines=rng.randrange(0, 400), bytes=rng.randrange(0, 60_000))
        for widest in (1, 10**6):  # plain where it is exact, windowed otherwise
            page = await store.db.read(
                partial(
                    select_log_page,
                    job_id=job.id,
                    after=after,
                    before=before,
                    limit=limit,
                    backward=backward,
                    allowance=allowance,
                    widest=widest,
                )
            )
            expected = reference(
                messages,
                after=after,
                before=before,
                limit=limit,
                backward=backward,
                allowance=allowance,
            )
            assert shown(page) == expected, (after, before, limit, backward, allowance, widest)
            assert [line.message for line in page.lines] == [
                messages[seq - 1] for seq in expected[0]
            ]
