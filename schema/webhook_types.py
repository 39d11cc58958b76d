"""Output types of webhooks: a job's webhook, and its delivery attempts as a connection."""

from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from resolvers.webhooks import DeliveryPageRead
from schema.enums import DeliveryStatus, WebhookEvent
from schema.listing import PageInfo
from storage.webhook_records import DeliveryRecord, WebhookRecord


@strawberry.type(description="Where a job calls back, and for what.")
class Webhook:
    url: str
    events: list[WebhookEvent]
    disabled_at: datetime | None = strawberry.field(
        description="When the receiver answered 410 Gone: nothing more is sent for this job."
    )

    @classmethod
    def from_record(cls, record: WebhookRecord) -> Self:
        return cls(url=record.url, events=list(record.events), disabled_at=record.disabled_at)


@strawberry.type(description="One attempt to deliver one call of a job's webhook.")
class WebhookDelivery:
    id: strawberry.ID
    webhook_id: str = strawberry.field(
        description="The webhook-id header: the same on every attempt at the same call."
    )
    event: WebhookEvent
    attempt: int = strawberry.field(description="1 for the first attempt at a call, then 2...")
    status: DeliveryStatus
    response_status: int | None = strawberry.field(description="The receiver's HTTP status.")
    error: str | None = strawberry.field(description="Why the attempt failed.")
    created_at: datetime
    next_attempt_at: datetime | None = strawberry.field(
        description="When a PENDING attempt is due."
    )
    attempted_at: datetime | None = strawberry.field(description="When the attempt was made.")
    duration_ms: float | None = strawberry.field(description="How long the attempt took.")

    @classmethod
    def from_record(cls, record: DeliveryRecord) -> Self:
        return cls(
            id=strawberry.ID(record.id),
            webhook_id=record.message_id,
            event=record.event,
            attempt=record.attempt,
            status=record.status,
            response_status=record.response_status,
            error=record.error,
            created_at=record.created_at,
            next_attempt_at=record.next_attempt_at,
            attempted_at=record.attempted_at,
            duration_ms=record.duration_ms,
        )


@strawberry.type
class WebhookDeliveryEdge:
    cursor: str
    node: WebhookDelivery


@strawberry.type(description="A page of a job's delivery attempts, oldest first.")
class WebhookDeliveryConnection:
    edges: list[WebhookDeliveryEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def from_read(cls, page: DeliveryPageRead) -> Self:
        edges = [
            WebhookDeliveryEdge(cursor=cursor, node=WebhookDelivery.from_record(record))
            for cursor, record in page.deliveries
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page.total_count,
        )
