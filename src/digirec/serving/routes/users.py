"""Users: read (personal data: the admin scope), create or update, profile."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from digirec import columns as C
from digirec.serving import schemas as S
from digirec.serving.errors import ServingError
from digirec.serving.routes._shared import (
    ADMIN_SCOPE,
    CATALOGUE_SCOPE,
    State,
    UserIdPath,
    jsonable,
)

#: A new user's answer (201; an update answers 200 with the same body).
_CREATED: dict[str, Any] = {"model": S.UserOut, "description": "Created."}

#: Scoped routes: reading a user needs ``admin``, writing one ``catalogue``.
router = APIRouter(tags=["users"])
#: Reads (``create_app`` adds the read-key dependency when reads require a key).
reads = APIRouter(tags=["users"])


@router.get(
    "/v1/users/{user_id}",
    response_model=S.UserRecord,
    dependencies=ADMIN_SCOPE,
    responses=S.error_responses(*S.AUTH_ERRORS, 404, 422),
)
def get_user(state: State, user_id: UserIdPath) -> S.UserRecord:
    """A stored user: attributes, number of events, deletion state (personal data, so
    the admin scope)."""
    record = state.store.get_user(user_id)
    n_events = state.store.count_events(user_id)
    deleted = state.store.tombstone(user_id) is not None
    known = state.current.snapshot.user_row(user_id) is not None
    if record is None and not n_events and not deleted and not known:
        raise ServingError(404, "unknown_user", f"unknown user id {user_id!r}", "user_id")
    attributes = {k: jsonable(v) for k, v in (record or {}).items() if k != C.USER_ID}
    return S.UserRecord(
        user_id=user_id,
        attributes=attributes,
        n_events=n_events,
        known_to_model=known,
        deleted=deleted,
    )


@router.put(
    "/v1/users/{user_id}",
    response_model=S.UserOut,
    dependencies=CATALOGUE_SCOPE,
    responses={**S.error_responses(*S.AUTH_ERRORS, *S.BODY_ERRORS, 404), 201: _CREATED},
)
def put_user(state: State, user_id: UserIdPath, body: S.UserIn) -> JSONResponse:
    """Create or update a user's attributes; creating a deleted user again lifts the
    deletion's tombstone (their events are accepted again)."""
    attributes = {k: v for k, v in body.attributes.items() if k != C.USER_ID}
    created = state.store.upsert_users([{C.USER_ID: user_id, **attributes}])[0]
    out = S.UserOut(user_id=user_id, created=created)
    return JSONResponse(out.model_dump(), status_code=201 if created else 200)


@reads.get(
    "/v1/users/{user_id}/profile",
    response_model=dict[str, Any],
    responses=S.error_responses(404, 422),
)
def user_profile(state: State, user_id: UserIdPath) -> dict[str, Any]:
    """Affinities to brands, categories and price bands, activity and recency."""
    return state.profile(user_id)
