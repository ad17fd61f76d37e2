"""Admin and the served model: retrain on the store's data, describe the served model."""

from __future__ import annotations

from fastapi import APIRouter

from digirec.serving import schemas as S
from digirec.serving.routes._shared import ADMIN_SCOPE, State

_NO_DATA = "The store has no events to train on: `no_data`."

#: Needs a key with the ``admin`` scope.
router = APIRouter(tags=["admin"])
#: Reads (``create_app`` adds the read-key dependency when reads require a key).
reads = APIRouter(tags=["admin"])


@router.post(
    "/v1/admin/retrain",
    response_model=S.RetrainOut,
    dependencies=ADMIN_SCOPE,
    responses=S.error_responses(*S.AUTH_ERRORS, 409, conflicts=_NO_DATA),
)
def retrain(state: State) -> S.RetrainOut:
    """Train on the store's data with the served config and swap atomically."""
    result = state.retrain(reason="admin")
    return S.RetrainOut(
        model_version=result.model_version,
        model=result.model,
        n_users=result.n_users,
        n_items=result.n_items,
        n_interactions=result.n_interactions,
        fit_seconds=result.fit_seconds,
        purged_deletions=result.purged_deletions,
    )


@reads.get("/v1/model", response_model=S.ModelInfo)
def model_info(state: State) -> S.ModelInfo:
    """The served model: name, version, config, training time and size."""
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
