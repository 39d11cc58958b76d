"""What a worker raises and what it tells apart: the server's GraphQL errors by
``extensions.code``, a server it cannot reach in time, and an item to skip."""

from __future__ import annotations

from typing import Any

# Codes that say the caller cannot work at all (a wrong, revoked or under-scoped key, a URL
# that is not jobgraph): retrying cannot help, so the worker stops and says why.
FATAL_CODES = frozenset({"UNAUTHENTICATED", "FORBIDDEN", "NOT_GRAPHQL"})


class WorkerError(Exception):
    """A GraphQL error from jobgraph, with its ``extensions.code`` and other extensions.

    >>> error = WorkerError("CONFLICT", "the job is CANCELLED", {"status": "CANCELLED"})
    >>> error.code, error.extensions["status"]
    ('CONFLICT', 'CANCELLED')
    """

    def __init__(self, code: str, message: str, extensions: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.extensions: dict[str, Any] = dict(extensions or {})

    @property
    def fatal(self) -> bool:
        return self.code in FATAL_CODES


class ServerUnreachable(WorkerError):
    """jobgraph did not answer usefully before the call's deadline (for a job's writes, the
    end of its lease): connection errors, 502/503/504, ``UNAVAILABLE`` or ``RATE_LIMITED``
    on every try."""

    def __init__(self, message: str) -> None:
        super().__init__("UNREACHABLE", message)


class SkipItem(Exception):
    """Raise from ``process`` to mark the item SKIPPED, with the message as its reason."""
