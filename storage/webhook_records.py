"""Plain records of webhooks and their deliveries, as the store hands them out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.webhooks import DeliveryStatus, WebhookEvent


@dataclass(frozen=True, slots=True)
class WebhookSpec:
    """A webhook as a client asked for it, checked: what ``createJob`` stores."""

    url: str
    events: tuple[WebhookEvent, ...]


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    job_id: str
    url: str
    events: tuple[WebhookEvent, ...]
    disabled_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One attempt to deliver one message (``message_id`` is its ``webhook-id``)."""

    seq: int
    id: str
    message_id: str
    job_id: str
    tenant: str
    event: WebhookEvent
    attempt: int
    status: DeliveryStatus
    created_at: datetime
    next_attempt_at: datetime | None
    attempted_at: datetime | None
    duration_ms: float | None
    response_status: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """An attempt a process took to send: what it sends, and the token that proves it holds it."""

    id: str
    message_id: str
    job_id: str
    tenant: str
    event: WebhookEvent
    url: str
    payload: str
    attempt: int
    step: int | None
    locked_by: str


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    deliveries: list[DeliveryRecord]
    has_next_page: bool
    total_count: int
