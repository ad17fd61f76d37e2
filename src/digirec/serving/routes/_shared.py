"""What the route modules share: dependencies (state, metrics, API-key scopes),
parameter types, the documented error responses and small helpers."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import Depends, Header, Path, Query, Request

from digirec.serving import schemas as S
from digirec.serving.auth import require_scope
from digirec.serving.engine.state import ServingState
from digirec.serving.errors import ServingError
from digirec.serving.metrics import ServiceMetrics
from digirec.serving.settings import ServeSettings


# ---------------------------------------------------------------------- dependencies
# Coroutines: FastAPI runs a plain-function dependency in its thread pool, a hop that costs
# more than these attribute reads (and the recommendation hot path runs on the event loop).
def serving_state(request: Request) -> ServingState:
    """The app's :class:`ServingState` (set when the app starts; 503 ``not_ready`` before).

    Called directly by the hottest route (``GET /v1/users/{id}/recommendations``), which
    takes the ``Request`` instead of the :data:`State` dependency: a sub-dependency costs
    FastAPI a second ``solve_dependencies`` pass (path, query, header and cookie parameters
    of the dependency) on every request."""
    state: ServingState | None = getattr(request.app.state, "serving", None)
    if state is None:
        raise ServingError(503, "not_ready", "no model is loaded yet")
    return state


async def get_state(request: Request) -> ServingState:
    """Dependency form of :func:`serving_state`. Handlers read the settings from the state
    (``state.settings``, the app's settings): one dependency less to solve per request."""
    return serving_state(request)


async def get_metrics(request: Request) -> ServiceMetrics:
    """The app's Prometheus collectors."""
    metrics: ServiceMetrics = request.app.state.metrics
    return metrics


State = Annotated[ServingState, Depends(get_state)]
Metrics = Annotated[ServiceMetrics, Depends(get_metrics)]

#: Route dependencies of the scoped endpoints (401 / 403 / 429 before the handler runs).
EVENTS_SCOPE = [Depends(require_scope("events"))]
CATALOGUE_SCOPE = [Depends(require_scope("catalogue"))]
ADMIN_SCOPE = [Depends(require_scope("admin"))]

# ---------------------------------------------------------------------- parameter types
UserIdPath = Annotated[str, Path(pattern=S.ID_PATTERN, description="External user id.")]
ItemIdPath = Annotated[str, Path(pattern=S.ID_PATTERN, description="External item id.")]
# Repeatable filters; absent is ``None`` (treated as no filter), and ``create_app`` drops the
# ``null`` branch from the schema (a query string cannot carry one). Not ``default_factory=list``:
# pydantic then inspects the factory's signature (``inspect.signature(list)``, a parse of its
# text signature) on every request that leaves the parameter out.
Category = Annotated[list[str] | None, Query(description="Only these categories (repeatable).")]
Brand = Annotated[list[str] | None, Query(description="Only these brands (repeatable).")]
MinPrice = Annotated[
    float | None, Query(ge=0, description="Lowest price; above max_price: 422 invalid_filter.")
]
MaxPrice = Annotated[float | None, Query(ge=0, description="Highest price (at least min_price).")]
#: Checked by :func:`list_length` (422 ``invalid_k``); ``create_app`` writes the bounds
#: (1..``max_k``) into the OpenAPI schema, since ``max_k`` is a setting.
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
#: ``None``: the server's ``explain`` setting (``create_app`` writes it into the schema as the
#: default).
Explain = Annotated[bool | None, Query(description="Attach a reason to every item.")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=S.ID_PATTERN,
        description="A retried batch with the same key is stored once (each event without "
        "its own client_event_id gets '<key>#<position>').",
    ),
]


# ---------------------------------------------------------------------- helpers
def list_length(settings: ServeSettings, k: int | None) -> int:
    """``k`` of a request: ``default_k`` when omitted, else 1..``max_k`` (422 ``invalid_k``)."""
    if k is None:
        return settings.default_k
    if not 1 <= k <= settings.max_k:
        raise ServingError(422, "invalid_k", f"k must be between 1 and {settings.max_k}", "k")
    return k


def check_batch_size(settings: ServeSettings, n: int, what: str, field: str) -> None:
    """A request list holds at most ``max_batch`` entries (422 ``batch_too_large``)."""
    if n > settings.max_batch:
        raise ServingError(422, "batch_too_large", f"at most {settings.max_batch} {what}", field)


def explain_or_default(settings: ServeSettings, explain: bool | None) -> bool:
    """The request's ``explain``, else the server's setting."""
    return settings.explain if explain is None else explain


def jsonable(value: Any) -> Any:
    """A stored value as plain JSON (non-finite floats as ``None``)."""
    from digirec.store.base import json_safe

    out = json_safe(value)
    if isinstance(out, float) and not np.isfinite(out):
        return None
    return out
