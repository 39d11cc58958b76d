"""Error codes of the public contract, as exceptions any layer may raise.

Each carries ``extensions`` so that graphql-core copies ``{"code": ...}`` onto the GraphQL error
it builds from it; the REST routes map the same codes onto HTTP statuses.
"""

from __future__ import annotations

from typing import ClassVar


class AppError(Exception):
    """An expected failure whose message is safe to show to the caller."""

    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    @property
    def extensions(self) -> dict[str, object]:
        return {"code": self.code, **self.extra}


class Unauthenticated(AppError):
    code = "UNAUTHENTICATED"
    http_status = 401


class Forbidden(AppError):
    code = "FORBIDDEN"
    http_status = 403


class NotFound(AppError):
    code = "NOT_FOUND"
    http_status = 404


class BadUserInput(AppError):
    code = "BAD_USER_INPUT"
    http_status = 400


class Conflict(AppError):
    code = "CONFLICT"
    http_status = 409


class RateLimited(AppError):
    code = "RATE_LIMITED"
    http_status = 429


class Unavailable(AppError):
    code = "UNAVAILABLE"
    http_status = 503


class SubscriptionOverflow(AppError):
    """A live subscriber fell too far behind and was closed; ``resumeAfter`` says where to resume.

    Resubscribing to jobLogs with ``after: resumeAfter`` continues with no gap and no duplicate.
    """

    code = "SUBSCRIPTION_OVERFLOW"
    http_status = 429


class TooManySubscriptions(AppError):
    """A WebSocket already carries ``JOBGRAPH_MAX_SUBSCRIPTIONS_PER_CONNECTION`` operations."""

    code = "TOO_MANY_SUBSCRIPTIONS"
    http_status = 429


class TooManyConnections(AppError):
    """The key already has ``JOBGRAPH_MAX_WS_CONNECTIONS_PER_KEY`` WebSockets open here."""

    code = "TOO_MANY_CONNECTIONS"
    http_status = 429
