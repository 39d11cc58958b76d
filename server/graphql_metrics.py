"""The metrics schema extension: counts every operation by type, name and outcome, times
queries and mutations, and keeps the active-subscriptions gauge (a subscription's operation
spans its whole stream)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Iterator

from graphql import FieldNode, GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from domain.errors import AppError
from resolvers.context import Context
from server.http_operations import CLIENT_ERRORS
from server.metrics import Metrics, metrics_of
from server.request_context import note_operation

log = logging.getLogger("jobgraph.graphql")
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")


def sane_name(name: object) -> str:
    # operationName comes from the request body as is: it may be any JSON value.
    return name if isinstance(name, str) and _NAME.fullmatch(name) else "invalid"


def error_code(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return code
    original = error.original_error
    if isinstance(original, AppError):
        return original.code
    if original is None or isinstance(original, GraphQLError):
        return "BAD_USER_INPUT"  # parse, validation or coercion errors
    return "INTERNAL_SERVER_ERROR"


class OperationMetrics(SchemaExtension):
    """Counts authenticated operations (refused ones show as HTTP 401 in the HTTP metric)."""

    def _metrics(self) -> Metrics | None:
        context = self.execution_context.context
        if isinstance(context, Context) and context.request is not None:
            return metrics_of(context.request)
        return None

    # Type and name are read from the document once, when it exists (both hooks need them).
    _type: str | None = None
    _name: str | None = None

    def _operation_type(self) -> str:
        if self._type is None:
            try:
                self._type = self.execution_context.operation_type.value
            except (RuntimeError, AssertionError, AttributeError):  # no document: refused early
                return "unknown"
        return self._type

    def _operation_name(self) -> str:
        if self._name is None:
            context = self.execution_context
            if context.operation_name:
                self._name = sane_name(context.operation_name)
            else:
                fields = list(_root_fields(context.graphql_document))
                # Anonymous operations (most curl users) are named by their root fields: "job".
                joined = "_".join(sorted(set(fields)))[:64]
                self._name = sane_name(joined) if fields else "anonymous"
        return self._name

    def _outcome(self) -> str:
        result = self.execution_context.result
        errors = (result.errors if result is not None else None) or (
            self.execution_context.pre_execution_errors or []
        )
        return error_code(errors[0]) if errors else "ok"

    async def on_operation(self) -> AsyncIterator[None]:
        started = time.perf_counter()
        self._subscribed = False
        outcome: str | None = None
        try:
            yield
        except AppError as error:
            outcome = error.code
            raise
        except CLIENT_ERRORS:
            # An operation the transport does not run (a mutation over GET, a subscription
            # without a stream) or cannot pick: the client's error, answered as a 4xx.
            outcome = "BAD_USER_INPUT"
            raise
        except Exception:
            outcome = "INTERNAL_SERVER_ERROR"
            raise
        finally:
            self._record(started, outcome)

    def on_execute(self) -> Iterator[None]:
        # The operation type is known from here on; a subscription streams until on_operation
        # ends, so the gauge goes up here and down there.
        note_operation(self._operation_name())
        if self._operation_type() == OperationType.SUBSCRIPTION.value:
            metrics = self._metrics()
            if metrics is not None:
                metrics.subscription_opened()
                self._subscribed = True
        yield

    def _record(self, started: float, outcome: str | None) -> None:
        seconds = time.perf_counter() - started
        operation_type = self._operation_type()
        streaming = operation_type == OperationType.SUBSCRIPTION.value
        name = self._operation_name()
        outcome = outcome or self._outcome()
        note_operation(name)
        metrics = self._metrics()
        if metrics is not None:
            if self._subscribed:
                metrics.subscription_closed()
            metrics.observe_operation(
                operation_type=operation_type,
                operation_name=name,
                outcome=outcome,
                # A subscription's lifetime is not a latency: it is counted, not timed.
                seconds=None if streaming else seconds,
            )
        level = logging.INFO if streaming else logging.DEBUG
        if not log.isEnabledFor(level):
            return
        log.log(
            level,
            "graphql %s %s %s",
            operation_type,
            name,
            outcome,
            extra={
                "operation_type": operation_type,
                "outcome": outcome,
                "duration_ms": round(seconds * 1000, 3),
            },
        )


def _root_fields(document: object) -> Iterator[str]:
    definitions = getattr(document, "definitions", None) or ()
    for definition in definitions:
        if isinstance(definition, OperationDefinitionNode):
            for selection in definition.selection_set.selections:
                if isinstance(selection, FieldNode):
                    yield selection.name.value
            return
