"""GraphQL over HTTP to jobgraph, with the retries a worker needs to outlive a server restart.

A call is tried again, after a jittered exponential wait (:class:`~jobgraph_worker.Backoff`),
when the answer cannot be the server's last word: a connection error or timeout, HTTP
502/503/504 (a proxy or a server going down), 429, or the GraphQL codes ``UNAVAILABLE`` and
``RATE_LIMITED``. Every other error is raised at once as a :class:`WorkerError`. A call with a
deadline (a job's writes: the end of its lease) gives up with :class:`ServerUnreachable`
when the next try would start after it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from jobgraph_worker._version import __version__
from jobgraph_worker.backoff import Backoff
from jobgraph_worker.errors import ServerUnreachable, WorkerError

log = logging.getLogger("jobgraph_worker")

RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_CODES = frozenset({"UNAVAILABLE", "RATE_LIMITED"})
# Raised before the request left: the server cannot have acted on it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# While jobgraph stays unreachable, a reminder this often (the first failure always warns).
_REMIND_SECONDS = 30.0

Deadline = Callable[[], float]
"""A ``time.monotonic()`` instant, asked again before every try (a heartbeat may move it)."""
Settled = Callable[[WorkerError], dict[str, Any] | None]
"""Turns a refusal into the answer, when it says an earlier try of the same call went
through (``completeJob`` after a lost answer: CONFLICT, the job is COMPLETED)."""


class _TryAgain(Exception):
    def __init__(self, reason: str, *, maybe_applied: bool, at_least: float = 0.0) -> None:
        super().__init__(reason)
        self.reason, self.maybe_applied, self.at_least = reason, maybe_applied, at_least


class GraphQLClient:
    """Posts GraphQL documents to one jobgraph endpoint with one API key.

    The key travels in the ``X-API-Key`` header only; it is never logged or put in an error.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        url: str,
        api_key: str,
        *,
        backoff: Backoff | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._http, self._url, self._timeout = http, url, timeout
        self._headers = {"X-API-Key": api_key, "User-Agent": f"jobgraph-worker/{__version__}"}
        self.backoff = backoff or Backoff()
        self._down_since: float | None = None
        self._reminded = 0.0

    @property
    def url(self) -> str:
        return self._url

    async def execute(
        self,
        query: str,
        variables: dict[str, Any],
        *,
        deadline: Deadline | None = None,
        settled: Settled | None = None,
    ) -> dict[str, Any]:
        """The ``data`` of the answer; retries as the module says, until ``deadline``."""
        data, _ = await self.execute_timed(query, variables, deadline=deadline, settled=settled)
        return data

    async def execute_timed(
        self,
        query: str,
        variables: dict[str, Any],
        *,
        deadline: Deadline | None = None,
        settled: Settled | None = None,
    ) -> tuple[dict[str, Any], float]:
        """:meth:`execute`, and when the try that was answered started (``time.monotonic``):
        a lease renewed by that answer lasts at least its length from then."""
        operation = _operation_name(query)
        failures, maybe_applied = 0, False
        while True:
            started = time.monotonic()
            timeout = self._timeout
            if deadline is not None:
                timeout = min(timeout, max(deadline() - started, 0.1))
            try:
                data = await self._try(query, variables, timeout)
            except _TryAgain as again:
                failures += 1
                maybe_applied = maybe_applied or again.maybe_applied
                wait = self.backoff.delay(failures, at_least=again.at_least)
                if deadline is not None and time.monotonic() + wait >= deadline():
                    raise ServerUnreachable(
                        f"{operation}: {again.reason}; gave up after {failures} tries "
                        "(its deadline comes before the next one)"
                    ) from None
                self._note_down(operation, again.reason, wait)
                await asyncio.sleep(wait)
                continue
            except WorkerError as error:
                answer = settled(error) if maybe_applied and settled is not None else None
                if answer is None:
                    raise
                log.debug("%s: %s: an earlier try went through", operation, error.code)
                data = answer
            self._note_up()
            return data, started

    async def _try(self, query: str, variables: dict[str, Any], seconds: float) -> dict[str, Any]:
        try:
            response = await self._http.post(
                self._url,
                json={"query": query, "variables": variables},
                headers=self._headers,
                timeout=seconds,
            )
        except httpx.TransportError as error:
            reason = f"{type(error).__name__}: {error}".rstrip(": ")
            raise _TryAgain(reason, maybe_applied=not isinstance(error, _NOT_SENT)) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        errors = body.get("errors") if isinstance(body, dict) else None
        first = errors[0] if isinstance(errors, list) and errors else {}
        extensions = (first.get("extensions") or {}) if isinstance(first, dict) else {}
        code = extensions.get("code")
        status = response.status_code
        if status in RETRY_STATUSES or code in RETRY_CODES:
            # A refusal before the operation ran (429, RATE_LIMITED) cannot have changed anything.
            limited = status == 429 or code == "RATE_LIMITED"
            raise _TryAgain(
                f"HTTP {status}" + (f" {code}" if code else ""),
                maybe_applied=not limited,
                at_least=_retry_after(response),
            )
        if not isinstance(body, dict) or ("data" not in body and not errors):
            raise WorkerError(
                "NOT_GRAPHQL", f"HTTP {status} from {self._url} is not a GraphQL answer"
            )
        if first:
            message = first.get("message", "") if isinstance(first, dict) else str(first)
            raise WorkerError(str(code or "ERROR"), str(message), extensions)
        data = body.get("data")
        if not isinstance(data, dict):
            raise WorkerError("NOT_GRAPHQL", f"HTTP {status} from {self._url}: no data")
        return data

    def _note_down(self, operation: str, reason: str, wait: float) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = self._reminded = now
            log.warning(
                "jobgraph at %s does not answer (%s); retrying %s in %.1f s",
                self._url,
                reason,
                operation,
                wait,
            )
        elif now - self._reminded >= _REMIND_SECONDS:
            self._reminded = now
            log.warning(
                "jobgraph at %s has not answered for %.0f s (%s); still retrying",
                self._url,
                now - self._down_since,
                reason,
            )
        else:
            log.debug("%s: %s; retrying in %.1f s", operation, reason, wait)

    def _note_up(self) -> None:
        if self._down_since is not None:
            log.info(
                "jobgraph at %s answers again (after %.1f s)",
                self._url,
                time.monotonic() - self._down_since,
            )
            self._down_since = None


def _operation_name(query: str) -> str:
    """The first field of a document (``claimJob``), for log messages."""
    body = query[query.find("{") + 1 :].lstrip()
    return body.split("(", 1)[0].split("{", 1)[0].split()[0] if body else "request"


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(float(response.headers.get("Retry-After", "0")), 0.0)
    except ValueError:  # an HTTP date: rare from an API; the backoff alone is fine
        return 0.0
