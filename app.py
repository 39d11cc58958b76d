"""jobgraph's composition root: ``create_app(settings)``, the lifespan, the ``app`` entry, the CLI.

``uvicorn app:app`` works; nothing (settings, engine) is built at import time.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

import engine.sql
from engine.gc import tune_for_serving
from live.pg_broker import new_broker
from live.relay import RelayBroker
from schema.build import build_schema
from server import log_redaction
from server.cors import cors_middleware
from server.edge_guard import EdgeGuardMiddleware
from server.frontend import frontend_routes
from server.graphql_metrics import OperationMetrics
from server.graphql_view import GraphQLView
from server.health import healthz, readyz
from server.http_errors import http_exception
from server.metrics import Metrics, metrics_endpoint
from server.request_context import RequestContextMiddleware
from server.rest import rest_routes
from server.sweeper import LeaseSweeper
from server.webhook_worker import WebhookWorker
from settings import Settings
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.store import Store
from telemetry import tracing

log = logging.getLogger("jobgraph")


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> Starlette:
    settings = settings or Settings()
    # Whatever configured logging (our config, uvicorn's, a test's): no piece of a key in it.
    log_redaction.install()
    traced = tracing.provider() is not None or tracing.wanted()
    observers: list[type[Any]] = [OperationMetrics]
    if traced:
        from schema.tracing import OperationTracing

        tracing.configure()
        engine.sql.observe = tracing.statement_span
        observers.append(OperationTracing)
    schema = build_schema(settings, observers=observers)
    view = GraphQLView(schema=schema, settings=settings, store=None)  # store set in lifespan
    metrics = Metrics()  # per app: tests build many apps, none shares a registry
    metrics.watch_cohorts(view.cohorts)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        db = Database(settings)
        # The store publishes each committed change to the broker; subscriptions follow it.
        # In-process on SQLite; on PostgreSQL, LISTEN/NOTIFY reaches the other processes too,
        # or Redis pub/sub on either database when JOBGRAPH_BROKER_URL names one.
        broker = new_broker(settings)
        store = Store(db, publisher=broker)
        sweeper = LeaseSweeper(store, interval=settings.sweep_interval_seconds)
        if traced:
            tracing.trace_engine(db.engine)
        # Sends the webhook deliveries that are due; every process runs one.
        webhooks = WebhookWorker(store, settings, metrics)
        try:
            if migrate:
                await upgrade_to_head(db)
            if isinstance(broker, RelayBroker):
                await broker.start(store)
            view.store = store
            view.documents.store = store
            view.key_watch.store = store
            metrics.watch_pool(db.pool_status)
            app.state.store = store
            app.state.settings = settings
            app.state.broker = broker
            sweeper.start()
            webhooks.start()
            # Lifespan state: server.graceful finds the broker here to end subscriptions first.
            yield {"broker": broker}
        finally:
            await view.key_watch.close()
            await webhooks.stop()
            await sweeper.stop()
            # Open subscriptions end as completed streams before the database goes away.
            await broker.close(grace=settings.live_shutdown_grace_seconds)
            await db.dispose()

    routes: Sequence[BaseRoute] = [
        # No method list: the view answers any other method with a JSON 405 itself.
        Route("/graphql", view),
        WebSocketRoute("/graphql", view),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        *rest_routes(),  # the original REST endpoint: GET /status/{jobId}, POST /process
        *frontend_routes(),
    ]
    # Outermost, so that every request (CORS preflights too) gets an id, a metric, a log line.
    middleware = [
        Middleware(RequestContextMiddleware, metrics=metrics),
        *cors_middleware(settings),
        # Inside CORS, so a browser can read its refusals too.
        Middleware(EdgeGuardMiddleware, body_read_timeout=settings.body_read_timeout_seconds),
    ]
    if traced:
        from server.server_spans import ServerSpanMiddleware

        # Outermost: the SERVER span (its parent from the caller's traceparent) covers the
        # request's log lines, metrics and everything below.
        middleware.insert(0, Middleware(ServerSpanMiddleware))
    application = Starlette(
        routes=list(routes),
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_exception},
    )
    application.state.metrics = metrics
    # REST spends from the same per-key buckets as GraphQL.
    application.state.rate_limiter = view.rate_limiter
    return application


class _LazyApp:
    """``app:app`` for ASGI servers: builds the real app from the environment on first use."""

    def __init__(self) -> None:
        self._app: Starlette | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            settings = Settings()
            self._app = create_app(settings)
            if settings.fast_paths:
                tune_for_serving(settings.gc_gen0_threshold)
        await self._app(scope, receive, send)


app = _LazyApp()


def main(argv: Sequence[str] | None = None) -> int:
    from cli import run

    return run(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
