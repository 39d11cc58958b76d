"""Content negotiation for GraphQL over HTTP: which media type the response is sent as.

The GraphQL-over-HTTP spec defines ``application/graphql-response+json`` (status codes carry
meaning: a document that does not parse or validate is a 4xx) next to the legacy
``application/json`` (always 200 for a well-formed request). A client that accepts neither
gets 406; a client that sends no Accept header gets ``application/json``, as before.
"""

from __future__ import annotations

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
# For a wildcard (``*/*``, ``application/*``) the legacy type is the safe answer: a client
# that names no GraphQL type may not expect a 4xx for a validation error.
_SUPPORTED = (APPLICATION_JSON, GRAPHQL_RESPONSE_JSON)


class NotAcceptable(Exception):
    """The Accept header names no media type we can send."""


def _ranges(accept: str) -> list[tuple[str, float, int]]:
    """``(media range, q, position)`` for each entry of an Accept header; q=0 entries dropped."""
    entries: list[tuple[str, float, int]] = []
    for position, part in enumerate(accept.split(",")):
        media_range, *params = (piece.strip() for piece in part.split(";"))
        if not media_range:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            entries.append((media_range.lower(), quality, position))
    return entries


def _matches(media_range: str, media_type: str) -> bool:
    if media_range in ("*/*", media_type):
        return True
    kind, _, subtype = media_range.partition("/")
    return subtype == "*" and media_type.startswith(kind + "/")


def response_media_type(accept: str | None) -> str:
    """The media type to answer with; raises :class:`NotAcceptable` when none fits.

    >>> response_media_type("application/graphql-response+json, application/json;q=0.9")
    'application/graphql-response+json'
    >>> response_media_type(None)
    'application/json'
    """
    if not accept or not accept.strip():
        return APPLICATION_JSON
    best: tuple[float, int, int] | None = None
    chosen = ""
    for media_range, quality, position in _ranges(accept):
        for preference, media_type in enumerate(_SUPPORTED):
            if not _matches(media_range, media_type):
                continue
            # Highest q wins; then an exact name over a wildcard (in header order); then, among
            # wildcards, our preference.
            exact = media_range == media_type
            rank = (-quality, 0 if exact else 1, position if exact else preference)
            if best is None or rank < best:
                best, chosen = rank, media_type
    if not chosen:
        raise NotAcceptable(accept)
    return chosen


def wants_html(accept: str | None) -> bool:
    """A browser navigating to /graphql: the view shows GraphiQL instead of a JSON answer."""
    return "text/html" in (accept or "").lower()
