"""The hottest fields, resolved by graphql-core calling the resolver function directly.

Strawberry wraps every resolver: it builds its ``Info``, converts each argument through a
generic type dispatch and chains the field extensions. For the fields below that costs more
than the work itself — ``Job.items`` and ``Job.logTail`` run 50 times in a page of jobs, and
``appendLogs`` converted a 500-line list element by element after graphql-core had already
coerced and checked it (~30 % of such a request, py-spy). So their graphql-core resolvers are
replaced by the same one-line delegations, taking graphql-core's coerced arguments as they
come. The Strawberry definitions stay what the schema, its SDL and its documentation are made
from; errors, field middleware and the schema extensions run as for any other field, and
``tests/test_execution_fast_path.py`` checks the answers against Strawberry's own resolvers.
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from graphql import GraphQLField, GraphQLObjectType, GraphQLResolveInfo
from strawberry import Schema

from resolvers import jobs as job_resolvers
from resolvers import lifecycle
from resolvers.lookahead import selected_names
from schema.context import Context
from schema.lifecycle_types import log_line_from_coerced
from schema.projection import SYNC_VALUE
from schema.record_fields import plain_record_path
from schema.types import Job, VideoItem

Info = GraphQLResolveInfo[Context]

# graphql-core passes the arguments by their GraphQL names.


async def _job(_root: None, info: Info, *, id: str, tail: int | None = None) -> Job | None:
    return await job_resolvers.job(info.context, id=id, tail=tail, selected=selected_names(info))


def _job_items(job: Job, info: Info) -> list[VideoItem] | Awaitable[list[VideoItem]]:
    return job.items_of(info.context)


def _job_log_tail(job: Job, info: Info) -> str | Awaitable[str]:
    return job.log_tail_of(info.context)


async def _append_logs(
    _root: None,
    info: Info,
    *,
    jobId: str,
    workerId: str,
    lines: list[Mapping[str, Any]],
    afterSeq: int | None = None,
) -> int:
    return await lifecycle.append_logs(
        info.context,
        job_id=jobId,
        worker_id=workerId,
        lines=[log_line_from_coerced(line) for line in lines],
        after_seq=afterSeq,
    )


# (type, field) -> the resolver and the field's argument names (checked: a renamed argument
# must not silently reach a resolver under its old name).
DIRECT: dict[tuple[str, str], tuple[Callable[..., Any], frozenset[str]]] = {
    ("Query", "job"): (_job, frozenset({"id", "tail"})),
    ("Job", "items"): (_job_items, frozenset()),
    ("Job", "logTail"): (_job_log_tail, frozenset()),
    ("Mutation", "appendLogs"): (
        _append_logs,
        frozenset({"jobId", "workerId", "lines", "afterSeq"}),
    ),
}

# (type, field) -> the field's value when it is at hand, else None (schema.projection): what
# the resolver above returns when it returns no awaitable.
SYNC: dict[tuple[str, str], Callable[[Any], Any]] = {
    ("Job", "items"): Job.items_now,
    ("Job", "logTail"): Job.log_tail_now,
}


def use_direct_resolvers(schema: Schema) -> None:
    _use_record_getters(schema)
    for (type_name, field_name), (resolve, arguments) in DIRECT.items():
        field = _field(schema, type_name, field_name)
        assert set(field.args) == arguments, f"{type_name}.{field_name} changed: update DIRECT"
        field.resolve = resolve
    for (type_name, field_name), value_now in SYNC.items():
        field = _field(schema, type_name, field_name)
        field.extensions = {**(field.extensions or {}), SYNC_VALUE: value_now}


def _field(schema: Schema, type_name: str, field_name: str) -> GraphQLField:
    owner = schema._schema.get_type(type_name)
    assert isinstance(owner, GraphQLObjectType), type_name
    field: GraphQLField = owner.fields[field_name]
    return field


def _use_record_getters(schema: Schema) -> None:
    """Record fields (schema.record_fields) resolve with a plain getter of their path."""
    for type_ in schema._schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType):
            continue
        for field in type_.fields.values():
            path = plain_record_path(field)
            if path is not None:
                field.resolve = _getter(operator.attrgetter(path))


def _getter(read: Callable[[Any], Any]) -> Callable[..., Any]:
    return lambda source, _info: read(source)
