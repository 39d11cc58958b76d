"""Opaque page cursors: a job's (created_at, id) position in the newest-first order.

A cursor names a place in the order, not an offset, so it stays valid while new jobs arrive:
they sort before every existing cursor and never shift the pages after it.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from domain.errors import BadUserInput

_PREFIX = "job:"


@dataclass(frozen=True, slots=True)
class JobCursor:
    created_at: datetime
    id: str

    def encode(self) -> str:
        text = f"{_PREFIX}{self.created_at.astimezone(UTC).isoformat()}|{self.id}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> JobCursor:
        """The position a cursor names; anything we did not hand out is BAD_USER_INPUT."""
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            text = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
            if not text.startswith(_PREFIX):
                raise ValueError("not a job cursor")
            stamp, job_id = text[len(_PREFIX) :].split("|")
            created_at = datetime.fromisoformat(stamp)
            if created_at.tzinfo is None:
                raise ValueError("naive timestamp")
            # In UTC here: an instant at the edge of the range with an offset overflows.
            return cls(created_at=created_at.astimezone(UTC), id=str(uuid.UUID(job_id)))
        except (ValueError, OverflowError, UnicodeError, binascii.Error):
            raise BadUserInput(f"invalid cursor {cursor[:64]!r}") from None
