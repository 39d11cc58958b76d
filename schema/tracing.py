"""The tracing schema extension: one span per GraphQL operation, a child of the request's.

Named by the operation's type (``query``, ``mutation``, ``subscription``; ``graphql`` until the
document is parsed), with the OpenTelemetry GraphQL attributes: ``graphql.operation.type``,
``graphql.operation.name`` and ``graphql.document`` — the document's shape without the values
written into it (``telemetry.documents``). Registered only when tracing is on, so it costs
nothing otherwise; the work of describing the document is skipped for unsampled spans.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from opentelemetry.trace import Status, StatusCode
from strawberry.extensions import SchemaExtension

from telemetry import tracing
from telemetry.documents import described


class OperationTracing(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        if tracing.unsampled():
            yield
            return
        with tracing.tracer().start_as_current_span("graphql") as span:
            yield
            if not span.is_recording():
                return
            context = self.execution_context
            document = context.graphql_document
            try:
                operation_type = context.operation_type.value
            except Exception:
                operation_type = None
            if operation_type is not None:
                span.update_name(operation_type)
                span.set_attribute("graphql.operation.type", operation_type)
            if context.operation_name:
                span.set_attribute("graphql.operation.name", str(context.operation_name)[:128])
            if document is not None:
                span.set_attribute("graphql.document", described(context.query, document))
            errors = context.pre_execution_errors or (
                context.result.errors if context.result is not None else None
            )
            if errors:
                codes = sorted({str((e.extensions or {}).get("code", "")) for e in errors})
                span.set_attribute("graphql.error.codes", codes)
                span.set_status(Status(StatusCode.ERROR, codes[0] if codes else None))
