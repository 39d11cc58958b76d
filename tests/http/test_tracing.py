"""OpenTelemetry traces, captured by an in-memory exporter: a SERVER span per request joined to
the caller's trace, a span per GraphQL operation with the GraphQL attributes and no literal
values, a span per database statement under it, and trace ids in the JSON log lines."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from graphql import parse
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, set_span_in_context

import engine.sql
from app import create_app
from schema.build import build_schema
from schema.tracing import OperationTracing
from server.json_logs import JsonFormatter
from settings import Settings
from telemetry import tracing
from telemetry.documents import described
from tests.factories import make_job, make_key

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
SECRET = "a-very-private-value-8c1d"  # typed into documents: must never reach a span


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure(SimpleSpanProcessor(exporter))
    yield exporter
    tracing.shutdown()
    engine.sql.observe = None


@pytest.fixture
async def client(
    spans: InMemorySpanExporter, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    settings = Settings(database_url=database_url, env="test")
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        key = await make_key(application.state.store)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://jobgraph.test") as http:
            yield http, key


def _by_name(spans: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in spans.get_finished_spans():
        found.setdefault(span.name, []).append(span)
    return found


async def test_a_request_is_one_trace_joined_to_the_callers(
    client: tuple[httpx.AsyncClient, str], spans: InMemorySpanExporter
) -> None:
    http, key = client
    job = await make_job(http._transport.app.state.store, lines=3)  # type: ignore[attr-defined]
    spans.clear()
    response = await http.post(
        "/graphql",
        json={
            "query": f'query Read {{ job(id: "{job.id}", tail: 2) {{ status logTail }} }}',
        },
        headers={"X-API-Key": key, "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
    )
    assert response.json()["data"]["job"]["logTail"] == "line 2\nline 3"
    # Background work (the lease sweeper's statements) may trace in between: its own traces.
    finished = [
        s for s in spans.get_finished_spans() if format(s.context.trace_id, "032x") == TRACE_ID
    ]
    server = [s for s in finished if s.kind is SpanKind.SERVER]
    assert len(server) == 1 and format(server[0].parent.span_id, "016x") == PARENT_ID  # type: ignore[union-attr]
    operation = _by_name(spans)["query"]
    assert len(operation) == 1
    attributes = operation[0].attributes or {}
    assert attributes["graphql.operation.type"] == "query"
    assert attributes["graphql.operation.name"] == "Read"
    assert (
        attributes["graphql.document"] == 'query Read { job(id: "", tail: 0) { status logTail } }'
    )
    # The operation's statements are its children: one span each, none per field.
    statements = [s for s in finished if s.kind is SpanKind.CLIENT and s.parent is not None]
    under_operation = [s for s in statements if s.parent.span_id == operation[0].context.span_id]  # type: ignore[union-attr]
    assert under_operation, [s.name for s in finished]
    assert all(s.attributes and "db.statement" in s.attributes for s in under_operation)
    assert not [s for s in finished if s.name in ("status", "logTail", "job")]


async def test_no_literal_value_reaches_a_span(
    client: tuple[httpx.AsyncClient, str], spans: InMemorySpanExporter
) -> None:
    http, key = client
    mutation = (
        "mutation { createJob(input: {items: [{url: "
        f'"https://youtu.be/dQw4w9WgXcQ?si={SECRET}"}}], idempotencyKey: "{SECRET}"}}) {{ id }} }}'
    )
    response = await http.post("/graphql", json={"query": mutation}, headers={"X-API-Key": key})
    assert "errors" not in response.json(), response.text
    finished = spans.get_finished_spans()
    assert _by_name(spans)["mutation"], [s.name for s in finished]
    for span in finished:
        for name, value in (span.attributes or {}).items():
            assert SECRET not in str(value), (span.name, name)
        for event in span.events:
            assert SECRET not in str(event.attributes), span.name


async def test_refused_operations_are_traced_with_their_code(
    client: tuple[httpx.AsyncClient, str], spans: InMemorySpanExporter
) -> None:
    http, key = client
    await http.post("/graphql", json={"query": "{ nope }"}, headers={"X-API-Key": key})
    (operation,) = _by_name(spans)["query"]
    assert (operation.attributes or {})["graphql.error.codes"] == ("BAD_USER_INPUT",)
    assert not operation.status.is_ok


async def test_json_log_lines_carry_the_trace(
    client: tuple[httpx.AsyncClient, str], spans: InMemorySpanExporter
) -> None:
    http, key = client
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(JsonFormatter().format(record))

    handler = Keep()
    access = logging.getLogger("jobgraph.access")
    access.addHandler(handler)
    previous = access.level
    access.setLevel(logging.INFO)
    try:
        await http.post(
            "/graphql",
            json={"query": "{ me { name } }"},
            headers={"X-API-Key": key, "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
        )
    finally:
        access.removeHandler(handler)
        access.setLevel(previous)
    assert lines, "no access log line"
    line = json.loads(lines[-1])
    assert line["trace_id"] == TRACE_ID and len(line["span_id"]) == 16


def test_tracing_is_off_unless_the_environment_asks() -> None:
    assert not tracing.wanted({})
    assert not tracing.wanted({"OTEL_SERVICE_NAME": "jobgraph"})
    assert not tracing.wanted({"OTEL_TRACES_EXPORTER": "none"})
    assert not tracing.wanted({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"})
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "otlp"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})


def test_an_untraced_app_installs_nothing(tmp_path: Path) -> None:
    assert tracing.provider() is None
    application = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db"))
    names = [m.cls.__name__ for m in application.user_middleware]  # type: ignore[attr-defined]
    assert "ServerSpanMiddleware" not in names
    assert engine.sql.observe is None


async def test_a_trace_the_caller_dropped_builds_no_span(
    client: tuple[httpx.AsyncClient, str], spans: InMemorySpanExporter
) -> None:
    http, key = client
    job = await make_job(http._transport.app.state.store, lines=3)  # type: ignore[attr-defined]
    spans.clear()
    response = await http.post(
        "/graphql",
        json={"query": f'{{ job(id: "{job.id}", tail: 2) {{ status logTail }} }}'},
        # Flags 00: the caller did not sample this trace; the parent-based sampler follows it.
        headers={"X-API-Key": key, "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"},
    )
    assert response.json()["data"]["job"]["logTail"] == "line 2\nline 3"
    assert [
        s.name for s in spans.get_finished_spans() if format(s.context.trace_id, "032x") == TRACE_ID
    ] == []


def test_a_dropped_trace_runs_no_operation_span_hooks(spans: InMemorySpanExporter) -> None:
    schema = build_schema(Settings(env="test"), observers=[OperationTracing])
    dropped = NonRecordingSpan(
        SpanContext(int(TRACE_ID, 16), int(PARENT_ID, 16), is_remote=True)  # not sampled
    )
    token = otel_context.attach(set_span_in_context(dropped))
    try:
        assert not any(isinstance(e, OperationTracing) for e in schema.get_extensions())
    finally:
        otel_context.detach(token)
    with tracing.tracer().start_as_current_span("sampled"):
        assert any(isinstance(e, OperationTracing) for e in schema.get_extensions())


def test_a_document_is_described_once_per_text() -> None:
    text = f'{{ job(id: "{SECRET}") {{ status }} }}'
    first = described(text, parse(text))
    assert SECRET not in first
    assert described(text, parse("{ other }")) == first  # remembered by its text
    big = "{ jobs { edges { node { id } } } }" + " " * 9000
    assert described(big, parse(big)) == "{ jobs { edges { node { id } } } }"


@pytest.fixture
def half_sampled(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing with the ratio sampler at 0.5, as ``OTEL_TRACES_SAMPLER`` sets it."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.5")
    exporter = InMemorySpanExporter()
    tracing.configure(SimpleSpanProcessor(exporter))
    yield exporter
    tracing.shutdown()
    engine.sql.observe = None


async def test_a_ratio_sampler_keeps_its_ratio_and_its_own_decision(
    half_sampled: InMemorySpanExporter, database_url: str
) -> None:
    """The request's sampling decision is asked before its span exists; the span made for a
    sampled trace must carry the trace id that decision was made on (a second, independent
    draw would sample a quarter of the requests instead of half)."""
    settings = Settings(database_url=database_url, env="test")
    application = create_app(settings)
    lines: list[dict[str, str]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(JsonFormatter().format(record)))

    access = logging.getLogger("jobgraph.access")
    handler, previous = Keep(), access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        async with application.router.lifespan_context(application):
            key = await make_key(application.state.store)
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                half_sampled.clear()
                for _ in range(400):
                    response = await http.post(
                        "/graphql", json={"query": "{ me { name } }"}, headers={"X-API-Key": key}
                    )
                    assert response.status_code == 200
    finally:
        access.removeHandler(handler)
        access.setLevel(previous)
    sampler = tracing.provider().sampler  # type: ignore[union-attr]
    server = [s for s in half_sampled.get_finished_spans() if s.kind is SpanKind.SERVER]
    # 400 fair draws: 200 expected, 5 standard deviations either side.
    assert 150 <= len(server) <= 250, len(server)
    for span in server:
        decision = sampler.should_sample(None, span.context.trace_id, span.name).decision
        assert decision.is_sampled(), f"{span.context.trace_id:032x}"
        assert span.parent is None and span.context.trace_flags.sampled
    # Every request's log line carries its trace: the recorded ones' ids, and for a dropped
    # one the ids its SERVER span would have had (a trace no span of which was exported).
    recorded = {(f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}") for s in server}
    logged = [(line["trace_id"], line["span_id"]) for line in lines]
    assert len(logged) == 400 and len(set(logged)) == 400
    assert recorded <= set(logged)
    for trace_id, span_id in set(logged) - recorded:
        assert len(trace_id) == 32 and len(span_id) == 16
        decision = sampler.should_sample(None, int(trace_id, 16), "POST /graphql").decision
        assert not decision.is_sampled(), trace_id
