"""Privacy: delete a user (store and serving state now, the model by a retrain) and follow the
deletion until the model no longer contains them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path

from digirec.serving import schemas as S
from digirec.serving.errors import ServingError
from digirec.serving.routes._shared import ADMIN_SCOPE, State, UserIdPath
from digirec.store.base import DeletionRecord

#: Needs a key with the ``admin`` scope.
router = APIRouter(tags=["privacy"])


def deletion_out(record: DeletionRecord) -> S.DeletionOut:
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


@router.delete(
    "/v1/users/{user_id}",
    response_model=S.DeletionOut,
    status_code=202,
    dependencies=ADMIN_SCOPE,
    responses=S.error_responses(*S.AUTH_ERRORS, 404, 422),
)
def delete_user(
    state: State,
    user_id: UserIdPath,
    purge: Literal["immediate", "scheduled"] = "scheduled",
) -> S.DeletionOut:
    """Delete a user's data from the store and the serving state now; purge their
    influence on the model by a retrain now (``immediate``) or at the next one."""
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
    return deletion_out(record)


@router.get(
    "/v1/privacy/deletions/{deletion_id}",
    response_model=S.DeletionOut,
    dependencies=ADMIN_SCOPE,
    responses=S.error_responses(*S.AUTH_ERRORS, 404, 422),
)
def deletion_status(
    state: State, deletion_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
) -> S.DeletionOut:
    """pending -> purged (with the model version that no longer contains the user)."""
    record = state.store.get_deletion(deletion_id)
    if record is None:
        raise ServingError(404, "unknown_deletion", "unknown deletion id", "deletion_id")
    return deletion_out(record)
