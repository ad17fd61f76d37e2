"""Events: ``POST /v1/events`` stores a batch in one transaction and feeds real time."""

from __future__ import annotations

import time

from fastapi import APIRouter

from digirec.serving import schemas as S
from digirec.serving.errors import ServingError
from digirec.serving.routes._shared import (
    EVENTS_SCOPE,
    IdempotencyKey,
    Metrics,
    State,
    check_batch_size,
)
from digirec.store import EventRecord
from digirec.store.base import ClientEventIdConflict, DeletedUserError

#: Needs a key with the ``events`` scope.
_CLIENT_ID_CONFLICT = (
    "A client_event_id already stored for a different event: `client_event_id_conflict`."
)

router = APIRouter(tags=["events"])


@router.post(
    "/v1/events",
    response_model=S.EventsAccepted,
    dependencies=EVENTS_SCOPE,
    responses=S.error_responses(
        *S.AUTH_ERRORS, *S.BODY_ERRORS, 404, 409, 410, conflicts=_CLIENT_ID_CONFLICT
    ),
)
def post_events(
    state: State,
    metrics: Metrics,
    body: S.EventBatch,
    idempotency_key: IdempotencyKey = None,
) -> S.EventsAccepted:
    """Store a batch of events in one transaction; answers only after it committed.

    Events of a deleted user are refused (410 ``user_deleted``, nothing of the batch
    stored) until the user is created again with ``PUT /v1/users/{user_id}``; an event for
    an item not in the catalogue gets 404 ``unknown_item`` (unless the server accepts unknown
    items). A retry with the same ``client_event_id`` / ``Idempotency-Key`` stores nothing new.
    """
    settings = state.settings
    check_batch_size(settings, len(body.events), "events per batch", "events")
    now = time.time()
    latest = now + settings.max_clock_skew_s
    for i, event in enumerate(body.events):
        if not settings.accept_unknown_items and not state.knows_item(event.item_id):
            # A reference to a resource that does not exist: 404, as for GET /v1/items/{id}.
            raise ServingError(
                404,
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
