"""The original REST endpoint, kept so that clients move to GraphQL one screen at a time.

``GET /status/{jobId}?tail=N`` and ``POST /process`` answer as the FastAPI service jobgraph
replaces did — same paths, same header, same JSON, ``{"detail": ...}`` error bodies — but the
key check is GraphQL's (``schema.auth.authenticate``) and the data goes through the same
functions as ``job(id, tail)`` and ``createJob`` (``resolvers.job_access``).

Statuses: 401 missing/unknown/revoked key, 403 missing scope, 404 malformed or unknown job id
(or another tenant's), 400 bad ``tail`` or a body that is not JSON, 413 a body over 4 MiB,
422 a JSON body of the wrong shape or with invalid items (FastAPI's validation status), 405
another method, 503 database unreachable.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Send
from starlette.types import Scope as ASGIScope

from domain.errors import AppError, BadUserInput
from domain.principal import Scope
from resolvers.arguments import InvalidJobId
from resolvers.context import Context
from resolvers.job_access import find_job, submit_job
from schema.auth import authenticate
from server.edge_guard import BodyReadTimeout
from server.responses import OrjsonResponse
from server.rest_body import (
    MAX_BODY_BYTES,
    BodyTooLarge,
    InvalidBody,
    MalformedJson,
    parse_process_body,
)
from storage.records import ItemRecord, JobRecord, TailText

log = logging.getLogger("jobgraph.rest")

IDEMPOTENCY_HEADER = "idempotency-key"
# A sign and up to 18 digits: anything longer is out of range anyway, and int() stays cheap.
_INTEGER = re.compile(r"-?[0-9]{1,18}")

Handler = Callable[[Request, Context], Awaitable[Response]]


def rest_routes() -> list[Route]:
    """The routes ``app.create_app`` mounts next to /graphql."""
    return [
        Route("/status/{job_id:path}", _AnyMethod(job_status)),
        Route("/process", _AnyMethod(process)),
    ]


class _AnyMethod:
    """An ASGI endpoint taking every method, so that a wrong one gets our JSON 405.

    Starlette restricts a plain function endpoint to GET and answers other methods with a
    text/plain 405; an ASGI object is given every method and decides itself.
    """

    def __init__(self, handler: Callable[[Request], Awaitable[Response]]) -> None:
        self.handler = handler

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        response = await self.handler(Request(scope, receive))
        await response(scope, receive, send)


async def job_status(request: Request) -> Response:
    """``GET /status/{jobId}[?tail=N]``: the seed's ``JobStatusResponse``."""
    if request.method != "GET":
        return _method_not_allowed("GET")
    return await _guarded(request, _job_status, invalid_input_status=400)


async def process(request: Request) -> Response:
    """``POST /process`` with ``{"items": [{"platform", "code"}, ...]}``: 202 ``{"jobId"}``."""
    if request.method != "POST":
        return _method_not_allowed("POST")
    return await _guarded(request, _process, invalid_input_status=422)


async def _job_status(request: Request, context: Context) -> Response:
    # The scope before the arguments, as GraphQL does: a key without `read` learns nothing.
    context.require(Scope.READ)
    tail = _tail_argument(request.query_params.get("tail"))
    snapshot, _ = await find_job(
        context, id=request.path_params["job_id"], tail=tail, items=True, log_tail=True
    )
    return OrjsonResponse(status_body(snapshot.job, snapshot.items or [], snapshot.tail))


def status_body(
    record: JobRecord, items: list[ItemRecord], tail: TailText | None
) -> dict[str, object]:
    """The seed's body, plus ``log_truncated``: true when ``log_tail`` holds fewer lines than
    asked because the response's budget of log text ran out (as GraphQL's logTailTruncated)."""
    return {
        "status": record.status.value.lower(),
        "progress": record.progress,
        "createdAt": iso_millis(record.created_at),
        "updatedAt": iso_millis(record.updated_at),
        "items": [{"platform": item.platform.value.lower(), "code": item.code} for item in items],
        "log_tail": tail.text if tail is not None else "",
        "log_truncated": tail is not None and tail.truncated,
    }


def iso_millis(value: datetime) -> str:
    """``2024-01-15T10:30:00.000Z``: UTC, milliseconds (truncated), a ``Z``."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def _tail_argument(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not _INTEGER.fullmatch(raw.strip()):
        raise BadUserInput(f"tail must be a non-negative integer; got {raw[:32]!r}")
    return int(raw)  # resolve_tail (in find_job) checks the range


async def _process(request: Request, context: Context) -> Response:
    context.require(Scope.SUBMIT)
    body = parse_process_body(await _read_body(request))
    header_key = request.headers.get(IDEMPOTENCY_HEADER)
    key = body.idempotency_key if body.idempotency_key is not None else header_key
    if header_key is not None and header_key != key:
        raise BadUserInput("the Idempotency-Key header and idempotencyKey in the body differ")
    record = await submit_job(context, items=body.items, idempotency_key=key, webhook=body.webhook)
    return OrjsonResponse({"jobId": record.id}, 202)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _guarded(request: Request, handler: Handler, *, invalid_input_status: int) -> Response:
    """Authenticate, run the handler, and turn every failure into a JSON ``detail`` body."""
    state = request.app.state
    context = Context.for_store(state.store, state.settings, request=request)
    try:
        await authenticate(context)
        return await handler(request, context)
    except InvalidJobId as error:
        # The old endpoint answered a malformed id like an unknown one.
        return _detail(404, error.message)
    except BadUserInput as error:
        if invalid_input_status == 422:
            index, field = error.extra.get("index"), error.extra.get("field")
            loc: list[object] = ["body"]
            if isinstance(index, int):
                loc += ["items", index]
            elif isinstance(field, str):
                loc += field.split(".")  # webhook.url -> ["body", "webhook", "url"]
            return _detail(422, [{"loc": loc, "msg": error.message, "type": "value_error"}])
        return _detail(invalid_input_status, error.message)
    except AppError as error:
        return _detail(error.http_status, error.message)
    except MalformedJson as error:
        return _detail(400, str(error))
    except InvalidBody as error:
        return _detail(422, error.detail())
    except BodyTooLarge:
        return _detail(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    except BodyReadTimeout:
        raise  # server.edge_guard answers it (408)
    except Exception:
        # Logged with its stack trace here; the client gets no more than FastAPI would say.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _detail(500, "Internal Server Error")


def _detail(status_code: int, detail: object) -> Response:
    return OrjsonResponse({"detail": detail}, status_code)


def _method_not_allowed(allowed: str) -> Response:
    return OrjsonResponse({"detail": "Method Not Allowed"}, 405, headers={"allow": allowed})
