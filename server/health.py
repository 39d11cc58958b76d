"""Liveness and readiness probes (no authentication)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from domain.errors import Unavailable
from live.redis_wire import RedisBroker
from server.responses import OrjsonResponse
from storage.migrate import is_at_head


async def healthz(request: Request) -> Response:
    return OrjsonResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    db = request.app.state.store.db
    try:
        await db.ping()
        migrated = await is_at_head(db)
    except Unavailable:
        return OrjsonResponse({"status": "unavailable", "database": "unreachable"}, 503)
    if not migrated:
        return OrjsonResponse({"status": "unavailable", "database": "not migrated"}, 503)
    broker = getattr(request.app.state, "broker", None)
    if isinstance(broker, RedisBroker):  # configured with JOBGRAPH_BROKER_URL
        if not await broker.healthy():
            body = {"status": "unavailable", "database": "ok", "broker": "unreachable"}
            return OrjsonResponse(body, 503)
        return OrjsonResponse({"status": "ok", "database": "ok", "broker": "ok"})
    return OrjsonResponse({"status": "ok", "database": "ok"})
