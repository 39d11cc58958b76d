"""JSON bodies for errors raised outside GraphQL execution (bad HTTP, bad JSON, auth)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

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
