"""Input types."""

from __future__ import annotations

import strawberry

from schema.enums import Platform, WebhookEvent


@strawberry.input(description="A video: platform and code, or a URL.")
class VideoItemInput:
    platform: Platform | None = None
    code: str | None = None
    url: str | None = None


@strawberry.input(description="Where to call back when the job changes, and for what.")
class WebhookInput:
    url: str = strawberry.field(
        description="An http(s) URL of a public host, at most 2048 characters, no credentials."
    )
    events: list[WebhookEvent] | None = strawberry.field(
        default=None, description="What to call it for; null: COMPLETED, FAILED and CANCELLED."
    )


@strawberry.input
class CreateJobInput:
    items: list[VideoItemInput]
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="The same key from the same tenant returns the same job (safe retries).",
    )
    webhook: WebhookInput | None = strawberry.field(
        default=None,
        description="Call this URL, signed (Standard Webhooks), when the job changes.",
    )
