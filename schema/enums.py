"""GraphQL enums: the domain's own enums, registered with Strawberry under the contract's names."""

from __future__ import annotations

import strawberry

from domain.jobs import ItemStatus, JobStatus
from domain.videos import Platform
from domain.webhooks import DeliveryStatus, WebhookEvent

# strawberry.enum registers the class in place, so records and GraphQL types share one enum.
strawberry.enum(JobStatus, name="JobStatus")
strawberry.enum(ItemStatus, name="ItemStatus")
strawberry.enum(Platform, name="Platform")
strawberry.enum(
    WebhookEvent,
    name="WebhookEvent",
    description="What a job's webhook is called for: STARTED (each run), PROGRESS (throttled), "
    "and the three ends of a job.",
)
strawberry.enum(
    DeliveryStatus,
    name="WebhookDeliveryStatus",
    description="An attempt's state: PENDING (due or in flight), SUCCEEDED (2xx), FAILED "
    "(another attempt follows), GAVE_UP (none follows).",
)

__all__ = ["DeliveryStatus", "ItemStatus", "JobStatus", "Platform", "WebhookEvent"]
