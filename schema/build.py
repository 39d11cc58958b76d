"""Schema assembly: root types plus extensions, registered as classes (new ones per operation)."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import ExecutionContext

from schema.auth import ApiKeyAuth
from schema.errors import label_errors
from schema.metrics import OperationMetrics
from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription


class JobgraphSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        label_errors(errors)


def build_schema(**_: Any) -> JobgraphSchema:
    return JobgraphSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Order matters: authentication wraps everything, so nothing runs without a key.
        # Metrics come after it: Strawberry does not unwind hooks entered before one that
        # refuses, so refused requests are counted by the HTTP metric (status 401) instead.
        extensions=[ApiKeyAuth, OperationMetrics, ParserCache, ValidationCache],
    )
