"""The store interface: catalogue, users, event log and privacy deletions.

A :class:`Store` is the service's source of truth. The model bundle is derived data: a retrain
reads :meth:`Store.snapshot` and builds a :class:`~digirec.data.dataset.Dataset` from the
canonical frames it returns (``Dataset.from_interactions(snap.interactions, items=snap.items,
users=snap.users)``), so everything the model knows can be rebuilt from the store alone.

Guarantees every implementation gives:

* an event batch is one transaction: :meth:`Store.add_events` returns only after it committed,
  and either every event of the batch is stored or none is;
* events get a strictly increasing ``event_id`` that is never reused, not even after the events
  holding the largest ids were deleted (SQLite ``AUTOINCREMENT``, a PostgreSQL sequence);
  :meth:`Store.interactions_frame` returns them in that order and numbers them in
  ``source_row``, the stable tie-breaker of :class:`~digirec.data.dataset.Dataset` for equal
  timestamps; every id up to :attr:`StoreSnapshot.event_ids`' largest is committed or never
  will be, so "events after the watermark" is exact after a restart;
* an event may carry a client ``client_event_id``: storing it again (a retried batch) stores
  nothing and returns the first copy, marked ``duplicate``;
* a deleted user leaves a tombstone: :meth:`Store.add_events` refuses their events with
  :class:`DeletedUserError` (and counts the refusal) until :meth:`Store.upsert_users`
  explicitly re-creates the user;
* catalogue and user rows keep their first insertion order (an update does not move them), so a
  retrain on unchanged data builds identical id maps;
* :meth:`Store.delete_user` removes the user row and every event of the user in one transaction
  and records a :class:`DeletionRecord` that tracks the purge from the model.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from digirec import columns as C
from digirec.data.tables import RawData
from digirec.exceptions import DigirecError

#: Catalogue columns stored as typed database columns; any other column goes to a JSON field.
ITEM_COLUMNS = (C.TITLE, C.BRAND, C.CATEGORY, C.PRICE, C.IN_STOCK, C.DESCRIPTION)

#: Column of the event id in frames returned by the store.
EVENT_ID = "event_id"
#: Column of the client's own event id (idempotent retries).
CLIENT_EVENT_ID = "client_event_id"

PurgeMode = Literal["immediate", "scheduled"]
DeletionStatus = Literal["pending", "purged"]


@dataclass(frozen=True)
class EventRecord:
    """One interaction event to store.

    Attributes
    ----------
    user_id, item_id:
        External ids.
    event:
        Event type (``view``, ``click``, ``cart``, ``purchase``, ``rating`` ...).
    timestamp:
        Seconds since the epoch (UTC).
    rating:
        Explicit rating, or ``None``.
    weight:
        Explicit weight overriding the event type's weight, or ``None``.
    """

    user_id: str
    item_id: str
    event: str
    timestamp: float
    rating: float | None = None
    weight: float | None = None
    client_event_id: str | None = None


@dataclass(frozen=True)
class StoredEvent(EventRecord):
    """An event as committed, with its store-assigned id (strictly increasing).

    ``duplicate`` is ``True`` when the event's ``client_event_id`` was already stored: the
    record is then the first stored copy and nothing new was written.
    """

    event_id: int = 0
    duplicate: bool = False


class DeletedUserError(DigirecError):
    """Events for users deleted under the privacy API (refused until they are re-created).

    Attributes
    ----------
    user_ids:
        The deleted users of the refused batch.
    positions:
        Index in the batch of the first event of each of them.
    """

    def __init__(self, user_ids: Sequence[str], positions: Sequence[int]) -> None:
        self.user_ids = list(user_ids)
        self.positions = list(positions)
        super().__init__(
            f"user {self.user_ids[0]!r} was deleted; create the user again "
            "(PUT /v1/users/{user_id}) before sending their events"
        )


class ClientEventIdConflict(DigirecError):
    """A ``client_event_id`` already stored for a different user, item or event type."""

    def __init__(self, client_event_id: str, position: int) -> None:
        self.client_event_id = client_event_id
        self.position = position
        super().__init__(f"client_event_id {client_event_id!r} is already stored for another event")


@dataclass(frozen=True)
class Tombstone:
    """What is left of a deleted user: when, and how many events were refused since."""

    user_id: str
    deleted_at: float
    n_refused: int


@dataclass(frozen=True)
class DeletionRecord:
    """A user deletion and the state of purging it from the model.

    ``status`` is ``"pending"`` until a model trained without the user serves, then
    ``"purged"`` with that ``model_version``.
    """

    deletion_id: str
    seq: int
    user_id: str
    purge: PurgeMode
    status: DeletionStatus
    requested_at: float
    n_events_deleted: int
    purged_at: float | None = None
    model_version: int | None = None


@dataclass(frozen=True)
class StoreSnapshot:
    """A consistent read of everything a retrain needs (taken in one read transaction).

    Attributes
    ----------
    interactions:
        Canonical interactions frame (see :meth:`Store.interactions_frame`).
    items, users:
        Canonical catalogue / users frames, or ``None`` when empty.
    event_ids:
        Sorted ids of the events in ``interactions``.
    deletion_seq:
        The largest deletion sequence number committed at snapshot time (0 if none): every
        deletion up to it is absent from this data.
    """

    interactions: pd.DataFrame
    items: pd.DataFrame | None
    users: pd.DataFrame | None
    event_ids: NDArray[np.int64]
    deletion_seq: int


@dataclass
class ImportReport:
    """Counts of a bulk import (:meth:`Store.import_raw`)."""

    n_items: int = 0
    n_users: int = 0
    n_events: int = 0
    notes: list[str] = field(default_factory=list)


class Store(ABC):
    """Catalogue, users and event log behind one interface (SQLite, PostgreSQL ...)."""

    #: Backend name for logs and ``/v1/model`` ("sqlite", "postgresql").
    backend: str = "base"

    # ------------------------------------------------------------------ lifecycle
    @abstractmethod
    def create_schema(self) -> None:
        """Create tables and indexes if missing (idempotent)."""

    @abstractmethod
    def ping(self) -> bool:
        """``True`` when the database answers a trivial query."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    @abstractmethod
    def is_empty(self) -> bool:
        """``True`` when there are no items, users or events."""

    # ------------------------------------------------------------------ catalogue
    @abstractmethod
    def upsert_items(self, items: pd.DataFrame | Sequence[Mapping[str, Any]]) -> list[bool]:
        """Insert or update catalogue items (one transaction); ``True`` per newly created item.

        Typed columns (:data:`ITEM_COLUMNS`) are stored as such; other columns go to a JSON
        ``extra`` field. Missing values are stored as NULL.
        """

    @abstractmethod
    def delete_item(self, item_id: str) -> bool:
        """Remove a catalogue item (its events stay: they are the users' history); ``True``
        if it existed."""

    @abstractmethod
    def get_item(self, item_id: str) -> dict[str, Any] | None:
        """One item as a flat dict (typed columns and extras), or ``None``."""

    @abstractmethod
    def items_frame(self) -> pd.DataFrame | None:
        """The catalogue in insertion order (``item_id`` + attributes), ``None`` when empty."""

    # ------------------------------------------------------------------ users
    @abstractmethod
    def upsert_users(self, users: pd.DataFrame | Sequence[Mapping[str, Any]]) -> list[bool]:
        """Insert or update users (one transaction); ``True`` per newly created user."""

    @abstractmethod
    def get_user(self, user_id: str) -> dict[str, Any] | None:
        """One user's attributes (with ``user_id``), or ``None``."""

    @abstractmethod
    def users_frame(self) -> pd.DataFrame | None:
        """All users in insertion order (``user_id`` + attributes), ``None`` when empty."""

    # ------------------------------------------------------------------ events
    @abstractmethod
    def add_events(self, events: Sequence[EventRecord] | pd.DataFrame) -> list[StoredEvent]:
        """Append events in one transaction; returns them with ids, after the commit.

        Raises :class:`DeletedUserError` (nothing stored; the refusal counted on the
        tombstone) when the batch holds an event of a deleted user, and
        :class:`ClientEventIdConflict` when a ``client_event_id`` names a different event.
        """

    @abstractmethod
    def tombstone(self, user_id: str) -> Tombstone | None:
        """The tombstone of a deleted (and not re-created) user, or ``None``."""

    @abstractmethod
    def n_refused_events(self) -> int:
        """Events refused because their user was deleted (over every tombstone)."""

    @abstractmethod
    def user_events(self, user_id: str, *, limit: int | None = None) -> pd.DataFrame:
        """One user's events, oldest first (the newest ``limit`` when given)."""

    @abstractmethod
    def user_item_events(self, user_id: str) -> list[tuple[str, str]]:
        """One user's ``(item_id, event)`` pairs, oldest first: the narrow read of the
        serving hot path (an explanation's history, the purchases to exclude)."""

    @abstractmethod
    def interactions_frame(self, *, after_id: int = 0) -> pd.DataFrame:
        """Events with ``event_id > after_id`` as a canonical interactions frame.

        Columns: ``user_id``, ``item_id``, ``timestamp``, ``event``, ``rating``, ``weight``
        (NaN where not given), ``source_row`` (0..n-1 in event-id order) and ``event_id``.
        """

    @abstractmethod
    def count_events(self, user_id: str | None = None) -> int:
        """Number of stored events (of one user when given)."""

    @abstractmethod
    def max_event_id(self) -> int:
        """Largest committed event id (0 when there is none)."""

    # ------------------------------------------------------------------ evidence
    def purchase_pairs(self, purchase_events: Sequence[str] = ("purchase",)) -> pd.DataFrame:
        """Distinct ``(user_id, item_id)`` pairs of the stored purchase events.

        ``purchase_events`` are the event types that count as a purchase (compared
        case-insensitively). The co-purchase counts of explanations
        (:class:`digirec.evidence.CoPurchaseCounts`) are built from this. The default reads
        :meth:`interactions_frame`; SQL stores answer with one ``SELECT DISTINCT``.
        """
        from digirec.evidence import purchase_pairs

        return purchase_pairs(self.interactions_frame(), purchase_events)

    def window_counts(self, start: float, end: float) -> pd.DataFrame:
        """Per item, distinct users (``n_users``) and events (``n_events``) with
        ``start <= timestamp <= end``: the trending source's counts.

        Only items with an event in the window, sorted by ``item_id`` (see
        :func:`digirec.evidence.window_counts`, which the default implementation calls).
        """
        from digirec.evidence import window_counts

        return window_counts(self.interactions_frame(), start, end)

    # ------------------------------------------------------------------ privacy
    @abstractmethod
    def delete_user(self, user_id: str, *, purge: PurgeMode) -> DeletionRecord:
        """Delete the user row and all their events and record the deletion (one transaction)."""

    @abstractmethod
    def get_deletion(self, deletion_id: str) -> DeletionRecord | None:
        """A deletion record by id, or ``None``."""

    @abstractmethod
    def deletions(self, *, after_seq: int = 0, status: str | None = None) -> list[DeletionRecord]:
        """Deletion records with ``seq > after_seq`` (optionally of one status), by seq."""

    @abstractmethod
    def mark_purged(self, *, up_to_seq: int, model_version: int) -> int:
        """Mark pending deletions with ``seq <= up_to_seq`` purged; returns how many."""

    # ------------------------------------------------------------------ snapshot / meta
    @abstractmethod
    def snapshot(self) -> StoreSnapshot:
        """Interactions, catalogue, users and deletion watermark from one read transaction."""

    @abstractmethod
    def get_meta(self, key: str) -> str | None:
        """A service metadata value (e.g. which events a bundle was trained on)."""

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None:
        """Set a service metadata value."""

    # ------------------------------------------------------------------ bulk import
    def import_raw(self, raw: RawData, *, batch_size: int = 50_000) -> ImportReport:
        """Load a data set (loader output or the synthetic shop) into the store.

        Items and users first, then events in file order (``source_row``), so a model trained on
        the store's snapshot sees the events in the same order as one trained on ``raw``.
        """
        report = ImportReport()
        if raw.items is not None and len(raw.items):
            report.n_items = len(self.upsert_items(raw.items))
        if raw.users is not None and len(raw.users):
            report.n_users = len(self.upsert_users(raw.users))
        frame = raw.interactions
        if C.SOURCE_ROW in frame.columns:
            frame = frame.sort_values(C.SOURCE_ROW, kind="stable")
        for start in range(0, len(frame), batch_size):
            report.n_events += len(self.add_events(frame.iloc[start : start + batch_size]))
        return report


# ---------------------------------------------------------------------- value helpers
def json_safe(value: Any) -> Any:
    """A value as plain JSON: numpy scalars unwrapped, NaN/NaT -> ``None``, containers recursed."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_safe(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def records_of(rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows as a list of JSON-safe dicts."""
    if isinstance(rows, pd.DataFrame):
        raw = rows.to_dict(orient="records")
    else:
        raw = [dict(r) for r in rows]
    return [{str(k): json_safe(v) for k, v in r.items()} for r in raw]


def event_records(events: Sequence[EventRecord] | pd.DataFrame) -> list[EventRecord]:
    """Normalise events given as records or as a canonical interactions frame."""
    if not isinstance(events, pd.DataFrame):
        return list(events)
    n = len(events)

    def column(name: str) -> list[Any]:
        if name in events.columns:
            return list(events[name].to_numpy(dtype=object))
        return [None] * n

    users, items = column(C.USER_ID), column(C.ITEM_ID)
    kinds, times = column(C.EVENT), column(C.TIMESTAMP)
    ratings, weights = column(C.RATING), column(C.WEIGHT)
    client_ids = column(CLIENT_EVENT_ID)
    out: list[EventRecord] = []
    for i in range(n):
        ts = json_safe(times[i])
        out.append(
            EventRecord(
                user_id=str(users[i]),
                item_id=str(items[i]),
                event=str(kinds[i]) if json_safe(kinds[i]) is not None else "view",
                timestamp=float(ts) if ts is not None else float("nan"),
                rating=_opt_float(ratings[i]),
                weight=_opt_float(weights[i]),
                client_event_id=None if json_safe(client_ids[i]) is None else str(client_ids[i]),
            )
        )
    return out


def _opt_float(value: Any) -> float | None:
    value = json_safe(value)
    return None if value is None else float(value)
