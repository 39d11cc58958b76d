"""The ``DateTime`` scalar, read as an instant that the store can hold.

Strawberry's own ``DateTime`` accepts any ISO 8601 text that Python can represent as written,
so ``0001-01-01T00:00:00+14:00`` parses and then overflows the moment anything converts it to
UTC (a filter, a log line's timestamp, a comparison): an internal error for a client's typo.
This one converts every value with an offset to UTC while coercing it, so an instant outside
the representable range is a coercion error (``BAD_USER_INPUT``, a 400) on every path, and
everything below sees UTC. It raises ``GraphQLError``: graphql-core reports that as the
client's error, and any other exception as an internal one. It serializes exactly as
Strawberry's does (``isoformat``), which the engine recognises.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry
from graphql import GraphQLError

from engine.compat import strawberry_isoformat


def parse_datetime(value: object) -> datetime:
    """An ISO 8601 text as a ``datetime``: UTC when it has an offset, naive when it has none.

    >>> parse_datetime("2024-01-15T12:30:00+02:00").isoformat()
    '2024-01-15T10:30:00+00:00'
    >>> parse_datetime("0001-01-01T00:00:00+14:00")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    graphql.error.graphql_error.GraphQLError: DateTime "0001-01-01T00:00:00+14:00" is outside ...
    """
    if not isinstance(value, str):
        raise GraphQLError(f'DateTime cannot represent "{str(value)[:64]}": expected a string')
    try:
        parsed = datetime.fromisoformat(value)
    except (ValueError, OverflowError) as error:
        raise GraphQLError(f'DateTime cannot represent "{value[:64]}": {error}') from None
    if parsed.tzinfo is None:
        return parsed
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise GraphQLError(
            f'DateTime "{value[:64]}" is outside the representable range (years 1 to 9999 in UTC)'
        ) from None


DateTime = strawberry.scalar(
    name="DateTime",
    description="Date with time (isoformat)",
    serialize=strawberry_isoformat,
    parse_value=parse_datetime,
)

SCALAR_MAP: dict[object, Any] = {datetime: DateTime}
