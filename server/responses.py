"""JSON bodies for errors raised outside GraphQL execution (bad HTTP, bad JSON, auth, unknown
paths): a GraphQL error with ``extensions.code``, or ``{"detail": ...}`` on the REST paths,
which answer in that shape."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Scope

_CODES_BY_STATUS = {
    400: "BAD_USER_INPUT",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "BAD_USER_INPUT",
    406: "BAD_USER_INPUT",
    413: "BAD_USER_INPUT",
    415: "BAD_USER_INPUT",
    429: "RATE_LIMITED",
    503: "UNAVAILABLE",
}


_REST_PREFIXES = ("/status/", "/process")


class OrjsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def graphql_error_response(
    status_code: int,
    message: str,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    media_type: str = "application/json",
) -> Response:
    body = {
        "errors": [
            {
                "message": message,
                "extensions": {
                    "code": code or _CODES_BY_STATUS.get(status_code, "INTERNAL_SERVER_ERROR")
                },
            }
        ]
    }
    return Response(orjson.dumps(body), status_code, headers=headers, media_type=media_type)


def is_rest(scope: Scope) -> bool:
    """Whether the request is one of the REST endpoint's (``GET /status/…``, ``POST /process``)."""
    path = scope.get("path", "")
    return isinstance(path, str) and path.startswith(_REST_PREFIXES)


def error_response_for(
    scope: Scope,
    status_code: int,
    message: str,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The error body the request's path answers in: ``{"detail": ...}`` on the REST paths, a
    GraphQL error everywhere else."""
    if is_rest(scope):
        return Response(
            orjson.dumps({"detail": message}),
            status_code,
            headers=headers,
            media_type="application/json",
        )
    return graphql_error_response(status_code, message, code=code, headers=headers)
