"""Types of the worker protocol: what a heartbeat answers, and a log line a worker sends."""

from __future__ import annotations

from datetime import datetime
from typing import Self

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
