"""One attempt over HTTP: resolve the host once, refuse what may not be reached, and connect to
exactly the address that was checked.

The request goes to ``scheme://<address>:<port>/path`` with the ``Host`` header, TLS SNI and
certificate check all naming the host (httpx's ``sni_hostname`` extension), so a DNS answer
that changes between the check and the connection (rebinding) cannot move it elsewhere. Each
attempt has its own client: a pooled TLS connection made for one host name is never reused for
another that happens to share its address. No proxy from the environment, no redirect (a 3xx
is a failed attempt), no body read back: only the status and ``Retry-After`` count.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from domain.errors import BadUserInput
from domain.webhook_urls import IPAddress, WebhookUrl, address_refusal, parse_webhook_url
from domain.webhooks import Outcome, classify, retry_after_seconds
from storage.coltypes import utcnow
from storage.webhook_deliveries import AttemptResult

USER_AGENT = "jobgraph-webhooks/1"
# The longest Retry-After honoured: the schedule's own longest wait.
MAX_RETRY_AFTER = 24 * 3600.0


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to now, in the resolver's order (an IP literal: itself)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    found: list[IPAddress] = []
    for _, _, _, _, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


class WebhookSender:
    """Sends signed bodies; one per delivery worker (it keeps the TLS context)."""

    def __init__(self, *, timeout: float, allow_private: bool) -> None:
        self.timeout = timeout
        self.allow_private = allow_private
        self._tls = httpx.create_ssl_context()

    async def send(self, url: str, *, headers: Mapping[str, str], body: bytes) -> AttemptResult:
        """One attempt, within the timeout; never raises for what the receiver or the network
        does (that is the attempt's outcome)."""
        started = time.perf_counter()
        try:
            # Checked again: the setting may have changed since the job was created.
            target = parse_webhook_url(url, allow_private=self.allow_private)
        except BadUserInput as error:
            ended = _Ended(Outcome.REFUSED, error=f"refused: {error.message}")
        else:
            try:
                async with asyncio.timeout(self.timeout):
                    ended = await self._attempt(target, headers, body)
            except TimeoutError:
                ended = _Ended(Outcome.UNREACHABLE, error=f"timed out after {self.timeout:g} s")
        return AttemptResult(
            outcome=ended.outcome,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            response_status=ended.response_status,
            error=ended.error,
            retry_after=ended.retry_after,
        )

    async def _attempt(self, target: WebhookUrl, headers: Mapping[str, str], body: bytes) -> _Ended:
        try:
            addresses = await resolve_host(target.host, target.port)
        except (OSError, UnicodeError) as error:
            return _Ended(Outcome.UNREACHABLE, error=f"cannot resolve {target.host}: {error}")
        if not addresses:
            return _Ended(Outcome.UNREACHABLE, error=f"{target.host} has no address")
        if not self.allow_private:
            for address in addresses:
                reason = address_refusal(address)
                if reason is not None:
                    return _Ended(
                        Outcome.REFUSED,
                        error=f"refused: {target.host} resolves to {reason} ({address})",
                    )
        failure = ""
        for address in addresses:
            try:
                status, retry_after = await self._post(target, address, headers, body)
            except httpx.ConnectError as error:
                failure = f"cannot connect to {_pinned(target, address)}: {error or 'refused'}"
                continue  # the next address the name resolved to
            except httpx.HTTPError as error:
                reason = str(error) or type(error).__name__
                return _Ended(Outcome.UNREACHABLE, error=f"{_pinned(target, address)}: {reason}")
            outcome = classify(status)
            error_text = None if outcome is Outcome.SUCCEEDED else _describe(outcome, status)
            seconds = None
            if outcome is Outcome.THROTTLED:
                seconds = retry_after_seconds(retry_after, now=utcnow(), cap=MAX_RETRY_AFTER)
            return _Ended(outcome, response_status=status, error=error_text, retry_after=seconds)
        return _Ended(Outcome.UNREACHABLE, error=failure)

    async def _post(
        self, target: WebhookUrl, address: IPAddress, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, str | None]:
        pinned = f"{_pinned(target, address)}{target.target}"
        extensions = {}
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
        request_headers = {
            "host": target.host_header,
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **headers,
        }
        transport = httpx.AsyncHTTPTransport(verify=self._tls, retries=0)
        async with (
            httpx.AsyncClient(
                transport=transport,
                timeout=httpx.Timeout(self.timeout),
                follow_redirects=False,
                trust_env=False,
            ) as client,
            client.stream(
                "POST", pinned, content=body, headers=request_headers, extensions=extensions
            ) as response,
        ):
            return response.status_code, response.headers.get("retry-after")


@dataclass(frozen=True, slots=True)
class _Ended:
    outcome: Outcome
    response_status: int | None = None
    error: str | None = None
    retry_after: float | None = None


def _pinned(target: WebhookUrl, address: IPAddress) -> str:
    host = f"[{address.compressed}]" if address.version == 6 else address.compressed
    return f"{target.scheme}://{host}:{target.port}"


def _describe(outcome: Outcome, status: int) -> str:
    if outcome is Outcome.REDIRECTED:
        return f"HTTP {status}: redirects are not followed"
    if outcome is Outcome.GONE:
        return "HTTP 410 Gone: the receiver wants no more calls for this job"
    return f"HTTP {status}"
