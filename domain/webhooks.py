"""Webhook rules with no I/O: events, delivery states, the retry schedule and what an answer means.

A job's webhook is called when the job changes in a way its events name. Each call is a
*message* (one ``webhook-id``, stable across retries) sent in one or more *attempts*; each
attempt is a delivery row. The retry schedule is Standard Webhooks' own: immediately, 5 s,
5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.

>>> parse_schedule("0, 5s, 5m, 2h")
(0.0, 5.0, 300.0, 7200.0)
>>> classify(204), classify(302), classify(410), classify(503)
(<Outcome.SUCCEEDED: 'succeeded'>, <Outcome.REDIRECTED: 'redirected'>, \
<Outcome.GONE: 'gone'>, <Outcome.THROTTLED: 'throttled'>)
"""

from __future__ import annotations

import enum
import math
import random
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from domain.errors import BadUserInput
from domain.jobs import JobStatus


class WebhookEvent(enum.StrEnum):
    STARTED = "STARTED"
    PROGRESS = "PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def type_name(self) -> str:
        """The payload's ``type``: ``job.completed``."""
        return f"job.{self.value.lower()}"

    @classmethod
    def parse_list(cls, names: Iterable[str]) -> tuple[WebhookEvent, ...]:
        """Event names in any case, deduplicated in the enum's order; unknown: ValueError."""
        wanted = set()
        for name in names:
            try:
                wanted.add(cls(name.strip().upper()))
            except ValueError:
                known = ", ".join(event.value for event in cls)
                raise ValueError(f"unknown event {name[:32]!r}; expected one of {known}") from None
        return tuple(event for event in cls if event in wanted)


# What a webhook without `events` is called for: the end of the job, whichever end it is.
DEFAULT_EVENTS = (WebhookEvent.COMPLETED, WebhookEvent.FAILED, WebhookEvent.CANCELLED)

# The event a job entering a status causes; PENDING (a requeue or a retry) causes none.
EVENT_OF_STATUS: dict[JobStatus, WebhookEvent] = {
    JobStatus.RUNNING: WebhookEvent.STARTED,
    JobStatus.COMPLETED: WebhookEvent.COMPLETED,
    JobStatus.FAILED: WebhookEvent.FAILED,
    JobStatus.CANCELLED: WebhookEvent.CANCELLED,
}


class DeliveryStatus(enum.StrEnum):
    """One attempt's state. A failed attempt is FAILED when another attempt follows it, and
    GAVE_UP when none does (the schedule ran out, 410, a refused address, a redelivery)."""

    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    GAVE_UP = "GAVE_UP"


class Outcome(enum.StrEnum):
    """What one attempt came to."""

    SUCCEEDED = "succeeded"  # any 2xx
    REDIRECTED = "redirected"  # 3xx: never followed, so a failure
    GONE = "gone"  # 410: the receiver asks for no more
    THROTTLED = "throttled"  # 429 or 503: Retry-After is honoured
    HTTP_ERROR = "http_error"  # any other status
    UNREACHABLE = "unreachable"  # DNS, connection, TLS or timeout
    REFUSED = "refused"  # the address is not allowed: never retried
    UNSIGNED = "unsigned"  # the tenant's secret could not be read: nothing was sent

    @property
    def retried(self) -> bool:
        return self not in (Outcome.SUCCEEDED, Outcome.GONE, Outcome.REFUSED)


def classify(status_code: int) -> Outcome:
    if 200 <= status_code < 300:
        return Outcome.SUCCEEDED
    if 300 <= status_code < 400:
        return Outcome.REDIRECTED
    if status_code == 410:
        return Outcome.GONE
    if status_code in (429, 503):
        return Outcome.THROTTLED
    return Outcome.HTTP_ERROR


DEFAULT_SCHEDULE = "0,5s,5m,30m,2h,5h,10h,14h,20h,24h"
_DELAY = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_schedule(text: str) -> tuple[float, ...]:
    """``"0,5s,5m"`` -> delays in seconds before each attempt (a bare number is seconds)."""
    delays = []
    for part in text.split(","):
        match = _DELAY.fullmatch(part.strip().lower())
        if match is None:
            raise ValueError(f"not a delay: {part.strip()!r} (use e.g. 0, 5s, 5m, 2h, 1d)")
        delays.append(float(match.group(1)) * _SECONDS[match.group(2)])
    if not delays:
        raise ValueError("the retry schedule needs at least one delay")
    return tuple(delays)


def retry_delay(
    schedule: tuple[float, ...], step: int, *, jitter: float, rng: random.Random | None = None
) -> float | None:
    """Seconds until the attempt at ``step`` of the schedule (None past its end), spread by
    ``±jitter`` of itself so that receivers coming back up are not hit by every retry at once."""
    if step >= len(schedule):
        return None
    delay = schedule[step]
    if jitter <= 0 or delay <= 0:
        return delay
    return delay * (1 + (rng or random).uniform(-jitter, jitter))


def retry_after_seconds(value: str | None, *, now: datetime, cap: float) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP date) as seconds from ``now``, at most
    ``cap``; None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), cap)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), cap) if math.isfinite(seconds) else None


def parse_events(names: Iterable[str] | None) -> tuple[WebhookEvent, ...]:
    """The events a webhook asks for: the default three when None; at least one otherwise."""
    if names is None:
        return DEFAULT_EVENTS
    try:
        events = WebhookEvent.parse_list(names)
    except ValueError as error:
        raise BadUserInput(f"webhook.events: {error}", field="webhook.events") from None
    if not events:
        raise BadUserInput(
            "webhook.events must name at least one event (omit it for COMPLETED, FAILED and "
            "CANCELLED)",
            field="webhook.events",
        )
    return events
