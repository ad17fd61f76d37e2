"""Request and response models of the HTTP API (pydantic; they also drive the OpenAPI docs)."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
)

from digirec.data.events import EVENT_TYPES

#: External ids: 1..128 characters from letters, digits and ``. _ - : @``. Narrow on purpose:
#: ids end up in URLs, logs and SQL parameters.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
_ID_RE = re.compile(ID_PATTERN)

#: Timestamps must fall between 1970 and 2200 (seconds since the epoch).
_MAX_TIMESTAMP = 7_258_118_400.0

ExternalId = Annotated[
    str, Field(pattern=ID_PATTERN, description="External id (1..128 of A-Z a-z 0-9 . _ - : @).")
]
#: A JSON number, never a boolean or a string (``false`` is no price, ``true`` no timestamp).
Number = StrictFloat  # strict: ints pass (as floats), bools and strings do not
EventType = Literal["view", "click", "wishlist", "cart", "purchase", "rating"]


def is_valid_id(value: str) -> bool:
    """``True`` when ``value`` matches :data:`ID_PATTERN`."""
    return bool(_ID_RE.match(value))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------- errors
class ErrorDetail(BaseModel):
    """What went wrong: a stable ``code``, a readable ``message`` and the offending ``field``."""

    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    """Body of every error response."""

    error: ErrorDetail


# ---------------------------------------------------------------------- recommendations
class Explanation(BaseModel):
    """Why an item is recommended (English and Chinese), with the items and counts behind it."""

    text: str
    text_zh: str
    kind: str
    evidence_item_ids: list[str] = Field(default_factory=list)
    evidence: dict[str, float | int] = Field(
        default_factory=dict,
        description="The counts behind the claim: 'count' (distinct users who purchased both "
        "items) for kind 'bought_together'; 'count', 'window_days', 'window_start' and "
        "'window_end' (distinct users with an event of the item in that window, epoch "
        "seconds) for kind 'trending'; empty for the other kinds.",
    )


class RecommendedItem(BaseModel):
    """One recommended item with display attributes."""

    item_id: str
    score: float
    rank: int
    title: str | None = None
    brand: str | None = None
    category: str | None = None
    price: float | None = None
    in_stock: bool | None = None
    explanation: Explanation | None = None


Source = Literal[
    "personalised", "session", "similar_items", "popular_in_category", "popular", "trending"
]


class RecommendationResponse(BaseModel):
    """A ranked list; ``source`` says which path produced it (a fallback is never silent)."""

    user_id: str | None = None
    item_id: str | None = None
    source: Source
    model_version: int
    strategy: str = Field(
        "model",
        description="'model', or 'attribute_neighbour' when a new item is served through the "
        "most similar catalogue item.",
    )
    reranked: bool = Field(
        False, description="Diversity / exposure re-ranking was applied to this list."
    )
    ignored_item_ids: list[str] = Field(default_factory=list)
    items: list[RecommendedItem]


class TrendingWindow(BaseModel):
    """The time window a trending list was counted on."""

    days: float = Field(description="Length of the window (DIGIREC_TRENDING_WINDOW_DAYS).")
    start: float = Field(description="First second of the window (epoch seconds, included).")
    end: float = Field(description="Last second of the window: the service clock's now.")
    n_events: int = Field(description="Events of any item in the window.")


class TrendingResponse(RecommendationResponse):
    """Items by distinct users with an event in the window (``source="trending"``); only
    items with at least one such user are listed, so the list may be shorter than ``k``."""

    window: TrendingWindow
    reason: Literal["no_events_in_window", "no_match_in_window"] | None = Field(
        None,
        description="Why the list is empty: no event at all in the window, or none of an item "
        "passing the filters; null when items are listed.",
    )


class SessionRequest(_Strict):
    """An anonymous session: the items viewed so far (oldest first) and the list wanted."""

    item_ids: list[str] = Field(..., description="Items of the session, oldest first.")
    k: StrictInt | None = Field(
        None, ge=1, description="List length (1..max_k; default default_k)."
    )
    category: list[str] | None = None
    brand: list[str] | None = None
    min_price: Number | None = Field(None, ge=0)
    max_price: Number | None = Field(None, ge=0)
    in_stock: StrictBool | None = None
    exclude_seen: StrictBool = True
    include_unavailable: StrictBool = False
    diversity: Number = Field(0.0, ge=0.0, le=1.0)
    exposure: Number = Field(0.0, ge=0.0, le=1.0)

    @field_validator("item_ids")
    @classmethod
    def _valid_ids(cls, value: list[str]) -> list[str]:
        for i, item in enumerate(value):
            if not is_valid_id(item):
                raise ValueError(f"item_ids[{i}] is not a valid id")
        return value


# ---------------------------------------------------------------------- events
class EventIn(_Strict):
    """One interaction event."""

    user_id: ExternalId
    item_id: ExternalId
    event: EventType = Field(..., description=f"One of {', '.join(EVENT_TYPES)}.")
    timestamp: Number | str | None = Field(
        None,
        description="Seconds since the epoch or ISO 8601 with a zone; default: time of "
        "arrival. At most max_clock_skew_s in the future.",
    )
    rating: Number | None = Field(None, ge=0, le=10)
    weight: Number | None = Field(None, ge=0, le=1000)
    client_event_id: ExternalId | None = Field(
        None,
        description="The client's own id of this event: sending it again (a retry) stores "
        "nothing new and returns the first copy's event id.",
    )

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: float | int | str | None) -> float | None:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError("timestamp must be seconds since the epoch or ISO 8601") from None
            if parsed.tzinfo is None:
                raise ValueError("an ISO 8601 timestamp needs a time zone (e.g. Z or +08:00)")
            value = parsed.timestamp()
        if not math.isfinite(value) or not 0 <= value <= _MAX_TIMESTAMP:
            raise ValueError("timestamp must be between 1970 and 2200 (seconds since the epoch)")
        return float(value)

    @field_validator("rating", "weight")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class EventBatch(_Strict):
    """A batch of events, stored in one transaction."""

    events: list[EventIn] = Field(..., min_length=1)


class EventsAccepted(BaseModel):
    """Returned only after the batch committed."""

    accepted: int = Field(..., description="Events of the batch, new and duplicate.")
    duplicates: int = Field(
        0, description="Events already stored under their client_event_id (not stored again)."
    )
    first_event_id: int
    last_event_id: int


# ---------------------------------------------------------------------- catalogue and users
class ItemIn(_Strict):
    """A catalogue item; ``attributes`` holds any further fields (specs, Chinese text ...)."""

    title: str | None = Field(None, max_length=1000)
    brand: str | None = Field(None, max_length=200)
    category: str | None = Field(None, max_length=200)
    price: Number | None = Field(None, ge=0, le=1e9)
    in_stock: StrictBool | None = Field(
        None, description="false: never recommended unless a request includes unavailable items."
    )
    hidden: StrictBool | None = Field(
        None, description="true: hidden from every list (kept in the catalogue)."
    )
    description: str | None = Field(None, max_length=20_000)
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("price")
    @classmethod
    def _finite_price(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("price must be a finite number")
        return value


class ItemOut(BaseModel):
    """Result of a catalogue write."""

    item_id: str
    created: bool
    recommendable_via: str = Field(
        ...,
        description="'model' (the model has this item), 'attribute_neighbour' (served through "
        "the most similar catalogue item until a retrain) or 'lowest_rank' (no similar item: "
        "ranked last, so it only fills lists).",
    )
    neighbour_item_id: str | None = None
    model_version: int


class BatchRequest(_Strict):
    """Recommendations for many users at once (each list as the single-user endpoint)."""

    user_ids: list[ExternalId] = Field(..., min_length=1, description="Users, in answer order.")
    k: StrictInt | None = Field(None, ge=1, description="List length (1..max_k).")
    category: list[str] | None = None
    brand: list[str] | None = None
    min_price: Number | None = Field(None, ge=0)
    max_price: Number | None = Field(None, ge=0)
    in_stock: StrictBool | None = None
    include_unavailable: StrictBool = False
    exclude_seen: StrictBool = True


class BatchResponse(BaseModel):
    """One list per requested user, in request order."""

    results: list[RecommendationResponse]


class ItemRecord(BaseModel):
    """A stored catalogue item (typed fields and any further attributes)."""

    item_id: str
    attributes: dict[str, Any]
    recommendable_via: str | None = Field(
        None, description="How the served model reaches it (model / attribute_neighbour ...)."
    )


class UserRecord(BaseModel):
    """A stored user: attributes, event count and deletion state."""

    user_id: str
    attributes: dict[str, Any]
    n_events: int
    known_to_model: bool
    deleted: bool = Field(False, description="A deletion tombstone refuses their events.")


class UserIn(_Strict):
    """User attributes (free-form JSON)."""

    attributes: dict[str, Any] = Field(default_factory=dict)


class UserOut(BaseModel):
    user_id: str
    created: bool


# ---------------------------------------------------------------------- privacy / admin
class DeletionOut(BaseModel):
    """A user deletion and how far its purge from the model has come."""

    deletion_id: str
    status: Literal["pending", "purged"]
    purge: Literal["immediate", "scheduled"]
    n_events_deleted: int | None = None
    requested_at: float | None = None
    purged_at: float | None = None
    model_version: int | None = None


class RetrainOut(BaseModel):
    model_version: int
    model: str
    n_users: int
    n_items: int
    n_interactions: int
    fit_seconds: float
    purged_deletions: int


class ModelInfo(BaseModel):
    name: str
    version: int
    config: dict[str, Any]
    trained_at: str | None
    n_users: int
    n_items: int
    n_catalogue_items: int
    supports_history: bool
    supports_cold_items: bool
    cold_items: str = Field(..., description="How new items are served before a retrain.")
    store: str
    training: dict[str, Any] | None = Field(
        None, description="The training spec a retrain reuses (source, event weights, rule)."
    )
    problems: list[str] = Field(
        default_factory=list,
        description="Operational problems since start: corrupt bundles skipped, superseded "
        "bundles that could not be removed, failed purge retrains.",
    )


class SearchItem(BaseModel):
    item_id: str
    score: float
    rank: int
    title: str | None = None
    brand: str | None = None
    category: str | None = None
    price: float | None = None


class SearchResponse(BaseModel):
    query: str
    user_id: str | None = None
    personalised: bool
    model_version: int
    constraints: dict[str, Any]
    items: list[SearchItem]


class Health(BaseModel):
    status: str
    model_loaded: bool | None = None
    database: bool | None = None
    model_version: int | None = None
