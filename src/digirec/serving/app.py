"""The FastAPI application: ``create_app(settings) -> FastAPI``.

No module-level app and no import-time configuration: everything is built from the settings
passed in. Endpoints are plain ``def`` functions, so FastAPI runs them in its thread pool and
numpy / database work never blocks the event loop. Every error body is
``{"error": {"code", "message", "field"?}}``; unexpected exceptions are logged server-side and
answered with a generic 500 that reveals nothing about the internals.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digirec import __version__
from digirec import columns as C
from digirec.artifacts import ItemFilter
from digirec.serving import schemas as S
from digirec.serving.auth import KeyRing, read_key, require_scope
from digirec.serving.errors import ServingError
from digirec.serving.metrics import LatencyMiddleware, ServiceMetrics
from digirec.serving.settings import ServeSettings
from digirec.serving.shopper import ShopperSessions
from digirec.serving.state import Ranked, Rerank, ServingState
from digirec.serving.web import web_router
from digirec.store import EventRecord, Store, open_store
from digirec.store.base import ClientEventIdConflict, DeletedUserError, DeletionRecord

log = logging.getLogger("digirec.serving")

UserIdPath = Annotated[str, Path(pattern=S.ID_PATTERN, description="External user id.")]
ItemIdPath = Annotated[str, Path(pattern=S.ID_PATTERN, description="External item id.")]
# Query parameter types (module level: FastAPI resolves annotations by name).
Category = Annotated[list[str] | None, Query(description="Only these categories (repeatable).")]
Brand = Annotated[list[str] | None, Query(description="Only these brands (repeatable).")]
MinPrice = Annotated[float | None, Query(ge=0)]
MaxPrice = Annotated[float | None, Query(ge=0)]
K = Annotated[int | None, Query(description="List length, 1..max_k (default default_k).")]
Diversity = Annotated[
    float, Query(ge=0.0, le=1.0, description="Category/brand diversity, 0 = pure relevance.")
]
IncludeUnavailable = Annotated[
    bool,
    Query(description="Also return out-of-stock and hidden items (excluded by default)."),
]
Exposure = Annotated[
    float, Query(ge=0.0, le=1.0, description="Long-tail exposure bonus, 0 = none.")
]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": S.ErrorResponse} for code in (401, 403, 404, 409, 410, 413, 422, 429)
}


# ---------------------------------------------------------------------- body size limit
class BodySizeLimit:
    """Reject request bodies larger than ``max_bytes`` with 413 before any handler runs.

    A declared ``Content-Length`` is checked first; a body without one (chunked) is read up to
    the limit and then replayed to the application, so memory stays bounded either way.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await self._reject(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._reject(scope, receive, send)
                return
            chunks.append(body)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = _error(413, "payload_too_large", f"request body exceeds {self.max_bytes} bytes")
        await response(scope, receive, send)


def _error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    detail: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
    return JSONResponse({"error": detail}, status_code=status)


#: Parts pydantic adds to an error location for the member of a union that failed
#: (``float``, ``str``, ``function-after[...]``): not request fields.
_UNION_TAG = re.compile(r"^(float|int|str|bool|none|[a-z-]+\[.*\]|constrained-[a-z]+)$")


def _field_path(loc: tuple[Any, ...]) -> str | None:
    """``("body", "events", 3, "timestamp")`` -> ``"events[3].timestamp"``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, str) and _UNION_TAG.match(part):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or None


# ---------------------------------------------------------------------- app factory
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
    _install_error_handlers(app)
    _add_routes(app, settings)
    app.include_router(web_router(settings))  # shop front, dashboard, admin (serving/web/)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServingError)
    async def _serving(_: Request, exc: ServingError) -> JSONResponse:
        response = _error(exc.status, exc.code, exc.message, exc.field)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        code = "invalid_json" if first.get("type") == "json_invalid" else "validation_error"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem(s))"
        return _error(422, code, message, _field_path(tuple(first.get("loc", ()))))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        response = _error(exc.status_code, codes.get(exc.status_code, "http_error"), message)
        # Keep the protocol headers (405 Allow, 401 WWW-Authenticate ...).
        response.headers.update(getattr(exc, "headers", None) or {})
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Full details go to the server log only; the client learns nothing about internals.
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal_error", "internal server error")


def _state(request: Request) -> ServingState:
    state: ServingState = request.app.state.serving
    return state


def _k(settings: ServeSettings, k: int | None) -> int:
    if k is None:
        return settings.default_k
    if not 1 <= k <= settings.max_k:
        raise ServingError(422, "invalid_k", f"k must be between 1 and {settings.max_k}", "k")
    return k


def _filter(
    category: list[str] | None,
    brand: list[str] | None,
    min_price: float | None,
    max_price: float | None,
    in_stock: bool | None,
    include_unavailable: bool = False,
) -> ItemFilter:
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ServingError(422, "invalid_filter", "min_price exceeds max_price", "min_price")
    return ItemFilter(
        categories=category or None,
        brands=brand or None,
        min_price=min_price,
        max_price=max_price,
        in_stock=in_stock,
        include_unavailable=include_unavailable,
    )


def _body_filter(body: S.SessionRequest | S.BatchRequest) -> ItemFilter:
    """The item filter of a request body (session and batch requests carry the same fields)."""
    return _filter(
        body.category,
        body.brand,
        body.min_price,
        body.max_price,
        body.in_stock,
        body.include_unavailable,
    )


def _render(
    state: ServingState, ranked: Ranked, explain: bool, **ids: str | None
) -> S.RecommendationResponse:
    cat = ranked.current.catalogue
    explanations = state.explain(ranked) if explain else [None] * len(ranked.rows)
    items = []
    for rank, (row, score, exp) in enumerate(
        zip(ranked.rows.tolist(), ranked.scores.tolist(), explanations, strict=True), start=1
    ):
        item_id, title, brand, category, price, stock = cat.card(row)
        items.append(
            S.RecommendedItem(
                item_id=item_id,
                score=float(score),
                rank=rank,
                title=title,
                brand=brand,
                category=category,
                price=price,
                in_stock=stock,
                explanation=None if exp is None else S.Explanation(**exp),
            )
        )
    return S.RecommendationResponse(
        source=ranked.source,  # type: ignore[arg-type]
        model_version=ranked.model_version,
        strategy=ranked.strategy,
        reranked=ranked.reranked,
        ignored_item_ids=ranked.ignored_item_ids,
        items=items,
        **ids,
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _json(body: S.RecommendationResponse) -> Response:
    """The response serialised once by pydantic-core (returning the model would have FastAPI
    validate it against ``response_model`` again before serialising; the schema in the docs
    stays ``response_model``)."""
    return Response(body.model_dump_json(), media_type="application/json")


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=S.ID_PATTERN,
        description="A retried batch with the same key is stored once (each event without "
        "its own client_event_id gets '<key>#<position>').",
    ),
]


def _add_routes(app: FastAPI, settings: ServeSettings) -> None:
    metrics: ServiceMetrics = app.state.metrics
    # Reads declare (and check) the API key only when the server requires one for reads, so
    # the OpenAPI schema says what the server does.
    read = [Depends(read_key)] if settings.read_requires_key else []
    events_scope = [Depends(require_scope("events"))]
    catalogue_scope = [Depends(require_scope("catalogue"))]
    admin_scope = [Depends(require_scope("admin"))]
    explain_default = settings.explain

    # ------------------------------------------------------------------ metrics
    @app.get(
        "/metrics",
        dependencies=read,
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text."}},
        tags=["health"],
    )
    async def prometheus_metrics(request: Request) -> Response:
        """Prometheus metrics: latency per route, events ingested / duplicate / refused,
        model version, retrain durations, real-time users."""
        state: ServingState | None = getattr(request.app.state, "serving", None)
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics.render(state), media_type=CONTENT_TYPE_LATEST)

    # ------------------------------------------------------------------ health
    @app.get("/health/live", response_model=S.Health, tags=["health"])
    def live() -> S.Health:
        """The process answers."""
        return S.Health(status="ok")

    @app.get("/health/ready", response_model=S.Health, tags=["health"])
    def ready(request: Request) -> JSONResponse:
        """Ready once a bundle is loaded and the database answers (503 otherwise)."""
        state: ServingState | None = getattr(request.app.state, "serving", None)
        loaded = state is not None and state.is_loaded
        database = state is not None and state.store.ping()
        body = S.Health(
            status="ready" if loaded and database else "not_ready",
            model_loaded=loaded,
            database=database,
            model_version=state.current.snapshot.version if loaded and state else None,
        )
        return JSONResponse(body.model_dump(), status_code=200 if loaded and database else 503)

    # ------------------------------------------------------------------ recommendations
    @app.get(
        "/v1/users/{user_id}/recommendations",
        response_model=S.RecommendationResponse,
        response_model_exclude_none=False,
        dependencies=read,
        responses=_ERRORS,
        tags=["recommendations"],
    )
    async def user_recommendations(
        request: Request,
        user_id: UserIdPath,
        k: K = None,
        category: Category = None,
        brand: Brand = None,
        min_price: MinPrice = None,
        max_price: MaxPrice = None,
        in_stock: bool | None = None,
        exclude_seen: bool = True,
        exclude_purchased: bool = True,
        include_unavailable: IncludeUnavailable = False,
        diversity: Diversity = 0.0,
        exposure: Exposure = 0.0,
        explain: bool = explain_default,
    ) -> Response:
        """Top-k for a user. Unknown users get ``popular`` (``popular_in_category`` under a
        category filter); events posted a moment ago already count."""
        state = _state(request)
        size = _k(settings, k)
        item_filter = _filter(category, brand, min_price, max_price, in_stock, include_unavailable)

        def run() -> Response:
            ranked = state.recommend_user(
                user_id,
                size,
                item_filter,
                exclude_seen=exclude_seen,
                exclude_purchased=exclude_purchased,
                rerank=Rerank(diversity, exposure),
            )
            return _json(_render(state, ranked, explain, user_id=user_id))

        if explain or not exclude_seen:
            # Explanations and purchase look-ups read the database: off the event loop.
            return await run_in_threadpool(run)
        # The hot path is in-memory numpy work of a fraction of a millisecond: run it on the
        # event loop. A thread-pool hop costs more than that (hand-off, wake-ups, GIL).
        return run()

    @app.get(
        "/v1/items/{item_id}/similar",
        response_model=S.RecommendationResponse,
        dependencies=read,
        responses=_ERRORS,
        tags=["recommendations"],
    )
    def similar_items(
        request: Request,
        item_id: ItemIdPath,
        k: K = None,
        category: Category = None,
        brand: Brand = None,
        min_price: MinPrice = None,
        max_price: MaxPrice = None,
        in_stock: bool | None = None,
        include_unavailable: IncludeUnavailable = False,
        explain: bool = explain_default,
    ) -> S.RecommendationResponse:
        """Items similar to one item (``source="similar_items"``)."""
        state = _state(request)
        item_filter = _filter(category, brand, min_price, max_price, in_stock, include_unavailable)
        ranked = state.similar(item_id, _k(settings, k), item_filter)
        return _render(state, ranked, explain, item_id=item_id)

    @app.post(
        "/v1/recommendations/session",
        response_model=S.RecommendationResponse,
        dependencies=read,
        responses=_ERRORS,
        tags=["recommendations"],
    )
    def session_recommendations(
        request: Request, body: S.SessionRequest, explain: bool = explain_default
    ) -> S.RecommendationResponse:
        """Recommendations for an anonymous session (``source="session"``)."""
        if len(body.item_ids) > settings.max_batch:
            raise ServingError(
                422, "batch_too_large", f"at most {settings.max_batch} item ids", "item_ids"
            )
        state = _state(request)
        ranked = state.recommend_session(
            body.item_ids,
            _k(settings, body.k),
            _body_filter(body),
            exclude_seen=body.exclude_seen,
            rerank=Rerank(body.diversity, body.exposure),
        )
        return _render(state, ranked, explain)

    @app.post(
        "/v1/recommendations/batch",
        response_model=S.BatchResponse,
        dependencies=read,
        responses=_ERRORS,
        tags=["recommendations"],
    )
    def batch_recommendations(
        request: Request, body: S.BatchRequest, explain: bool = False
    ) -> S.BatchResponse:
        """Lists for many users in one call (each as ``GET /v1/users/{id}/recommendations``)."""
        if len(body.user_ids) > settings.max_batch:
            raise ServingError(
                422, "batch_too_large", f"at most {settings.max_batch} user ids", "user_ids"
            )
        state = _state(request)
        size = _k(settings, body.k)
        item_filter = _body_filter(body)
        results = [
            _render(
                state,
                state.recommend_user(user_id, size, item_filter, exclude_seen=body.exclude_seen),
                explain,
                user_id=user_id,
            )
            for user_id in body.user_ids
        ]
        return S.BatchResponse(results=results)

    # ------------------------------------------------------------------ events
    @app.post(
        "/v1/events",
        response_model=S.EventsAccepted,
        dependencies=events_scope,
        responses=_ERRORS,
        tags=["events"],
    )
    def post_events(
        request: Request, body: S.EventBatch, idempotency_key: IdempotencyKey = None
    ) -> S.EventsAccepted:
        """Store a batch of events in one transaction; answers only after it committed.

        Events of a deleted user are refused (410 ``user_deleted``, nothing of the batch
        stored) until the user is created again with ``PUT /v1/users/{user_id}``. A retry
        with the same ``client_event_id`` / ``Idempotency-Key`` stores nothing new.
        """
        if len(body.events) > settings.max_batch:
            raise ServingError(
                422, "batch_too_large", f"at most {settings.max_batch} events per batch", "events"
            )
        state = _state(request)
        now = time.time()
        latest = now + settings.max_clock_skew_s
        for i, event in enumerate(body.events):
            if not settings.accept_unknown_items and not state.knows_item(event.item_id):
                raise ServingError(
                    422,
                    "unknown_item",
                    f"unknown item id {event.item_id!r} (add it with PUT /v1/items first)",
                    f"events[{i}].item_id",
                )
            if event.timestamp is not None and float(event.timestamp) > latest:
                raise ServingError(
                    422,
                    "timestamp_in_future",
                    f"timestamp lies more than {settings.max_clock_skew_s:g} s after the "
                    "server's clock",
                    f"events[{i}].timestamp",
                )
        records = [
            EventRecord(
                user_id=e.user_id,
                item_id=e.item_id,
                event=e.event,
                timestamp=now if e.timestamp is None else float(e.timestamp),
                rating=None if e.rating is None else float(e.rating),
                weight=None if e.weight is None else float(e.weight),
                client_event_id=e.client_event_id
                if e.client_event_id is not None or idempotency_key is None
                else f"{idempotency_key}#{i}",
            )
            for i, e in enumerate(body.events)
        ]
        try:
            stored = state.store.add_events(records)  # returns after COMMIT
        except DeletedUserError as exc:
            state.count_refused(len(exc.user_ids))
            metrics.refused.inc(sum(r.user_id in exc.user_ids for r in records))
            raise ServingError(
                410, "user_deleted", str(exc), f"events[{exc.positions[0]}].user_id"
            ) from None
        except ClientEventIdConflict as exc:
            raise ServingError(
                409, "client_event_id_conflict", str(exc), f"events[{exc.position}].client_event_id"
            ) from None
        fresh = [e for e in stored if not e.duplicate]
        state.record_events(fresh)
        metrics.events.inc(len(fresh))
        metrics.duplicates.inc(len(stored) - len(fresh))
        return S.EventsAccepted(
            accepted=len(stored),
            duplicates=sum(e.duplicate for e in stored),
            first_event_id=stored[0].event_id,
            last_event_id=stored[-1].event_id,
        )

    # ------------------------------------------------------------------ catalogue and users
    @app.put(
        "/v1/items/{item_id}",
        response_model=S.ItemOut,
        dependencies=catalogue_scope,
        responses={**_ERRORS, 201: {"description": "Created."}},
        tags=["catalogue"],
    )
    def put_item(request: Request, item_id: ItemIdPath, body: S.ItemIn) -> JSONResponse:
        """Create or update a catalogue item; a new item is recommendable at once."""
        state = _state(request)
        typed = body.model_dump(exclude={"attributes"})
        record: dict[str, Any] = {**body.attributes, **typed, C.ITEM_ID: item_id}
        state.store.upsert_items([record])
        created, via, neighbour = state.upsert_item(record)
        out = S.ItemOut(
            item_id=item_id,
            created=created,
            recommendable_via=via,
            neighbour_item_id=neighbour,
            model_version=state.current.snapshot.version,
        )
        return JSONResponse(out.model_dump(), status_code=201 if created else 200)

    @app.get(
        "/v1/items/{item_id}",
        response_model=S.ItemRecord,
        dependencies=read,
        responses=_ERRORS,
        tags=["catalogue"],
    )
    def get_item(request: Request, item_id: ItemIdPath) -> S.ItemRecord:
        """A stored catalogue item and how the served model reaches it."""
        state = _state(request)
        record = state.store.get_item(item_id)
        if record is None:
            raise ServingError(404, "unknown_item", f"unknown item id {item_id!r}", "item_id")
        row = state.current.catalogue.positions.get(item_id)
        attributes = {k: _jsonable(v) for k, v in record.items() if k != C.ITEM_ID}
        via = None if row is None else state.current.catalogue.via(row)
        return S.ItemRecord(item_id=item_id, attributes=attributes, recommendable_via=via)

    @app.delete(
        "/v1/items/{item_id}",
        status_code=204,
        response_class=Response,
        dependencies=catalogue_scope,
        responses=_ERRORS,
        tags=["catalogue"],
    )
    def delete_item(request: Request, item_id: ItemIdPath) -> Response:
        """Remove an item from the catalogue: never recommended again (its events stay)."""
        state = _state(request)
        if not state.store.delete_item(item_id):
            raise ServingError(404, "unknown_item", f"unknown item id {item_id!r}", "item_id")
        state.remove_item(item_id)
        return Response(status_code=204)

    @app.get(
        "/v1/users/{user_id}",
        response_model=S.UserRecord,
        dependencies=admin_scope,
        responses=_ERRORS,
        tags=["users"],
    )
    def get_user(request: Request, user_id: UserIdPath) -> S.UserRecord:
        """A stored user: attributes, number of events, deletion state (personal data, so
        the admin scope)."""
        state = _state(request)
        record = state.store.get_user(user_id)
        n_events = state.store.count_events(user_id)
        deleted = state.store.tombstone(user_id) is not None
        known = state.current.snapshot.user_row(user_id) is not None
        if record is None and not n_events and not deleted and not known:
            raise ServingError(404, "unknown_user", f"unknown user id {user_id!r}", "user_id")
        attributes = {k: _jsonable(v) for k, v in (record or {}).items() if k != C.USER_ID}
        return S.UserRecord(
            user_id=user_id,
            attributes=attributes,
            n_events=n_events,
            known_to_model=known,
            deleted=deleted,
        )

    @app.put(
        "/v1/users/{user_id}",
        response_model=S.UserOut,
        dependencies=catalogue_scope,
        responses={**_ERRORS, 201: {"description": "Created."}},
        tags=["users"],
    )
    def put_user(request: Request, user_id: UserIdPath, body: S.UserIn) -> JSONResponse:
        """Create or update a user's attributes; creating a deleted user again lifts the
        deletion's tombstone (their events are accepted again)."""
        state = _state(request)
        attributes = {k: v for k, v in body.attributes.items() if k != C.USER_ID}
        created = state.store.upsert_users([{C.USER_ID: user_id, **attributes}])[0]
        out = S.UserOut(user_id=user_id, created=created)
        return JSONResponse(out.model_dump(), status_code=201 if created else 200)

    @app.get(
        "/v1/users/{user_id}/profile",
        response_model=dict[str, Any],
        dependencies=read,
        responses=_ERRORS,
        tags=["users"],
    )
    def user_profile(request: Request, user_id: UserIdPath) -> dict[str, Any]:
        """Affinities to brands, categories and price bands, activity and recency."""
        return _state(request).profile(user_id)

    # ------------------------------------------------------------------ search
    @app.get(
        "/v1/search",
        response_model=S.SearchResponse,
        dependencies=read,
        responses=_ERRORS,
        tags=["search"],
    )
    def search(
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=500, description="Query (EN or ZH).")],
        user_id: Annotated[str | None, Query(pattern=S.ID_PATTERN)] = None,
        k: K = None,
    ) -> S.SearchResponse:
        """Natural-language product search, personalised by the user's scores when given."""
        state = _state(request)
        current, engine = state.search_engine()
        user_scores = state.user_scores(user_id) if user_id else None
        result = engine.search(q, _k(settings, k), user_scores=user_scores)
        frame = result.items
        cat = current.catalogue
        items = []
        for rec in frame.to_dict(orient="records"):
            row = cat.positions.get(str(rec[C.ITEM_ID]))
            price = cat.value(row, C.PRICE) if row is not None else rec.get(C.PRICE)
            items.append(
                S.SearchItem(
                    item_id=str(rec[C.ITEM_ID]),
                    score=float(rec[C.SCORE]),
                    rank=int(rec[C.RANK]),
                    title=_text(cat.value(row, C.TITLE)) if row is not None else None,
                    brand=_text(cat.value(row, C.BRAND)) if row is not None else None,
                    category=_text(cat.value(row, C.CATEGORY)) if row is not None else None,
                    price=None if price is None or price != price else float(price),
                )
            )
        return S.SearchResponse(
            query=q,
            user_id=user_id,
            personalised=user_scores is not None,
            model_version=current.snapshot.version,
            constraints=_jsonable(result.constraints),
            items=items,
        )

    # ------------------------------------------------------------------ privacy
    @app.delete(
        "/v1/users/{user_id}",
        response_model=S.DeletionOut,
        status_code=202,
        dependencies=admin_scope,
        responses=_ERRORS,
        tags=["privacy"],
    )
    def delete_user(
        request: Request,
        user_id: UserIdPath,
        purge: Literal["immediate", "scheduled"] = "scheduled",
    ) -> S.DeletionOut:
        """Delete a user's data from the store and the serving state now; purge their
        influence on the model by a retrain now (``immediate``) or at the next one."""
        state = _state(request)
        known = (
            state.store.get_user(user_id) is not None
            or state.store.count_events(user_id) > 0
            or state.current.snapshot.user_row(user_id) is not None
            or bool(state.realtime_events(user_id))
        )
        if not known:
            raise ServingError(404, "unknown_user", f"unknown user id {user_id!r}", "user_id")
        record = state.store.delete_user(user_id, purge=purge)
        state.forget_user(user_id)
        if purge == "immediate":
            state.purge_in_background()
        return _deletion_out(record)

    @app.get(
        "/v1/privacy/deletions/{deletion_id}",
        response_model=S.DeletionOut,
        dependencies=admin_scope,
        responses=_ERRORS,
        tags=["privacy"],
    )
    def deletion_status(
        request: Request, deletion_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
    ) -> S.DeletionOut:
        """pending -> purged (with the model version that no longer contains the user)."""
        record = _state(request).store.get_deletion(deletion_id)
        if record is None:
            raise ServingError(404, "unknown_deletion", "unknown deletion id", "deletion_id")
        return _deletion_out(record)

    # ------------------------------------------------------------------ admin / model
    @app.post(
        "/v1/admin/retrain",
        response_model=S.RetrainOut,
        dependencies=admin_scope,
        responses=_ERRORS,
        tags=["admin"],
    )
    def retrain(request: Request) -> S.RetrainOut:
        """Train on the store's data with the served config and swap atomically."""
        result = _state(request).retrain(reason="admin")
        return S.RetrainOut(
            model_version=result.model_version,
            model=result.model,
            n_users=result.n_users,
            n_items=result.n_items,
            n_interactions=result.n_interactions,
            fit_seconds=result.fit_seconds,
            purged_deletions=result.purged_deletions,
        )

    @app.get("/v1/model", response_model=S.ModelInfo, dependencies=read, tags=["admin"])
    def model_info(request: Request) -> S.ModelInfo:
        """The served model: name, version, config, training time and size."""
        state = _state(request)
        current = state.current
        snap = current.snapshot
        model = snap.model
        return S.ModelInfo(
            name=model.name,
            version=snap.version,
            config=model.get_config(),
            trained_at=snap.trained_at,
            n_users=model.n_users,
            n_items=model.n_items,
            n_catalogue_items=current.catalogue.n_rows,
            supports_history=model.supports_history,
            supports_cold_items=model.supports_cold_items,
            cold_items="attribute_neighbour",
            store=state.store.backend,
            training=snap.manifest.get("training"),
            problems=list(state.problems),
        )


def _jsonable(value: Any) -> Any:
    from digirec.store.base import json_safe

    out = json_safe(value)
    if isinstance(out, float) and not np.isfinite(out):
        return None
    return out


def _deletion_out(record: DeletionRecord) -> S.DeletionOut:
    """The API view of a deletion record (purge time and model version once purged)."""
    return S.DeletionOut(
        deletion_id=record.deletion_id,
        status=record.status,
        purge=record.purge,
        n_events_deleted=record.n_events_deleted,
        requested_at=record.requested_at,
        purged_at=record.purged_at,
        model_version=record.model_version,
    )
