"""Prometheus metrics, one registry per app (tests build many apps; nothing is global).

Each server process exposes its own numbers at ``GET /metrics``: with ``--workers N`` a scrape
reaches one worker, so scrape each process (see docs/operations.md).

Live updates count their subscriptions with two calls (the GraphQL metrics extension already
does this for every subscription that runs through the schema)::

    metrics.subscription_opened()   # when a subscription starts streaming
    metrics.subscription_closed()   # when it ends, however it ends (put it in a ``finally``)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

# Operation names come from clients: past this many distinct names a process labels the rest
# "other", so a client cannot grow the metrics without bound.
MAX_OPERATION_NAMES = 500
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# A webhook attempt waits on someone else's server, up to JOBGRAPH_WEBHOOK_TIMEOUT_SECONDS.
_WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60)
PoolStatus = Callable[[], dict[str, int]]


class _PoolCollector(Collector):
    """Reads the database pool at scrape time, so the numbers are never stale."""

    def __init__(self) -> None:
        self.source: PoolStatus | None = None

    def collect(self) -> Iterable[Metric]:
        stats = self.source() if self.source is not None else {"size": 0, "checked_out": 0}
        size = GaugeMetricFamily("jobgraph_db_pool_size", "Connections the pool keeps open")
        size.add_metric([], stats.get("size", 0))
        used = GaugeMetricFamily(
            "jobgraph_db_pool_checked_out", "Connections currently lent to a unit of work"
        )
        used.add_metric([], stats.get("checked_out", 0))
        return [size, used]


class _CohortCollector(Collector):
    """Reads the subscription cohorts (``server.cohorts``) at scrape time."""

    def __init__(self) -> None:
        self.source: Any = None

    def collect(self) -> Iterable[Metric]:
        cohorts = self.source
        count = GaugeMetricFamily(
            "jobgraph_live_cohorts", "Subscription cohorts running one shared execution"
        )
        count.add_metric([], cohorts.count if cohorts is not None else 0)
        members = GaugeMetricFamily(
            "jobgraph_live_cohort_members", "Subscribers that belong to a cohort"
        )
        members.add_metric([], cohorts.members if cohorts is not None else 0)
        executions = CounterMetricFamily(
            "jobgraph_live_cohort_executions",
            "Results executed and encoded once for a whole cohort",
        )
        executions.add_metric([], cohorts.executions if cohorts is not None else 0)
        return [count, members, executions]


class Metrics:
    """The app's metrics. ``app.state.metrics``; the extension and middleware record into it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.operations = Counter(
            "jobgraph_graphql_operations",
            "GraphQL operations by type, name and outcome (ok or the error code)",
            ["operation_type", "operation_name", "outcome"],
            registry=self.registry,
        )
        self.operation_seconds = Histogram(
            "jobgraph_graphql_operation_seconds",
            "Time to answer a query or mutation",
            ["operation_type", "operation_name"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http_seconds = Histogram(
            "jobgraph_http_request_seconds",
            "HTTP requests by method, route and status",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.active_subscriptions = Gauge(
            "jobgraph_active_subscriptions",
            "Subscriptions streaming right now in this process",
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "jobgraph_webhook_deliveries",
            "Webhook delivery attempts by event and outcome (succeeded, failed: another "
            "attempt follows, gave_up: none follows)",
            ["event", "outcome"],
            registry=self.registry,
        )
        self.webhook_seconds = Histogram(
            "jobgraph_webhook_delivery_seconds",
            "Time from the start of a webhook attempt to the receiver's answer (or failure)",
            ["event"],
            buckets=_WEBHOOK_BUCKETS,
            registry=self.registry,
        )
        self._names: set[str] = set()
        # Labelled children by label values: prometheus_client's labels() validates and locks
        # on every call. All label values are bounded (names capped, routes from the router).
        self._children: dict[tuple[object, tuple[str, ...]], Any] = {}
        self._pool = _PoolCollector()
        self.registry.register(self._pool)
        self._cohorts = _CohortCollector()
        self.registry.register(self._cohorts)

    def watch_pool(self, source: PoolStatus) -> None:
        self._pool.source = source

    def watch_cohorts(self, cohorts: Any) -> None:
        self._cohorts.source = cohorts
        if cohorts is not None:
            cohorts.opened = self.subscription_opened
            cohorts.closed = self.subscription_closed

    def subscription_opened(self) -> None:
        self.active_subscriptions.inc()

    def subscription_closed(self) -> None:
        self.active_subscriptions.dec()

    def observe_operation(
        self, *, operation_type: str, operation_name: str, outcome: str, seconds: float | None
    ) -> None:
        if operation_name not in self._names:
            if len(self._names) >= MAX_OPERATION_NAMES:
                operation_name = "other"
            else:
                self._names.add(operation_name)
        self._child(self.operations, operation_type, operation_name, outcome).inc()
        if seconds is not None:
            self._child(self.operation_seconds, operation_type, operation_name).observe(seconds)

    def observe_webhook(self, *, event: str, outcome: str, seconds: float) -> None:
        self._child(self.webhook_deliveries, event, outcome).inc()
        self._child(self.webhook_seconds, event).observe(seconds)

    def observe_http(self, *, method: str, route: str, status: int, seconds: float) -> None:
        self._child(self.http_seconds, method, route, str(status)).observe(seconds)

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child


def metrics_of(request: HTTPConnection) -> Metrics | None:
    """The app's metrics from a request or WebSocket (``None`` outside an app, e.g. in tests)."""
    app = request.scope.get("app")
    state = getattr(app, "state", None)
    metrics = getattr(state, "metrics", None)
    return metrics if isinstance(metrics, Metrics) else None


async def metrics_endpoint(request: Request) -> Response:
    metrics = metrics_of(request)
    # Prometheus text by default, OpenMetrics when the scraper asks for it.
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    body = encode(metrics.registry) if metrics is not None else b""
    return Response(body, headers={"content-type": content_type})
