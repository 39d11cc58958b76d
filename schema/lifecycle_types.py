"""Types of the worker protocol: what a heartbeat answers, and a log line a worker sends."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Self

import strawberry

from storage.records import HeartbeatRecord


@strawberry.type(description="A heartbeat's answer: stop if cancelRequested; the lease's new end.")
class Heartbeat:
    cancel_requested: bool
    lease_expires_at: datetime

    @classmethod
    def from_record(cls, record: HeartbeatRecord) -> Self:
        return cls(
            cancel_requested=record.cancel_requested, lease_expires_at=record.lease_expires_at
        )


@strawberry.input(description="One log line; the server assigns its seq.")
class LogLineInput:
    message: str
    level: str | None = "INFO"
    timestamp: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="When it happened; the server's clock when omitted."
    )


def _log_line_from_input(cls: type[LogLineInput], value: Mapping[str, Any], _: object) -> Any:
    # appendLogs takes up to 1000 lines a call. graphql-core has already coerced every field
    # (all leaf scalars); building the objects directly skips Strawberry's generic per-field
    # conversion, which re-resolved each field's annotation for every line and cost over half
    # of an appendLogs request (measured with py-spy on 500-line batches).
    return cls(
        message=value["message"],
        level=value.get("level", "INFO"),
        timestamp=value.get("timestamp", strawberry.UNSET),
    )


# Strawberry's documented hook for building an input value (StrawberryObjectDefinition.from_input).
LogLineInput.__strawberry_definition__.from_input = _log_line_from_input  # type: ignore[attr-defined]
