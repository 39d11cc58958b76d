"""Webhooks for the calling key: the checked ``webhook`` of createJob and POST /process, a job's
deliveries a page at a time, and redelivery."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from domain.errors import BadUserInput
from domain.principal import Scope
from domain.webhook_urls import parse_webhook_url
from domain.webhooks import parse_events
from resolvers.context import Context
from storage.records import JobRecord
from storage.webhook_records import DeliveryRecord, WebhookSpec

_CURSOR_PREFIX = "delivery:"


class WebhookFields(Protocol):
    """A webhook as submitted: GraphQL's ``WebhookInput`` or a REST body's ``webhook``."""

    @property
    def url(self) -> str: ...

    @property
    def events(self) -> Sequence[str] | None: ...


def webhook_spec(fields: WebhookFields | None, *, allow_private: bool) -> WebhookSpec | None:
    """The webhook to store, checked; BAD_USER_INPUT (with ``field``) for anything malformed."""
    if fields is None:
        return None
    if not isinstance(fields.url, str):
        raise BadUserInput("webhook.url must be a string", field="webhook.url")
    checked = parse_webhook_url(fields.url.strip(), allow_private=allow_private)
    return WebhookSpec(url=checked.url, events=parse_events(fields.events))


@dataclass(frozen=True, slots=True)
class DeliveryPageRead:
    deliveries: list[tuple[str, DeliveryRecord]]  # (cursor, delivery), oldest first
    has_next_page: bool
    has_previous_page: bool
    total_count: int


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError("not a delivery cursor")
        seq = int(text[len(_CURSOR_PREFIX) :])
    except (ValueError, UnicodeError, binascii.Error):
        raise BadUserInput(f"invalid cursor {cursor[:64]!r}") from None
    if seq < 0:
        raise BadUserInput(f"invalid cursor {cursor[:64]!r}")
    return seq


async def deliveries(
    context: Context, *, job: JobRecord, first: int, after: str | None
) -> DeliveryPageRead:
    """The job's delivery attempts, oldest first (the job was read with the key's tenant)."""
    context.require(Scope.READ)
    cap = context.settings.max_page_size
    if not 1 <= first <= cap:
        raise BadUserInput(f"first must be between 1 and {cap}; got {first}")
    after_seq = decode_cursor(after) if after is not None else None
    page = await context.store.webhooks.page(job_id=job.id, first=first, after_seq=after_seq)
    return DeliveryPageRead(
        deliveries=[(encode_cursor(record.seq), record) for record in page.deliveries],
        has_next_page=page.has_next_page,
        has_previous_page=after_seq is not None,
        total_count=page.total_count,
    )


def parse_delivery_id(value: str) -> str:
    try:
        return str(uuid.UUID(value.strip()))
    except (ValueError, AttributeError):
        raise BadUserInput(
            f"invalid delivery id {value[:64]!r}: expected a UUID", field="deliveryId"
        ) from None


async def redeliver(context: Context, *, delivery_id: str) -> DeliveryRecord:
    """One more attempt at a delivery's message, due now; NOT_FOUND for another tenant's."""
    principal = context.require(Scope.SUBMIT)
    return await context.store.webhooks.redeliver(
        delivery_id=parse_delivery_id(delivery_id), tenant=principal.tenant_filter
    )
