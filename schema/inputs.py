"""Input types."""

from __future__ import annotations

import strawberry

from schema.enums import Platform


@strawberry.input(description="A video: platform and code, or a URL.")
class VideoItemInput:
    platform: Platform | None = None
    code: str | None = None
    url: str | None = None


@strawberry.input
class CreateJobInput:
    items: list[VideoItemInput]
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="The same key from the same tenant returns the same job (safe retries).",
    )
