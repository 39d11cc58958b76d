"""Schema assembly: root types plus extensions, registered as classes (new ones per operation),
and the engine's fast paths when ``JOBGRAPH_FAST_PATHS`` is on."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.schema.config import StrawberryConfig

import engine
from engine.compat import EventSafeExecutionContext, PreExecutionError, bound_quoted_values
from schema.auth import ApiKeyAuth
from schema.document_cache import DocumentCache, DocumentStore
from schema.document_limits import DocumentLimits
from schema.errors import label_errors, release_tracebacks
from schema.mutation import Mutation
from schema.query import Query
from schema.rate_limit import RateLimit
from schema.response_budget import OperationBudget
from schema.scalars import SCALAR_MAP
from schema.subscription import Subscription
from schema.suggestions import strip_suggestions
from schema.tracing import OperationTracing
from settings import Settings
from telemetry import tracing


class JobgraphSchema(strawberry.Schema):
    hide_suggestions = False
    fast_paths = False
    traced = False  # an operation-tracing extension is among the observers
    documents: DocumentStore

    def get_extensions(self, sync: bool = False) -> list[SchemaExtension]:
        extensions = super().get_extensions(sync)
        if self.traced and tracing.unsampled():
            # The request's trace is dropped, so would the operation's span be: its hooks
            # need not run at all (what keeps a low sampling ratio cheap).
            return [e for e in extensions if not isinstance(e, OperationTracing)]
        return extensions

    def create_extensions_runner(self, execution_context: Any, extensions: list[Any]) -> Any:
        if self.fast_paths:
            return engine.hooks_runner(self)(
                execution_context=execution_context, extensions=extensions
            )
        return super().create_extensions_runner(execution_context, extensions)

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        results = await super().stream(*args, **kwargs)
        if not hasattr(results, "__anext__"):
            return results
        return self._refusals_answered(results)

    async def _refusals_answered(
        self, results: AsyncGenerator[Any, None]
    ) -> AsyncGenerator[Any, None]:
        """The stream, with a refusal by an extension's ``on_operation`` hook (a document too
        large, a list too long) answered as the pre-execution error it is. ``execute`` turns
        such a refusal into an error result; Strawberry's stream enters those hooks outside its
        error handling, so the exception would end the operation with a bare ``complete``
        (graphql-transport-ws), nothing at all (graphql-ws) or a broken multipart response."""
        async with contextlib.aclosing(results):
            try:
                first = await anext(results)
            except StopAsyncIteration:
                return
            except Exception as refusal:  # what ``execute`` catches, answered alike
                error = (
                    refusal
                    if isinstance(refusal, GraphQLError)
                    else GraphQLError(str(refusal), original_error=refusal)
                )
                self.process_errors([error])
                yield PreExecutionError(data=None, errors=[error])
                return
            yield first
            async for result in results:
                yield result

    def process_errors(
        self, errors: list[GraphQLError], execution_context: Any | None = None
    ) -> None:
        if self.hide_suggestions:
            strip_suggestions(errors)
        label_errors(errors)
        release_tracebacks(errors)


def build_schema(
    settings: Settings | None = None,
    *,
    observers: Sequence[type[SchemaExtension]] = (),
) -> JobgraphSchema:
    """``observers``: extensions that watch operations (the server's metrics), run after every
    extension that may refuse an operation up front — Strawberry does not unwind hooks entered
    before a refusing one, so refusals still reach them."""
    settings = settings or Settings()
    bound_quoted_values()
    production = settings.is_production
    # Order matters: authentication wraps everything, so nothing runs without a key; the
    # rate limit counts authenticated operations only.
    extensions: list[type[SchemaExtension]] = [
        ApiKeyAuth,
        OperationBudget,
        RateLimit,
        DocumentLimits,
        *observers,
        DocumentCache,
    ]
    if production:
        extensions.append(DisableIntrospection)
    fast = settings.fast_paths
    schema = JobgraphSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=production, scalar_map=SCALAR_MAP),
        execution_context_class=(
            engine.FastExecutionContext if fast else EventSafeExecutionContext
        ),
    )
    schema.hide_suggestions = production
    schema.traced = OperationTracing in observers
    schema.documents = DocumentStore()
    if fast:
        engine.install(schema)
        schema.fast_paths = True
    return schema
