"""Where a webhook may point: the URL a client gives, and the addresses a delivery may reach.

Two checks guard against server-side request forgery (a webhook aimed at the metadata service,
the database or anything else on the server's own network):

- ``parse_webhook_url`` at ``createJob``: http(s) only, no credentials, no odd host spellings
  (``127.1``, ``0x7f000001``, ``2130706433``: forms the resolver would read as an address), at
  most :data:`MAX_URL_LENGTH` characters; an IP literal or ``localhost`` is refused at once
  unless private addresses are allowed.
- ``address_refusal`` at delivery, on every address the host resolves to, because a name can
  resolve to anything and change between two lookups. The sender then connects to the address
  it checked, never to the name again.

>>> parse_webhook_url("https://hooks.example.com/jobs?k=1", allow_private=False).origin
'https://hooks.example.com:443'
>>> address_refusal(ipaddress.ip_address("169.254.169.254"))
'a link-local address'
>>> address_refusal(ipaddress.ip_address("::ffff:127.0.0.1"))
'a loopback address'
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from domain.errors import BadUserInput

MAX_URL_LENGTH = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# Anything the URL parsers of a client and of a server might read differently.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\]")


@dataclass(frozen=True, slots=True)
class WebhookUrl:
    """A checked URL: ``host`` in ASCII (IDNA), without brackets for IPv6."""

    url: str
    scheme: str
    host: str
    port: int
    target: str  # path and query, what the request line carries

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{_bracketed(self.host)}:{self.port}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = _bracketed(self.host)
        return host if self.port == default else f"{host}:{self.port}"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _bad(message: str) -> BadUserInput:
    return BadUserInput(f"webhook.url {message}", field="webhook.url")


def parse_webhook_url(text: str, *, allow_private: bool) -> WebhookUrl:
    """The checked form of a webhook URL; BAD_USER_INPUT (``field: webhook.url``) otherwise."""
    if len(text) > MAX_URL_LENGTH:
        raise _bad(f"must be at most {MAX_URL_LENGTH} characters")
    if _FORBIDDEN.search(text):
        raise _bad("must not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise _bad(f"is not a valid URL ({error})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _bad("must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise _bad("must not contain credentials (user:password@); put a token in the path")
    if not parts.hostname:
        raise _bad("has no host")
    host = _host(parts, allow_private=allow_private)
    if port == 0:
        raise _bad("has port 0")
    port = port or (443 if scheme == "https" else 80)
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    netloc = _bracketed(host) + (f":{parts.port}" if parts.port is not None else "")
    url = SplitResult(scheme, netloc, parts.path or "/", parts.query, "").geturl()
    return WebhookUrl(url=url, scheme=scheme, host=host, port=port, target=target)


def _host(parts: SplitResult, *, allow_private: bool) -> str:
    raw = parts.hostname or ""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        address = None
    if address is not None:
        if not allow_private:
            reason = address_refusal(address)
            if reason is not None:
                raise _bad(f"points to {reason} ({address}); webhooks reach public hosts only")
        return address.compressed
    try:
        name = raw.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise _bad(f"has an invalid host name {raw[:64]!r}") from None
    labels = name.rstrip(".").split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise _bad(f"has an invalid host name {raw[:64]!r}")
    if labels[-1].isdigit() or _reads_as_ipv4(name):
        # 127.1, 2130706433, 0x7f.1: resolvers take these for addresses, people do not.
        raise _bad(f"has a host {raw[:64]!r} that is neither a name nor a dotted IPv4 address")
    if not allow_private and labels[-1] == "localhost":
        raise _bad("points to localhost; webhooks reach public hosts only")
    return name.rstrip(".")


def _reads_as_ipv4(name: str) -> bool:
    try:
        socket.inet_aton(name)
    except OSError:
        return False
    return True


def address_refusal(address: IPAddress) -> str | None:
    """Why a delivery may not connect to ``address`` (None: a public address, allowed)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None
        )
        if embedded is not None:
            return address_refusal(embedded)
        if address.sixtofour is not None:
            return address_refusal(address.sixtofour)
        if address.teredo is not None:
            return address_refusal(address.teredo[1])
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.version == 4 and address in _CGNAT, "a shared (CGNAT) address"),
        (address.version == 6 and address in _UNIQUE_LOCAL, "a unique-local address"),
        (address.version == 6 and address in _SITE_LOCAL, "a site-local address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "an address that is not publicly routable"),
    )
    for refused, reason in checks:
        if refused:
            return reason
    return None
