"""The FastAPI application: ``create_app(settings) -> FastAPI``.

No module-level app and no import-time configuration: everything is built from the settings
passed in. The routes live in :mod:`digirec.serving.routes` (one module per resource), the work
behind them in :mod:`digirec.serving.engine` (no FastAPI there); this module wires settings,
state, middleware, error handlers and routers. Endpoints are plain ``def`` functions unless
they are pure in-memory work, so FastAPI runs them in its thread pool and numpy / database work
never blocks the event loop. Every error body is ``{"error": {"code", "message", "field"?}}``
(:mod:`digirec.serving.handlers`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from digirec import __version__
from digirec.serving import schemas as S
from digirec.serving.auth import KeyRing, read_key
from digirec.serving.engine.state import ServingState
from digirec.serving.handlers import install_error_handlers
from digirec.serving.metrics import LatencyMiddleware, ServiceMetrics
from digirec.serving.middleware import BodySizeLimit
from digirec.serving.routes import (
    admin,
    catalogue,
    events,
    health,
    privacy,
    recommendations,
    search,
    users,
)
from digirec.serving.settings import ServeSettings
from digirec.serving.shopper import ShopperSessions
from digirec.serving.web import web_router
from digirec.store import Store, open_store


def create_app(settings: ServeSettings, *, store: Store | None = None) -> FastAPI:
    """Build the service.

    Parameters
    ----------
    settings:
        Service settings; the bundle is loaded and the store opened when the app starts
        (ASGI lifespan), so ``/health/ready`` turns 200 only after both worked.
    store:
        An already opened store (tests); default: ``open_store(settings.database_url)``.
    """
    owns_store = store is None
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = store if store is not None else open_store(settings.database_url)
        state = ServingState(settings, opened)
        state.on_retrain.append(metrics.retrain_seconds.observe)
        app.state.store = opened
        app.state.serving = state
        state.start()
        try:
            yield
        finally:
            state.wait_for_purges(timeout=5.0)
            if owns_store:
                opened.close()

    app = FastAPI(
        title="digirec recommendation service",
        version=__version__,
        description="Recommendations, real-time events, catalogue, privacy and search for "
        "electronics shops. Write, delete and admin endpoints need an X-API-Key header.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.key_ring = KeyRing(settings)
    secret = settings.web_session_secret
    app.state.shopper_sessions = ShopperSessions(
        None if secret is None else secret.get_secret_value().encode(),
        ttl_s=settings.web_session_ttl_s,
        per_minute=settings.web_session_events_per_minute,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Outermost: the latency of 413s and errors counts too.
    app.add_middleware(LatencyMiddleware, metrics=metrics)
    install_error_handlers(app)
    # Reads declare (and check) the API key only when the server requires one for reads, so
    # the OpenAPI schema says what the server does.
    read = [Depends(read_key)] if settings.read_requires_key else []
    # ... and the key check's errors (401 / 403 / 429) exactly there, too.
    read_errors = S.error_responses(*S.AUTH_ERRORS) if settings.read_requires_key else None
    # The hot path first: a request is matched against the included routers in order.
    app.include_router(recommendations.reads, dependencies=read, responses=read_errors)
    app.include_router(health.reads, dependencies=read, responses=read_errors)
    app.include_router(health.router)
    app.include_router(events.router)
    app.include_router(catalogue.router)
    app.include_router(catalogue.reads, dependencies=read, responses=read_errors)
    app.include_router(users.router)
    app.include_router(users.reads, dependencies=read, responses=read_errors)
    app.include_router(search.reads, dependencies=read, responses=read_errors)
    app.include_router(privacy.router)
    app.include_router(admin.router)
    app.include_router(admin.reads, dependencies=read, responses=read_errors)
    app.include_router(web_router(settings))  # shop front, dashboard, admin (serving/web/)
    _document_settings(app, settings)
    return app


def _document_settings(app: FastAPI, settings: ServeSettings) -> None:
    """Write the limits and defaults that are settings into the OpenAPI schema.

    The routers are module-level (shared by every app), so what depends on this app's
    settings is filled in here: ``k`` is 1..``max_k`` (out of range: 422 ``invalid_k``),
    request lists hold at most ``max_batch`` entries (422 ``batch_too_large``), ``explain``
    defaults to the ``explain`` setting, and no query parameter has a ``null`` branch. The
    checks themselves stay in the handlers, so the error codes are the service's own.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                for param in operation.get("parameters", ()):
                    if param.get("in") != "query":
                        continue
                    _drop_null(param["schema"])
                    if param["name"] == "k":
                        _bound_integer(param["schema"], settings.max_k)
                    elif param["name"] == "explain" and "default" not in param["schema"]:
                        # Null cannot be sent in a query string: the parameter is a boolean.
                        param["schema"] = {
                            "type": "boolean",
                            "default": settings.explain,
                            "title": param["schema"].get("title", "Explain"),
                        }
        components = schema.get("components", {}).get("schemas", {})
        for name, field in (
            ("SessionRequest", "item_ids"),
            ("BatchRequest", "user_ids"),
            ("EventBatch", "events"),
        ):
            properties = components.get(name, {}).get("properties", {})
            if field in properties:
                properties[field]["maxItems"] = settings.max_batch
            if name != "EventBatch" and "k" in properties:
                _bound_integer(properties["k"], settings.max_k)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _drop_null(schema: dict[str, Any]) -> None:
    """Drop the ``null`` branch of an optional query parameter's schema (in place): a query
    string cannot carry a null, an absent parameter is how a client leaves it unset."""
    branches = schema.get("anyOf")
    if not branches:
        return
    kept = [branch for branch in branches if branch.get("type") != "null"]
    if len(kept) == 1:
        del schema["anyOf"]
        schema.update(kept[0])
    else:
        schema["anyOf"] = kept


def _bound_integer(schema: dict[str, Any], maximum: int) -> None:
    """Set ``minimum: 1`` / ``maximum`` on an integer schema (or its integer branch)."""
    branches = schema.get("anyOf", [schema])
    for branch in branches:
        if branch.get("type") == "integer":
            branch.setdefault("minimum", 1)
            branch["maximum"] = maximum
