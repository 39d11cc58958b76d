"""Cross-site request forgery: what a POST must look like before the view reads it.

A browser sends a cross-site request without a CORS preflight only when it is "simple":
GET/HEAD/POST, no custom headers, and a Content-Type of ``text/plain``,
``application/x-www-form-urlencoded`` or ``multipart/form-data``. Such a request can come
from any web page the user visits (a hidden form), with the user's ambient credentials.
So a POST that carries a simple content type is refused outright (415), whatever other
headers it has — we have no use for those bodies, and refusing them means a cross-site form
can never reach the executor. JSON bodies force a preflight, which our CORS policy answers.
Mutations over GET are refused separately (405), so the GET route is read-only.
"""

from __future__ import annotations

# Content types a browser form (or a no-cors fetch) can send without a preflight.
SIMPLE_CONTENT_TYPES = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json_body(content_type: str | None) -> bool:
    """``application/json``: the only body the view parses."""
    return media_type(content_type) == "application/json"


def post_refusal(content_type: str | None) -> str | None:
    """Why a POST with this Content-Type is refused (HTTP 415), or None when it is accepted."""
    kind = media_type(content_type)
    if kind in SIMPLE_CONTENT_TYPES:
        return (
            f"content type {kind} is refused (it needs no CORS preflight, so a cross-site "
            "form could send it): send application/json"
        )
    if not is_json_body(content_type):
        shown = kind[:64] or "none"
        return f"unsupported content type {shown}: send application/json"
    return None
