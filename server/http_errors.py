"""What the app answers for an HTTP error raised outside a route's own handling: a path that
no route serves (404), a method a route does not take (405, with ``Allow``), a static file
that is not there. Starlette answers these in ``text/plain``; here they are JSON like every
other error (a GraphQL error with ``extensions.code``, ``{"detail": ...}`` on the REST paths).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from server.responses import error_response_for


async def http_exception(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    status = error.status_code
    message = error.detail
    if status == 404 and message == "Not Found":
        message = f"no such path: {request.url.path[:200]}"
    elif status == 405 and message == "Method Not Allowed":
        message = f"method {request.method} is not allowed on {request.url.path[:200]}"
    headers = dict(error.headers) if error.headers else None
    if status in (204, 304):  # no body allowed
        return Response(status_code=status, headers=headers)
    return error_response_for(request.scope, status, message, headers=headers)
