"""Health: liveness, readiness (model loaded and database answering) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from digirec.serving import schemas as S
from digirec.serving.engine.state import ServingState
from digirec.serving.routes._shared import Metrics

#: Liveness and readiness: never behind a key (load balancers and orchestrators probe them).
router = APIRouter(tags=["health"])
#: ``/metrics``: a read (``create_app`` adds the read-key dependency when reads require one).
reads = APIRouter(tags=["health"])


@reads.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text."}},
)
async def prometheus_metrics(request: Request, metrics: Metrics) -> Response:
    """Prometheus metrics: latency per route, events ingested / duplicate / refused,
    model version, retrain durations, real-time users."""
    state: ServingState | None = getattr(request.app.state, "serving", None)
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(metrics.render(state), media_type=CONTENT_TYPE_LATEST)


@router.get("/health/live", response_model=S.Health)
def live() -> S.Health:
    """The process answers."""
    return S.Health(status="ok")


@router.get(
    "/health/ready",
    response_model=S.Health,
    responses={503: {"model": S.Health, "description": "No model loaded, or no database."}},
)
def ready(request: Request) -> JSONResponse:
    """Ready once a bundle is loaded and the database answers (503 otherwise)."""
    # Not the State dependency: before the app has started this answers 503 "not_ready"
    # with the health body, not an error body.
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
