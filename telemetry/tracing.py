"""OpenTelemetry tracing, configured by the standard ``OTEL_*`` environment variables.

Off unless ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp`` or ``console``) or an OTLP
endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``);
``OTEL_TRACES_EXPORTER=none`` keeps it off. The SDK reads the rest itself: the service name
and resource (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``), the sampler
(``OTEL_TRACES_SAMPLER``, ``OTEL_TRACES_SAMPLER_ARG``), the exporter's endpoint, headers and
timeout. When off, nothing of it runs on a request: the middleware, the operation extension
and the statement hook are not installed at all.

What a traced request gives: a SERVER span per HTTP request or WebSocket (W3C ``traceparent``
honoured, ``server.server_spans``), a child span per GraphQL operation
(``schema.tracing``), a CLIENT span per database statement (``trace_engine`` for those that go
through SQLAlchemy, ``statement_span`` for those the fast paths run on the SQLite driver),
a span per batch of change events a subscription handles (``event_span``), never one per
field.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import Span, SpanKind, Tracer
from sqlalchemy import Engine, event

TRACER_NAME = "jobgraph"
_provider: TracerProvider | None = None
_tracer: Tracer | None = None


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for traces."""
    env = os.environ if environ is None else environ
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none" or env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    return bool(exporter) or bool(endpoint)


def configure(processor: SpanProcessor | None = None) -> TracerProvider:
    """Turn tracing on for this process: a provider with the environment's resource and
    sampler, exporting through ``processor`` (tests pass one over an in-memory exporter) or
    the exporter the environment names."""
    global _provider
    if _provider is not None:
        return _provider
    provider = TracerProvider(resource=Resource.create(), id_generator=_PresetTraceIds())
    provider.add_span_processor(processor or BatchSpanProcessor(_exporter()))
    _provider = provider
    return provider


def _exporter() -> SpanExporter:
    names = [n.strip() for n in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower().split(",")]
    if "console" in names:
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def provider() -> TracerProvider | None:
    """This process's provider, or None when tracing is off."""
    return _provider


def tracer() -> Tracer:
    # One tracer per provider: the SDK's get_tracer builds a new one (and its scope) per call.
    global _tracer
    if _provider is None:
        return trace.NoOpTracer()
    if _tracer is None:
        _tracer = _provider.get_tracer(TRACER_NAME)
    return _tracer


# The trace and span ids of a request's SERVER span whose trace the sampler dropped, for the
# length of that request (``server.server_spans``); None otherwise. The checks below run for
# every statement, and a context variable answers them sooner than the current span does; and a
# dropped span is never made current in OpenTelemetry's context at all (attaching it costs more
# than the rest of a dropped request's tracing together), so log lines take its ids from here.
_dropped: ContextVar[tuple[int, int] | None] = ContextVar("jobgraph_trace_dropped", default=None)

# The trace id the next root span is to have (``start_server_span``), or None for a random one.
_preset_trace_id: ContextVar[int | None] = ContextVar("jobgraph_preset_trace_id", default=None)


class _PresetTraceIds(RandomIdGenerator):
    """Random ids, except that a request's trace id can be chosen before its span exists: the
    sampling decision is asked first, on that id, and the span made only for a sampled trace
    gets the same id (so the decision the sampler made is the span's)."""

    def generate_trace_id(self) -> int:
        preset = _preset_trace_id.get()
        return super().generate_trace_id() if preset is None else preset


def start_server_span(name: str, parent: Context | None) -> Span | tuple[int, int]:
    """The SERVER span of a request, or, when the sampler drops its trace, that span's trace and
    span ids (for ``mark_dropped``) without building a span: the decision is the sampler's own
    (``should_sample`` on the trace id the span would get), asked before the SDK's span set-up,
    which is what most requests under a low sampling ratio would otherwise pay for nothing."""
    provider = _provider
    if provider is None:
        return trace.INVALID_SPAN
    if parent is not None:
        # The caller's trace: its sampled flag is what a parent-based sampler follows.
        span = tracer().start_span(name, context=parent, kind=SpanKind.SERVER)
        if span.is_recording():
            return span
        context = span.get_span_context()
        return context.trace_id, context.span_id
    ids = provider.id_generator
    trace_id = ids.generate_trace_id()
    decision = provider.sampler.should_sample(None, trace_id, name, SpanKind.SERVER).decision
    if decision is Decision.DROP:
        return trace_id, ids.generate_span_id()
    token = _preset_trace_id.set(trace_id)
    try:
        return tracer().start_span(name, kind=SpanKind.SERVER)
    finally:
        _preset_trace_id.reset(token)


def unsampled() -> bool:
    """Whether the current span belongs to a trace the sampler dropped. A span started under it
    would be dropped too (a parent-based sampler follows the parent; a ratio sampler decides by
    the trace id, which a child shares), so the per-statement and per-event spans skip
    building one: that is what keeps a 1 % sampler cheap on the other 99 %."""
    if _dropped.get() is not None:
        return True
    span = trace.get_current_span()
    return span.get_span_context().is_valid and not span.is_recording()


def mark_dropped(ids: tuple[int, int]) -> Token[tuple[int, int] | None]:
    """Say, for the current context, that its trace is dropped, with the ids of the dropped
    span that stands for it (``unsampled`` and ``current_ids`` answer from it);
    ``unmark_dropped`` with the token ends it."""
    return _dropped.set(ids)


def unmark_dropped(token: Token[tuple[int, int] | None]) -> None:
    _dropped.reset(token)


def shutdown() -> None:
    """Flush what is pending and turn tracing off (the end of a process, or of a test)."""
    global _provider, _tracer
    if _provider is not None:
        _provider.shutdown()
        _provider = None
        _tracer = None


def statement_span(statement: str, system: str = "sqlite") -> AbstractContextManager[None] | None:
    """A CLIENT span for one statement run on the database driver directly, shaped as the
    OpenTelemetry SQLAlchemy instrumentation shapes its own; None under a dropped trace (it
    runs for every statement, so that case makes nothing and asks the flag first)."""
    if _dropped.get() is not None or unsampled():
        return None
    return _statement_span(statement, system)


@contextmanager
def _statement_span(statement: str, system: str) -> Iterator[None]:
    operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
    attributes: dict[str, Any] = {"db.system": system, "db.statement": statement}
    with tracer().start_as_current_span(operation, kind=SpanKind.CLIENT, attributes=attributes):
        yield


@contextmanager
def event_span(field: str, job_id: str, events: int = 1) -> Iterator[None]:
    """A span for the work one batch of change events causes in a subscription (the store read
    it makes for them, whose statements are its children); nothing at all when tracing is off.
    Subscribers that share an execution share this span too."""
    if _provider is None or unsampled():
        yield
        return
    attributes: dict[str, Any] = {
        "graphql.operation.type": "subscription",
        "jobgraph.subscription.field": field,
        "jobgraph.job.id": job_id,
        "jobgraph.events": events,
    }
    with tracer().start_as_current_span("subscription event", attributes=attributes):
        yield


def trace_engine(engine: Engine) -> None:
    """A span per statement SQLAlchemy runs on ``engine`` (its cursor events, public API)."""
    system = "postgresql" if engine.dialect.name == "postgresql" else engine.dialect.name

    def before(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        manager = statement_span(statement, system) or nullcontext()
        manager.__enter__()
        conn.info.setdefault("jobgraph.spans", []).append(manager)

    def after(conn: Any, *_: Any) -> None:
        spans = conn.info.get("jobgraph.spans")
        if spans:
            spans.pop().__exit__(None, None, None)

    def failed(context: Any) -> None:
        spans = context.connection.info.get("jobgraph.spans") if context.connection else None
        if spans:
            error = context.original_exception
            spans.pop().__exit__(type(error), error, error.__traceback__)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", failed)


def current_ids() -> tuple[str, str] | None:
    """The current span's trace and span ids, as the W3C trace context writes them."""
    dropped = _dropped.get()
    if dropped is not None:
        return f"{dropped[0]:032x}", f"{dropped[1]:016x}"
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"
