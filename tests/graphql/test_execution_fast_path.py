"""The fast execution path (engine.executor) answers exactly what the stock path answers: the
same data, and the same errors with the same paths, for every shape of selection."""

from __future__ import annotations

import enum
import gc
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
import strawberry
from graphql import GraphQLEnumType
from strawberry.extensions import SchemaExtension

import engine
from engine.answers import enum_names
from engine.compat import StrawberryExecutionContext, core_schema
from engine.executor import FastExecutionContext
from engine.state import state_of
from resolvers.context import Context
from schema.build import JobgraphSchema, build_schema
from schema.document_cache import DocumentCache, DocumentStore
from settings import Settings
from storage.store import Store
from tests.conftest import principal
from tests.factories import make_job


@pytest.fixture(scope="module")
def fast_schema() -> JobgraphSchema:
    return build_schema(Settings(fast_paths=True))


@pytest.fixture(scope="module")
def reference() -> JobgraphSchema:
    """The application schema on the stock path: graphql-core's executor, Strawberry's
    resolvers (the fast paths off)."""
    return build_schema(Settings(fast_paths=False))


APP_QUERIES = [
    "{ jobs(first: 10, tail: 2) { totalCount pageInfo { hasNextPage endCursor } edges { cursor "
    "node { id status progress attempt createdAt updatedAt startedAt finishedAt error "
    "logLineCount cancelable retryable items { position platform code url status error } "
    "logTail itemCounts { total pending } } } } }",
    # aliases, duplicates, __typename, fragments of both kinds, directives
    """query Q($skip: Boolean!, $with: Boolean!) { jobs(first: 3) { edges { node {
         __typename a: id b: status id id status @skip(if: $skip) progress @include(if: $with)
         ...F ... on Job { createdAt t: __typename }
         items { __typename p: position ... on VideoItem { code url } } } } } }
       fragment F on Job { attempt error finishedAt }""",
    "{ me { name tenant scopes __typename } }",
    "query J($id: ID!) { job(id: $id, tail: 2) { id status items { code status } logTail } "
    "other: job(id: $id) { logTail logLineCount } }",
    # jobs' arguments as graphql-core coerces them: an input object of enums and datetimes
    "{ jobs(first: 3, filter: {statuses: [PENDING, RUNNING], platform: YOUTUBE, "
    'createdAfter: "2020-01-01T00:00:00Z", createdBefore: "2100-01-01T00:00:00+02:00"}) '
    "{ totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }",
    "{ jobs(filter: {statuses: []}) { totalCount } jobs2: jobs(first: 1, tail: 0) { "
    "edges { node { logTail } } } }",
]

# Refused arguments: the same errors on both paths.
APP_ERRORS = [
    "{ jobs(first: 0) { totalCount } }",
    '{ jobs(filter: {createdAfter: "2020-01-01T00:00:00"}) { totalCount } }',
    '{ jobs(filter: {createdAfter: "2030-01-01T00:00:00Z", createdBefore: "2020-01-01T00:00:00Z"}) '
    "{ totalCount } }",
    '{ jobs(first: 2, after: "not a cursor") { totalCount } }',
]


async def _run(
    schema: JobgraphSchema, store: Store, settings: Settings, query: str, job_id: str
) -> Any:
    context = Context.for_store(store, settings, principal=principal())
    variables = {"skip": True, "with": False, "id": job_id}
    used = {name: value for name, value in variables.items() if f"${name}" in query}
    result = await schema.execute(query, variable_values=used, context_value=context)
    errors = [(e.message, e.path, e.locations) for e in result.errors or []]
    return result.data, errors


@pytest.mark.parametrize("query", APP_QUERIES)
async def test_app_queries_answer_as_graphql_core_does(
    query: str,
    fast_schema: JobgraphSchema,
    reference: JobgraphSchema,
    store: Store,
    settings: Settings,
) -> None:
    jobs = [await make_job(store, items=index + 1, lines=index * 3) for index in range(4)]
    fast = await _run(fast_schema, store, settings, query, jobs[-1].id)
    slow = await _run(reference, store, settings, query, jobs[-1].id)
    assert fast[1] == [], fast[1]
    assert fast == slow


@pytest.mark.parametrize("query", APP_ERRORS)
async def test_app_errors_are_graphql_cores(
    query: str,
    fast_schema: JobgraphSchema,
    reference: JobgraphSchema,
    store: Store,
    settings: Settings,
) -> None:
    job = await make_job(store, items=1)
    fast = await _run(fast_schema, store, settings, query, job.id)
    slow = await _run(reference, store, settings, query, job.id)
    assert fast[1], "expected an error"
    assert fast == slow


class Colour(enum.Enum):
    RED = "red"


@strawberry.type
class Thing:
    name: str
    nickname: str | None
    colour: Colour
    count: int


@strawberry.type
class ToyQuery:
    @strawberry.field
    def things(self) -> list[Thing]:
        # A null in a non-null field, an enum member that isn't one, an int that isn't one.
        return [
            Thing(name="ok", nickname=None, colour=Colour.RED, count=1),
            Thing(name=None, nickname="n", colour=Colour.RED, count=2),  # type: ignore[arg-type]
            Thing(name="bad", nickname=None, colour="green", count=3),  # type: ignore[arg-type]
            Thing(name="big", nickname=None, colour=Colour.RED, count=2**40),
        ]

    @strawberry.field
    def thing(self) -> Thing | None:
        return Thing(name=None, nickname=None, colour=Colour.RED, count=0)  # type: ignore[arg-type]


@strawberry.type
class Box:
    label: str
    thing: Thing
    maybe: Thing | None
    things: list[Thing]
    tags: list[str]
    loose_tags: list[str | None] | None
    maybes: list[Thing | None] | None = None
    when: datetime | None = None


_OK = Thing(name="ok", nickname=None, colour=Colour.RED, count=1)
_NAMELESS = Thing(name=None, nickname="n", colour=Colour.RED, count=2)  # type: ignore[arg-type]


@strawberry.type
class BoxQuery:
    @strawberry.field
    def boxes(self) -> list[Box]:
        # Deep trouble: a null in a nested non-null field, a list that is a tuple, one that is
        # a generator, a null item in a non-null list, a nested object that is not one.
        def generated() -> Any:
            yield "g"

        return [
            Box(
                label="a",
                thing=_OK,
                maybe=None,
                things=[_OK],
                tags=["x"],
                loose_tags=None,
                maybes=[None, _OK, _NAMELESS],
                when=datetime(2020, 1, 1, tzinfo=UTC),
            ),
            Box(
                label="b",
                thing=_NAMELESS,
                maybe=_OK,
                things=[],
                tags=[],
                loose_tags=[None],
                maybes=[_OK],
                when=date(2020, 1, 2),  # type: ignore[arg-type]
            ),
            Box(
                label="c",
                thing=_OK,
                maybe=_NAMELESS,
                things=(_OK,),  # type: ignore[arg-type]
                tags=generated(),
                loose_tags=["y"],
                when="not a datetime",  # type: ignore[arg-type]
            ),
            Box(
                label="d",
                thing=_OK,
                maybe=None,
                things=[_OK, _NAMELESS],
                tags=["z", None],  # type: ignore[list-item]
                loose_tags=[],
            ),
            Box(label="e", thing="not a thing", maybe=_OK, things=[_OK], tags=["w"], loose_tags=[]),  # type: ignore[arg-type]
        ]


def _made(
    query: type, context_class: type[StrawberryExecutionContext], **options: Any
) -> strawberry.Schema:
    schema = strawberry.Schema(query=query, execution_context_class=context_class, **options)
    if issubclass(context_class, FastExecutionContext):
        engine.install(schema)
    return schema


def _toy(context_class: type[StrawberryExecutionContext]) -> strawberry.Schema:
    return _made(ToyQuery, context_class)


def _boxes(context_class: type[StrawberryExecutionContext]) -> strawberry.Schema:
    return _made(BoxQuery, context_class)


@pytest.mark.parametrize(
    "query",
    [
        "{ things { name nickname colour count } }",
        "{ things { count } }",
        "{ things { nickname __typename } }",
        "{ thing { nickname name } }",
    ],
)
def test_bad_values_get_graphql_cores_errors(query: str) -> None:
    _assert_same_answers(_toy, query)


def _assert_same_answers(
    make: Callable[[type[StrawberryExecutionContext]], strawberry.Schema], query: str
) -> None:
    fast = make(FastExecutionContext).execute_sync(query)
    slow = make(StrawberryExecutionContext).execute_sync(query)
    assert fast.data == slow.data
    assert [(e.message, e.path, e.locations) for e in fast.errors or []] == [
        (e.message, e.path, e.locations) for e in slow.errors or []
    ]


@pytest.mark.parametrize(
    "query",
    [
        "{ boxes { label } }",
        "{ boxes { label tags } }",
        "{ boxes { label looseTags } }",
        "{ boxes { label thing { name count } } }",
        "{ boxes { label thing { nickname colour } } }",
        "{ boxes { label maybe { name } } }",
        "{ boxes { label maybe { nickname } things { colour count } } }",
        "{ boxes { label things { name } } }",
        "{ boxes { __typename l: label thing { __typename c: count } maybe { count } } }",
        "{ boxes { label maybes { count } } }",
        "{ boxes { label maybes { name } } }",
        "{ boxes { label when } }",
    ],
)
def test_nested_answers_give_way_to_graphql_core_where_it_would_fail(query: str) -> None:
    _assert_same_answers(_boxes, query)


class _Counting(FastExecutionContext):
    executed: list[str] = []

    def execute_field(self, parent_type: Any, source: Any, details: Any, path: Any, *a: Any) -> Any:
        self.executed.append(".".join(str(key) for key in path.as_list()))
        return super().execute_field(parent_type, source, details, path, *a)


def test_only_the_failing_branch_takes_graphql_cores_path() -> None:
    schema = _made(BoxQuery, _Counting, extensions=[DocumentCache])
    for _ in range(2):  # the second time from the answers kept for the parsed document
        _Counting.executed.clear()
        result = schema.execute_sync("{ boxes { label looseTags maybe { count } } }")
        assert result.errors is None
        assert _Counting.executed == ["boxes"]
        _Counting.executed.clear()
        result = schema.execute_sync("{ boxes { label maybe { name } } }")
        assert [e.path for e in result.errors or []] == [["boxes", 2, "maybe", "name"]]
        # Box 2's maybe is re-run by graphql-core, then that one's name (its label is not).
        assert _Counting.executed == ["boxes", "boxes.2.maybe", "boxes.2.maybe.name"]


def test_a_polled_query_reuses_its_answers_and_still_reports_errors() -> None:
    schema = _made(BoxQuery, FastExecutionContext, extensions=[DocumentCache])
    query = "{ boxes { label thing { name } maybe { nickname } } }"
    first, second = schema.execute_sync(query), schema.execute_sync(query)
    assert first.data == second.data
    assert [e.path for e in first.errors or []] == [e.path for e in second.errors or []]
    assert [e.path for e in second.errors or []] == [["boxes", 1, "thing", "name"]]


def test_bad_values_are_reported_not_swallowed() -> None:
    result = _toy(FastExecutionContext).execute_sync("{ things { name } }")
    assert result.data is None
    assert result.errors is not None
    assert result.errors[0].path == ["things", 1, "name"]


def test_a_field_middleware_sees_every_field() -> None:
    seen: list[str] = []

    class Spy(SchemaExtension):
        def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(info.field_name)
            return _next(root, info, *args, **kwargs)

    schema = _made(ToyQuery, FastExecutionContext, extensions=[Spy])
    result = schema.execute_sync("{ things { nickname } }")
    assert result.errors is None
    assert seen == ["things"] + ["nickname"] * 4


def test_enum_names_are_the_serializers_answers(fast_schema: JobgraphSchema) -> None:
    enums = [
        t
        for t in core_schema(fast_schema).type_map.values()
        if isinstance(t, GraphQLEnumType) and not t.name.startswith("__")
    ]
    assert {"JobStatus", "Platform"} <= {t.name for t in enums}
    for enum_type in enums:
        names = enum_names(enum_type)
        assert names is not None, enum_type.name
        members = list(enum_type.wrapped_cls)  # type: ignore[attr-defined]
        assert len(names) == len(members)
        for member in members:
            assert names[id(member)] == enum_type.coerce_output_value(member)


async def test_answers_by_operation_live_only_as_long_as_their_documents(
    store: Store, settings: Settings
) -> None:
    """The engine's answers for an operation go with its parsed document, which the document
    cache bounds by memory: they do not keep documents the cache has let go of alive (a
    parsed document of a few kilobytes of text can take megabytes)."""
    schema = build_schema(Settings(fast_paths=True))
    schema.documents = DocumentStore(max_entries=2)
    state = state_of(core_schema(schema))
    assert state is not None
    context = Context.for_store(store, settings, principal=principal())
    for index in range(10):
        result = await schema.execute(f"query Q{index} {{ me {{ name }} }}", context_value=context)
        assert result.errors is None, result.errors
    gc.collect()
    assert len(state.operations) <= 2


@pytest.mark.parametrize("query", APP_QUERIES)
async def test_an_operation_leaves_no_reference_cycle(
    query: str, fast_schema: JobgraphSchema, store: Store, settings: Settings
) -> None:
    """A request's executor, context and result are freed as soon as it is answered: none of
    it waits for the cyclic collector (whose passes would walk all of it)."""
    job = await make_job(store, items=2, lines=3)
    await _run(fast_schema, store, settings, query, job.id)  # documents parsed, answers made
    gc.collect()
    gc.disable()
    try:
        data, errors = await _run(fast_schema, store, settings, query, job.id)
        assert errors == [] and data
        del data
        assert gc.collect() == 0
    finally:
        gc.enable()
