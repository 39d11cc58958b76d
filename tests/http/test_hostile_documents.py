"""Hostile documents: whatever their shape, each is answered with a clear error (or its data)
in bounded time and memory, never by freezing the server.

The bounds asserted here are safety nets two orders of magnitude above what these documents
cost; the exponential and quadratic cases they guard against take seconds to hours.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse
from strawberry.extensions.max_aliases import count_fields_with_alias
from strawberry.extensions.query_depth_limiter import determine_depth
from strawberry.types.execution import ExecutionContext as StrawberryExecutionContext

from schema.document_shape import operation_shapes
from tests.factories import make_key
from tests.http_client import Client, app_client

GQL_RESPONSE = "application/graphql-response+json"
ME = "{ me { name } }"
# CPU seconds per request (the event loop's thread does all of it here; CPU time, unlike the
# clock, does not grow when the machine is busy), for documents that unbounded rules take
# minutes over; and a wall-clock bound that only a hang would reach.
SECONDS = 2.0
WALL_SECONDS = 30.0
PEAK_BYTES = 64 * 1024 * 1024


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/jobgraph.db"


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[Client]:
    async with app_client(database_url) as client:
        # The attack needs no more than any valid key: a worker's will do.
        client.key = await make_key(client.store, scopes="work", name="worker")
        yield client


def doubling(levels: int, leaf: str = "name") -> str:
    """``F{n}`` spreads ``F{n-1}`` twice: F{levels} expands to 2**levels copies of the leaf."""
    fragments = [f"fragment F0 on ApiKeyInfo {{ {leaf} }}"] + [
        f"fragment F{n} on ApiKeyInfo {{ ...F{n - 1} ...F{n - 1} }}" for n in range(1, levels + 1)
    ]
    return f"{{ me {{ ...F{levels} }} }} " + " ".join(fragments)


async def timed(client: Client, query: str) -> tuple[httpx.Response, float]:
    """The response and the CPU time the request took on this thread."""
    started, cpu = time.perf_counter(), time.thread_time()
    response = await client.post({"query": query}, accept=GQL_RESPONSE)
    assert time.perf_counter() - started < WALL_SECONDS
    return response, time.thread_time() - cpu


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["extensions"]["code"]
    return code


@pytest.mark.parametrize("levels", [22, 40, 60])
async def test_doubling_fragments_are_answered_at_once(client: Client, levels: int) -> None:
    query = doubling(levels)
    assert len(query) < 4000
    response, seconds = await timed(client, query)
    assert seconds < SECONDS
    # Field merging collapses the copies: the document is valid and cheap to execute.
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"me": {"name": "worker"}}


@pytest.mark.parametrize("levels", [22, 60])
async def test_doubling_aliases_are_counted_through_fragments(client: Client, levels: int) -> None:
    response, seconds = await timed(client, doubling(levels, leaf="a: name"))
    assert seconds < SECONDS
    assert response.status_code == 400 and error_code(response) == "BAD_USER_INPUT"
    found = str(2**levels) if levels < 40 else "over 1099511627776"
    assert f"{found} aliases found. Allowed: 30" in response.text


async def test_doubling_depth_is_measured_through_fragments(client: Client) -> None:
    nested = "fragment D0 on Query { me { name } } " + " ".join(
        f"fragment D{n} on Query {{ jobs {{ edges {{ node {{ id }} }} }} ...D{n - 1} ...D{n - 1} }}"
        for n in range(1, 40)
    )
    response, seconds = await timed(client, "{ ...D39 } " + nested)
    assert seconds < SECONDS
    assert response.status_code == 200  # depth 3: the copies do not add up
    deep = "fragment E0 on VideoItem { code } " + " ".join(
        f"fragment E{n} on Job {{ items {{ ...E0 }} }}" for n in range(1, 2)
    )
    chain = "{ jobs { edges { node { ...E1 } } } } " + deep
    assert (await timed(client, chain))[0].status_code == 200
    async with app_client(client.store.db.settings.database_url, max_query_depth=3) as shallow:
        response, _ = await timed(shallow, chain)
        assert response.status_code == 400 and error_code(response) == "BAD_USER_INPUT"
        assert "exceeds maximum operation depth of 3" in response.text


async def test_a_long_chain_of_fragments(client: Client) -> None:
    count = 2500  # deeper than the interpreter's recursion limit
    fragments = (
        " ".join(f"fragment C{n} on ApiKeyInfo {{ ...C{n + 1} }}" for n in range(count))
        + f" fragment C{count} on ApiKeyInfo {{ name }}"
    )
    response, seconds = await timed(client, "{ me { ...C0 } } " + fragments)
    assert seconds < SECONDS
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert error_code(response) == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    "query",
    [
        "{ me { ...A } } fragment A on ApiKeyInfo { ...A }",
        "{ me { ...A } } fragment A on ApiKeyInfo { name ...B } fragment B on ApiKeyInfo { ...A }",
        "{ me { ...A } } fragment A on ApiKeyInfo { a: name ...B ...B }"
        " fragment B on ApiKeyInfo { b: name ...A ...A }",
    ],
)
async def test_fragment_cycles(client: Client, query: str) -> None:
    response, seconds = await timed(client, query)
    assert seconds < SECONDS
    assert response.status_code == 400 and error_code(response) == "BAD_USER_INPUT"
    assert "Cannot spread fragment" in response.text


@pytest.mark.parametrize(
    "query",
    [
        "{ " + "me { name } " * 1900 + "}",
        "{ " + " ".join(f'job(id: "{n}") {{ id }}' for n in range(700)) + " }",
        "{ "
        + " ".join(f"...F{n}" for n in range(600))
        + " } "
        + " ".join(f"fragment F{n} on Query {{ me {{ name }} }}" for n in range(600)),
    ],
    ids=["same-field", "conflicting-arguments", "many-fragments"],
)
async def test_quadratic_field_merging_is_bounded(client: Client, query: str) -> None:
    response, seconds = await timed(client, query)
    assert seconds < SECONDS
    assert response.status_code == 400 and error_code(response) == "BAD_USER_INPUT"
    assert "too complex to validate" in response.text


async def test_document_bytes_are_capped_before_parsing(database_url: str) -> None:
    async with app_client(database_url, max_query_bytes=4096) as client:
        fits = "{ me { name } } #" + "x" * (4096 - 17)
        assert len(fits.encode()) == 4096
        assert (await client.post({"query": fits})).json()["data"]["me"]["name"] == "k"
        for padding in ("x", "é"):  # characters, or UTF-8 bytes, over the cap
            over = "{ me { name } } #" + padding * 4096
            response = await client.post({"query": over}, accept=GQL_RESPONSE)
            assert response.status_code == 400 and error_code(response) == "BAD_USER_INPUT"
            assert "at most 4096 are allowed" in response.text


async def test_the_default_byte_cap_fits_real_documents_and_refuses_padding(
    client: Client,
) -> None:
    # A unique comment makes every such document new to every cache keyed by text.
    comment = "{ me { name } } #" + "c" * (1024 * 1024)
    response = await client.post({"query": comment}, accept=GQL_RESPONSE)
    assert response.status_code == 400 and error_code(response) == "BAD_USER_INPUT"
    assert "131072" in response.text


@pytest.mark.parametrize(
    "fields",
    [
        " ".join(f"f{n}: 1" for n in range(2600)),  # as many as the token cap lets through
        " ".join(f'f{n}: "{"x" * 1200}"' for n in range(100)),  # as long as the byte cap lets
    ],
    ids=["many-fields", "long-values"],
)
async def test_unknown_fields_of_an_input_object_are_quoted_briefly(
    client: Client, fields: str
) -> None:
    # Each unknown field is an error quoting the object it sits in: whole, that is n errors
    # of n fields each (up to the error cap), seconds of work and megabytes of answer.
    query = f"{{ jobs(filter: {{{fields}}}) {{ totalCount }} }}"
    assert len(query.encode()) <= 131072
    response, seconds = await timed(client, query)
    assert seconds < SECONDS
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {error["extensions"]["code"] for error in errors} == {"BAD_USER_INPUT"}
    assert "not to include unknown field 'f0', found: {f0: " in errors[0]["message"]
    assert len(response.content) < 64 * 1024, len(response.content)


async def test_refused_operations_leave_nothing_behind(database_url: str) -> None:
    """A refusal raised before the operation runs (too large, a list too long, the rate
    limit) frees the request as it ends: nothing waits for a garbage collection, which a
    serving process makes rare, with its megabytes of document and variables."""
    big = "x" * 3_900_000
    # Encoded up front: the bytes the client holds on to are not the server's.
    refusals = [
        (orjson.dumps(body), code)
        for body, code in [
            ({"query": "{ me { name } } #" + big}, "BAD_USER_INPUT"),
            (
                {"query": "{ me { name } }", "variables": {"l": ["y" * 3800] * 1001}},
                "BAD_USER_INPUT",
            ),
            ({"query": "{ me { name } }", "variables": {"v": big}}, "RATE_LIMITED"),
        ]
    ]
    async with app_client(database_url, rate_limit_per_second=0.001, rate_limit_burst=9) as client:
        await client.post({"query": ME})
        headers = {
            "X-API-Key": client.key,
            "Accept": GQL_RESPONSE,
            "Content-Type": "application/json",
        }
        gc.collect()
        gc.disable()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for round_ in range(4):
                for body, code in refusals:
                    if code == "RATE_LIMITED" and round_ < 3:
                        continue  # the burst: 1 + 4 x 2 before this one
                    response = await client.http.post("/graphql", content=body, headers=headers)
                    assert error_code(response) == code, response.text
                    for _ in range(3):  # the unwound hooks' generators close on the loop
                        await asyncio.sleep(0)
            held = tracemalloc.get_traced_memory()[0] - before
            contexts = sum(type(o) is StrawberryExecutionContext for o in gc.get_objects())
        finally:
            tracemalloc.stop()
            gc.enable()
        # Each refused request carried 4 MB: ten of them stayed alive before.
        assert contexts == 0, f"{contexts} refused operations still alive"
        assert held < 8 * 1024 * 1024, held


def test_validation_memory_is_bounded() -> None:
    from schema.build import build_schema
    from schema.document_cache import validate_in_stages
    from schema.document_limits import shape_rule

    schema = build_schema()._schema
    rules = (shape_rule(12, 30), *__import__("graphql").specified_rules)
    for query in (doubling(60), doubling(60, leaf="a: name"), "{ " + "me { name } " * 1900 + "}"):
        document = parse(query)
        tracemalloc.start()
        try:
            validate_in_stages(schema, document, rules, 10_000)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < PEAK_BYTES


def _random_document(rng: random.Random) -> str:
    """A small document with fragments spreading earlier ones (no cycles), aliases and
    introspection fields, to compare the linear measure with Strawberry's walk."""
    names = ["a", "b", "c"]

    def selection(depth: int, fragments: int) -> str:
        parts = []
        for _ in range(rng.randint(1, 3)):
            choice = rng.random()
            alias = f"x{rng.randint(0, 9)}: " if rng.random() < 0.3 else ""
            if choice < 0.3 or depth > 4:
                parts.append(alias + rng.choice(names))
            elif choice < 0.55:
                parts.append(f"{alias}{rng.choice(names)} {{ {selection(depth + 1, fragments)} }}")
            elif choice < 0.7:
                parts.append(f"... on T {{ {selection(depth + 1, fragments)} }}")
            elif choice < 0.8:
                parts.append(f"__type {{ {selection(depth + 1, fragments)} }}")
            elif fragments:
                parts.append(f"...G{rng.randrange(fragments)}")
            else:
                parts.append(rng.choice(names))
        return " ".join(parts)

    count = rng.randint(0, 4)
    fragments = [f"fragment G{n} on T {{ {selection(0, n)} }}" for n in range(count)]
    operations = [f"query Q{n} {{ {selection(0, count)} }}" for n in range(rng.randint(1, 2))]
    return " ".join(operations + fragments)


def test_shapes_match_strawberrys_walk_on_random_documents() -> None:
    rng = random.Random(20261130)
    for _ in range(400):
        document = parse(_random_document(rng))
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        shapes = operation_shapes(document)
        assert [operation for operation, _ in shapes] == operations
        for operation, shape in shapes:
            assert shape.aliases == count_fields_with_alias(operation, fragments)
            expected = determine_depth(operation, fragments, 0, 1 << 30, None, "q", None)  # type: ignore[arg-type]
            assert shape.depth == expected
