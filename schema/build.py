"""Schema assembly: root types plus extensions, registered as classes (new ones per operation)."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, ParserCache
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext

from schema.auth import ApiKeyAuth
from schema.direct_resolvers import use_direct_resolvers
from schema.document_limits import DocumentLimits
from schema.errors import label_errors
from schema.execution import FastPathExecutionContext
from schema.extension_runner import CachedHooksRunner
from schema.metrics import OperationMetrics
from schema.mutation import Mutation
from schema.query import Query
from schema.rate_limit import RateLimit
from schema.subscription import Subscription
from schema.suggestions import strip_suggestions
from schema.validation_cache import TextValidationCache
from settings import Settings


class JobgraphSchema(strawberry.Schema):
    hide_suggestions = False

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return CachedHooksRunner(execution_context=execution_context, extensions=extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        if self.hide_suggestions:
            strip_suggestions(errors)
        label_errors(errors)


def build_schema(
    settings: Settings | None = None, *, direct_resolvers: bool = True
) -> JobgraphSchema:
    """``direct_resolvers=False`` keeps Strawberry's resolver wrappers on every field (and
    graphql-core's plain executor): the reference the fast paths are tested against."""
    production = settings is not None and settings.is_production
    # Order matters: authentication wraps everything, so nothing runs without a key; the
    # rate limit counts authenticated operations only.
    extensions: list[type[SchemaExtension]] = [
        ApiKeyAuth,
        RateLimit,
        DocumentLimits,
        # After every extension that may refuse an operation up front: Strawberry does not
        # unwind hooks entered before a refusing one, so refusals count in the HTTP metric.
        OperationMetrics,
        ParserCache,
        TextValidationCache,
    ]
    if production:
        extensions.append(DisableIntrospection)
    schema = JobgraphSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=production),
        execution_context_class=(
            FastPathExecutionContext if direct_resolvers else StrawberryGraphQLCoreExecutionContext
        ),
    )
    schema.hide_suggestions = production
    if direct_resolvers:
        use_direct_resolvers(schema)
    return schema
