"""Request and response models of the HTTP API (pydantic; they also drive the OpenAPI docs)."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    WithJsonSchema,
    field_validator,
)

from digirec.data.events import EVENT_TYPES

#: External ids: 1..128 characters from letters, digits and ``. _ - : @``. Narrow on purpose:
#: ids end up in URLs, logs and SQL parameters.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
_ID_RE = re.compile(ID_PATTERN)

#: Timestamps must fall between 1970 and 2200 (seconds since the epoch).
_MAX_TIMESTAMP = 7_258_118_400.0
#: An RFC 3339 ``date-time`` (what the schema's ``format: date-time`` promises): date, ``T``,
#: time with seconds, optional fraction, and a zone (``Z`` or ``+HH:MM``). Letters in either case.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)

ExternalId = Annotated[
    str, Field(pattern=ID_PATTERN, description="External id (1..128 of A-Z a-z 0-9 . _ - : @).")
]
#: A JSON number, never a boolean or a string (``false`` is no price, ``true`` no timestamp).
Number = StrictFloat  # strict: ints pass (as floats), bools and strings do not


def _json_integer(value: Any) -> Any:
    """JSON Schema's ``integer``: ``3`` and ``3.0`` are integers, ``true`` and ``"3"`` are not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Input should be a valid integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("Input should be a valid integer, got a number with a fraction")
        return int(value)
    return value


#: A list length ``k >= 1`` as a JSON integer (an integral float such as ``10.0`` included;
#: never a boolean or a string). The bound comes before the validator, so that the JSON schema
#: says ``minimum`` (the server's ``max_k`` is added by :func:`apply_limits`).
ListLength = Annotated[int, Field(ge=1), BeforeValidator(_json_integer)]
EventType = Literal["view", "click", "wishlist", "cart", "purchase", "rating"]
#: The two forms of an event timestamp, with the bounds the validator enforces.
_EpochSeconds = Annotated[
    Number, WithJsonSchema({"type": "number", "minimum": 0, "maximum": _MAX_TIMESTAMP})
]
_DateTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


def is_valid_id(value: str) -> bool:
    """``True`` when ``value`` matches :data:`ID_PATTERN`."""
    return bool(_ID_RE.match(value))


def parse_timestamp(value: float | int | str, *, bounded: bool = True) -> float:
    """Seconds since the epoch of an event timestamp (a number, or an RFC 3339 date-time).

    Raises ``ValueError`` with a readable message for another string, a date-time without a
    zone, or (when ``bounded``) a time outside 1970..2200; unbounded, such a time is returned
    as it is (``inf`` where it overflows).
    """
    if isinstance(value, str):
        if not _RFC3339.match(value):
            hint = ""
            if re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", value):
                hint = " with a time zone (e.g. Z or +08:00)"
            raise ValueError(
                "timestamp must be seconds since the epoch or an ISO 8601 / RFC 3339 "
                f"date-time{hint}, e.g. 2026-01-31T10:00:00Z"
            )
        text = value.upper().replace("Z", "+00:00")
        head, dot, rest = text.partition(".")
        if dot:  # Python reads at most 6 fraction digits; RFC 3339 allows any number
            digits = len(rest) - 6  # "+HH:MM" follows the digits
            text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"timestamp {value!r} is not a valid date-time") from None
        try:
            seconds = parsed.timestamp()
        except (OverflowError, ValueError, OSError):
            seconds = math.inf
        value = seconds
    if bounded and (not math.isfinite(value) or not 0 <= value <= _MAX_TIMESTAMP):
        raise ValueError("timestamp must be between 1970 and 2200 (seconds since the epoch)")
    return float(value)


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

    item_ids: list[ExternalId] = Field(..., description="Items of the session, oldest first.")
    k: ListLength | None = Field(None, description="List length (1..max_k; default default_k).")
    category: list[str] | None = None
    brand: list[str] | None = None
    min_price: Number | None = Field(
        None, ge=0, description="Lowest price; above max_price: 422 invalid_filter."
    )
    max_price: Number | None = Field(None, ge=0, description="Highest price (at least min_price).")
    in_stock: StrictBool | None = None
    exclude_seen: StrictBool = True
    include_unavailable: StrictBool = False
    diversity: Number = Field(0.0, ge=0.0, le=1.0)
    exposure: Number = Field(0.0, ge=0.0, le=1.0)


# ---------------------------------------------------------------------- events
class EventIn(_Strict):
    """One interaction event."""

    user_id: ExternalId
    item_id: ExternalId
    event: EventType = Field(..., description=f"One of {', '.join(EVENT_TYPES)}.")
    timestamp: _EpochSeconds | _DateTime | None = Field(
        None,
        description="Seconds since the epoch or an RFC 3339 date-time with a zone, between "
        "1970 and 2200; default: time of arrival. At most max_clock_skew_s after the server's "
        "clock (422 timestamp_in_future).",
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
        return None if value is None else parse_timestamp(value)

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
    k: ListLength | None = Field(None, description="List length (1..max_k).")
    category: list[str] | None = None
    brand: list[str] | None = None
    min_price: Number | None = Field(
        None, ge=0, description="Lowest price; above max_price: 422 invalid_filter."
    )
    max_price: Number | None = Field(None, ge=0, description="Highest price (at least min_price).")
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


# ---------------------------------------------------------------------- documented responses
#: What each error status of the API means (the response descriptions in the OpenAPI schema).
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The request body could not be read (not UTF-8): `invalid_body`.",
    401: "No API key, or an unknown one: `unauthorized` (with `WWW-Authenticate`).",
    403: "The API key lacks this endpoint's scope: `forbidden`.",
    404: "Unknown id (`unknown_item`, `unknown_user`, `unknown_deletion`), or a path that "
    "names no resource: `not_found`.",
    409: "The request conflicts with the stored state.",
    410: "Events of a deleted user (`user_deleted`): refused until the user is created again.",
    413: "The request body exceeds max_body_bytes: `payload_too_large`.",
    422: "A parameter or body field is invalid (`validation_error`, `invalid_json`, `invalid_k`, "
    "`invalid_filter`, `batch_too_large`, ...); `field` names it.",
    429: "This API key's rate limit is spent: `rate_limited` (with `Retry-After`).",
    503: "No model is loaded yet: `not_ready`.",
}

#: Protocol headers of error responses, as the schema documents them.
_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": 'The authentication scheme: `ApiKey header="X-API-Key"`.',
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds until this key may send again.",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    },
}

#: The statuses an API-key check can answer (missing / unknown key, missing scope, rate limit).
AUTH_ERRORS = (401, 403, 429)
#: The statuses of reading a JSON request body (unreadable, too large, invalid).
BODY_ERRORS = (400, 413, 422)


def error_responses(
    *statuses: int, conflicts: str | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses an endpoint can answer.

    Every one has the :class:`ErrorResponse` body; 401 documents ``WWW-Authenticate`` and 429
    ``Retry-After``. ``conflicts`` replaces the generic description of a 409.
    """
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        description = ERROR_DESCRIPTIONS[status]
        if status == 409 and conflicts is not None:
            description = conflicts
        entry: dict[str, Any] = {"model": ErrorResponse, "description": description}
        if status in _ERROR_HEADERS:
            entry["headers"] = _ERROR_HEADERS[status]
        out[status] = entry
    return out
