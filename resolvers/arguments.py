"""Argument checks shared by resolvers (and the REST routes): ids, tails, page sizes."""

from __future__ import annotations

import re
import uuid

from domain.errors import BadUserInput


class InvalidJobId(BadUserInput):
    """BAD_USER_INPUT in GraphQL; the REST routes answer it with 404, as the old endpoint did."""


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def parse_job_id(value: str) -> str:
    """The canonical form of a job id; a malformed one is BAD_USER_INPUT."""
    if _CANONICAL_UUID.fullmatch(value):
        return value  # what clients send back: the id as we wrote it
    try:
        return str(uuid.UUID(value.strip()))
    except (ValueError, AttributeError):
        raise InvalidJobId(f"invalid job id {value[:64]!r}: expected a UUID") from None


def resolve_tail(tail: int | None, *, cap: int) -> int:
    """``None`` means every line up to the cap; 0 means none; outside 0..cap is an error."""
    if tail is None:
        return cap
    if tail < 0:
        raise BadUserInput("tail must not be negative")
    if tail > cap:
        raise BadUserInput(f"tail must be at most {cap}")
    return tail
