"""Catalogue items: create or update (recommendable at once), read, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from digirec import columns as C
from digirec.serving import schemas as S
from digirec.serving.errors import ServingError
from digirec.serving.routes._shared import CATALOGUE_SCOPE, ItemIdPath, State, jsonable

#: Writes: need a key with the ``catalogue`` scope.
#: A new item's answer (201; an update answers 200 with the same body).
_CREATED: dict[str, Any] = {"model": S.ItemOut, "description": "Created."}

router = APIRouter(tags=["catalogue"])
#: Reads (``create_app`` adds the read-key dependency when reads require a key).
reads = APIRouter(tags=["catalogue"])


@router.put(
    "/v1/items/{item_id}",
    response_model=S.ItemOut,
    dependencies=CATALOGUE_SCOPE,
    responses={**S.error_responses(*S.AUTH_ERRORS, *S.BODY_ERRORS, 404), 201: _CREATED},
)
def put_item(state: State, item_id: ItemIdPath, body: S.ItemIn) -> JSONResponse:
    """Create or update a catalogue item; a new item is recommendable at once."""
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


@reads.get(
    "/v1/items/{item_id}",
    response_model=S.ItemRecord,
    responses=S.error_responses(404, 422),
)
def get_item(state: State, item_id: ItemIdPath) -> S.ItemRecord:
    """A stored catalogue item and how the served model reaches it."""
    record = state.store.get_item(item_id)
    if record is None:
        raise ServingError(404, "unknown_item", f"unknown item id {item_id!r}", "item_id")
    row = state.current.catalogue.positions.get(item_id)
    attributes = {k: jsonable(v) for k, v in record.items() if k != C.ITEM_ID}
    via = None if row is None else state.current.catalogue.via(row)
    return S.ItemRecord(item_id=item_id, attributes=attributes, recommendable_via=via)


@router.delete(
    "/v1/items/{item_id}",
    status_code=204,
    response_class=Response,
    dependencies=CATALOGUE_SCOPE,
    responses=S.error_responses(*S.AUTH_ERRORS, 404, 422),
)
def delete_item(state: State, item_id: ItemIdPath) -> Response:
    """Remove an item from the catalogue: never recommended again (its events stay)."""
    if not state.store.delete_item(item_id):
        raise ServingError(404, "unknown_item", f"unknown item id {item_id!r}", "item_id")
    state.remove_item(item_id)
    return Response(status_code=204)
