"""The fast read path answers exactly like the DataLoader path, on every backend.

job(id) reads the job, its items and its tail in one snapshot when the query selects them
(engine.lookahead); the statements are prebuilt (engine.sql) and, on SQLite, run on
the driver over one reused read connection. These tests pin what that must not change.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from functools import partial

import pytest
from sqlalchemy import bindparam, select

from engine.sql import Query
from storage.coltypes import utcnow
from storage.logs import append_lines
from storage.records import Allowance, TailRequest, TailText
from storage.store import Store
from storage.tables import jobs
from tests.conftest import GraphQLRunner
from tests.factories import make_job

ALLOWANCE = Allowance(lines=50_000, bytes=8 * 1024 * 1024)
FIELDS = "id status createdAt finishedAt items { position code url status } logTail"


async def test_fragments_inline_fragments_and_plain_selection_agree(
    gql: GraphQLRunner, store: Store
) -> None:
    job = await make_job(store, items=2, lines=4)
    plain = await gql(f'{{ job(id: "{job.id}", tail: 2) {{ {FIELDS} }} }}')
    spread = await gql(
        f'query {{ job(id: "{job.id}", tail: 2) {{ ...J }} }} fragment J on Job {{ {FIELDS} }}'
    )
    inline = await gql(f'{{ job(id: "{job.id}", tail: 2) {{ ... on Job {{ {FIELDS} }} }} }}')
    assert plain.errors is None
    assert plain.data == spread.data == inline.data
    assert plain.data["job"]["logTail"] == "line 3\nline 4"
    assert [item["position"] for item in plain.data["job"]["items"]] == [0, 1]


@pytest.mark.parametrize("selection", ["status", "logTail", "items { code }", "logLineCount"])
async def test_partial_selections(gql: GraphQLRunner, store: Store, selection: str) -> None:
    job = await make_job(store, items=3, lines=3)
    result = await gql(f'{{ job(id: "{job.id}", tail: 1) {{ {selection} }} }}')
    assert result.errors is None
    answer = result.data["job"]
    if "logTail" in selection:
        assert answer["logTail"] == "line 3"
    if "items" in selection:
        assert len(answer["items"]) == 3


async def test_skipped_field_is_still_correct(gql: GraphQLRunner, store: Store) -> None:
    job = await make_job(store, items=1, lines=2)
    query = "query($s: Boolean!, $id: ID!) { job(id: $id) { logTail @skip(if: $s) status } }"
    variables = {"id": job.id}
    assert (await gql(query, {**variables, "s": True})).data == {"job": {"status": "PENDING"}}
    skipped = await gql(query, {**variables, "s": False})
    assert skipped.data["job"]["logTail"] == "line 1\nline 2"


async def test_aliases_with_different_tails_read_their_own(
    gql: GraphQLRunner, store: Store
) -> None:
    job = await make_job(store, items=1, lines=5)
    query = f'{{ a: job(id: "{job.id}", tail: 1) {{ logTail }} b: job(id: "{job.id}", tail: 3) {{ logTail }} }}'  # noqa: E501
    result = await gql(query)
    assert result.data == {"a": {"logTail": "line 5"}, "b": {"logTail": "line 3\nline 4\nline 5"}}


async def test_reads_see_every_committed_write(gql: GraphQLRunner, store: Store) -> None:
    # The SQLite read connection is reused: each read must open a fresh snapshot.
    job = await make_job(store, items=1, lines=1)
    query = f'{{ job(id: "{job.id}", tail: 10) {{ logTail logLineCount updatedAt }} }}'
    before = (await gql(query)).data["job"]
    later = utcnow() + timedelta(seconds=1)
    await store.db.write(partial(append_lines, job_id=job.id, lines=[(later, "WARN", "next")]))
    after = (await gql(query)).data["job"]
    assert before["logTail"] == "line 1" and before["logLineCount"] == 1
    assert after["logTail"] == "line 1\nnext" and after["logLineCount"] == 2
    assert after["updatedAt"] > before["updatedAt"]


async def test_records_carry_aware_utc_timestamps(store: Store) -> None:
    created = await make_job(store, items=1, lines=0)
    read = await store.jobs.get_job(job_id=created.id, tenant="default")
    assert read == created
    assert read.created_at.tzinfo is not None
    assert read.created_at.utcoffset() == UTC.utcoffset(None)
    snapshot = await store.jobs.get_job_snapshot(
        job_id=created.id, tenant="default", items=True, tail=TailRequest(5, ALLOWANCE)
    )
    assert snapshot is not None and snapshot.job == created
    assert snapshot.tail == TailText("", 0, 0, False)
    assert [item.position for item in snapshot.items or []] == [0]


async def test_snapshot_respects_tenant(store: Store) -> None:
    job = await make_job(store, tenant="acme", items=1, lines=0)
    assert (
        await store.jobs.get_job_snapshot(
            job_id=job.id, tenant="other", items=True, tail=TailRequest(1, ALLOWANCE)
        )
        is None
    )
    assert await store.jobs.get_job_snapshot(job_id=job.id, tenant=None, items=False, tail=None)


PAGE_NODE = "id status items { position code url status } logTail"


async def test_a_page_shows_each_job_as_job_id_does(gql: GraphQLRunner, store: Store) -> None:
    # jobs(...) reads items and tails with the page (one snapshot); job(id) reads them alone.
    for index in range(4):
        await make_job(store, items=index % 3 + 1, lines=index * 4)
    page = await gql(f"{{ jobs(first: 10, tail: 3) {{ edges {{ node {{ {PAGE_NODE} }} }} }} }}")
    assert page.errors is None
    nodes = [edge["node"] for edge in page.data["jobs"]["edges"]]
    assert len(nodes) == 4
    for node in nodes:
        alone = await gql(f'{{ job(id: "{node["id"]}", tail: 3) {{ {PAGE_NODE} }} }}')
        assert alone.data["job"] == node
    assert {node["logTail"] for node in nodes} == {
        "",
        "line 2\nline 3\nline 4",
        "line 6\nline 7\nline 8",
        "line 10\nline 11\nline 12",
    }


async def test_prebuilt_statements_expand_lists_and_convert_values(store: Store) -> None:
    jobs_made = [await make_job(store, items=1) for _ in range(3)]
    query = Query(
        select(jobs.c.id).where(
            jobs.c.id.in_(bindparam("ids", expanding=True)),
            jobs.c.created_at >= bindparam("since"),  # an aware datetime, stored as text on SQLite
        )
    )
    since = jobs_made[0].created_at
    for ids in ([jobs_made[0].id], [job.id for job in jobs_made], [jobs_made[2].id, "nope"]):
        rows = await store.db.read(partial(query.rows, params={"ids": ids, "since": since}))
        assert sorted(row[0] for row in rows) == sorted(set(ids) - {"nope"})
    later = jobs_made[2].created_at + timedelta(microseconds=1)
    everything = {"ids": [job.id for job in jobs_made], "since": later}
    assert await store.db.read(partial(query.rows, params=everything)) == []
    assert await store.db.read(partial(query.rows, params={"ids": [], "since": since})) == []
