"""appendLogs reads its lines from graphql-core's coerced arguments, without a second pass.

graphql-core coerces and checks every line of the ``lines`` variable (types, required fields,
unknown fields) before any resolver runs. Strawberry then converts the list once more, element
by element, through its generic argument conversion: a type dispatch per line that cost ~30 % of
a 500-line request's event-loop time (py-spy), for values that are already right. So the
field's graphql-core resolver is replaced by one that builds the ``LogLineInput`` objects
directly and calls the same resolver function. The Strawberry definition of the field stays
what the schema, its SDL and its documentation are made from; errors, field middleware and the
extensions run as for any other field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import GraphQLResolveInfo
from strawberry import Schema

from resolvers import lifecycle
from schema.context import Context
from schema.lifecycle_types import log_line_from_coerced


async def _append_logs(
    _root: Any,
    info: GraphQLResolveInfo[Context],
    *,
    # graphql-core passes the arguments by their GraphQL names.
    jobId: str,
    workerId: str,
    lines: list[Mapping[str, Any]],
) -> int:
    return await lifecycle.append_logs(
        info.context,
        job_id=jobId,
        worker_id=workerId,
        lines=[log_line_from_coerced(line) for line in lines],
    )


def read_coerced_lines(schema: Schema) -> None:
    """Point ``Mutation.appendLogs`` at the resolver above."""
    mutation = schema._schema.mutation_type
    assert mutation is not None
    field = mutation.fields["appendLogs"]
    assert set(field.args) == {"jobId", "workerId", "lines"}, "appendLogs changed: update this"
    field.resolve = _append_logs
