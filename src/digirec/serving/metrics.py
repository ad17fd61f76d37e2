"""Prometheus metrics of the service (``GET /metrics``, the text exposition format).

One registry per app (tests build many apps in one process). What is measured:

``digirec_request_seconds``           latency histogram per route template, method and status
``digirec_events_ingested_total``     events stored by ``POST /v1/events`` (duplicates apart)
``digirec_events_duplicate_total``    events of retried batches not stored again
``digirec_events_refused_total``      events refused because their user was deleted
``digirec_model_version``             version of the served model
``digirec_retrain_seconds``           duration of retrains (admin and privacy purges)
``digirec_realtime_users``            users with real-time events held in memory

The latency middleware is plain ASGI (no per-request objects beyond a timer) so it costs a few
microseconds on the hot path.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from digirec.serving.engine.state import ServingState

#: Latency buckets in seconds: sub-millisecond resolution where the hot path lives.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
)  # fmt: skip


class ServiceMetrics:
    """The service's collectors on their own registry."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "digirec_request_seconds",
            "Request latency by route template, method and status.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events = Counter("digirec_events_ingested", "Events stored.", registry=self.registry)
        self.duplicates = Counter(
            "digirec_events_duplicate",
            "Events of retried batches recognised and not stored again.",
            registry=self.registry,
        )
        self.refused = Counter(
            "digirec_events_refused",
            "Events refused because their user was deleted.",
            registry=self.registry,
        )
        self.model_version = Gauge(
            "digirec_model_version", "Version of the served model.", registry=self.registry
        )
        self.retrain_seconds = Histogram(
            "digirec_retrain_seconds",
            "Duration of retrains (data snapshot, fit, bundle write, swap).",
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600),
            registry=self.registry,
        )
        self.realtime_users = Gauge(
            "digirec_realtime_users",
            "Users with real-time events held in memory.",
            registry=self.registry,
        )

    def render(self, state: ServingState | None) -> bytes:
        """The exposition text; gauges read from the state at scrape time."""
        from prometheus_client import generate_latest

        if state is not None and state.is_loaded:
            self.model_version.set(state.current.snapshot.version)
            self.realtime_users.set(state.n_realtime_users)
        return bytes(generate_latest(self.registry))


#: Methods kept as a label value; any other (clients may send any token) counts as "other",
#: so a client cannot grow the label set without bound.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class LatencyMiddleware:
    """Observe every HTTP request's latency under its route template (``/v1/users/{user_id}
    /recommendations``, never the raw path: ids would explode the label set)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.latency.labels(template, method, str(status[0])).observe(
                time.perf_counter() - started
            )
