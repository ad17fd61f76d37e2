"""Real-time state: events committed after the served model was trained, and their replay
after a restart (no FastAPI: see :mod:`digirec.serving.engine`).

Events are kept per user in memory (appended only after their transaction committed). A user
with such events is scored from the union of their training history and the new events
through the model's history path (EASE, ItemKNN, ALS fold-in ... react at once) and every item
they touched is filtered from their next list. A retrain prunes exactly the events it was
trained on (:meth:`RealtimeHistories.drop_trained`); a restart replays the events newer than
the served bundle's watermark (:func:`bundle_watermark`) from the store.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from digirec import columns as C
from digirec.artifacts import Bundle
from digirec.store.base import EVENT_ID, Store, StoredEvent

_WATERMARK_KEY = "bundle_watermark:"


@dataclass(frozen=True)
class RealtimeEvent:
    """An event committed after the served model was trained."""

    event_id: int
    item_id: str
    event: str
    timestamp: float


class RealtimeHistories:
    """Per-user real-time events, the newest ``limit`` per user.

    Parameters
    ----------
    limit:
        Events kept per user (``history_limit``).
    lock:
        The serving state's lock: writers hold it, so a model swap and the pruning of the
        events it was trained on are one step for readers.
    """

    def __init__(self, limit: int, lock: threading.RLock) -> None:
        self.limit = limit
        self._lock = lock
        self._events: dict[str, deque[RealtimeEvent]] = {}
        # An event committed before a user's deletion (and deleted with it) may still be on
        # its way to record: anything of that user up to this event id is dropped there.
        self._forgotten_through: dict[str, int] = {}

    def record(self, events: Sequence[StoredEvent]) -> None:
        """Append committed events to their users' histories."""
        if not events:
            return
        with self._lock:
            for e in events:
                if e.event_id <= self._forgotten_through.get(e.user_id, 0):
                    continue
                queue = self._events.get(e.user_id)
                if queue is None:
                    queue = self._events[e.user_id] = deque(maxlen=self.limit)
                queue.append(RealtimeEvent(e.event_id, e.item_id, e.event, e.timestamp))

    @property
    def n_users(self) -> int:
        """Users with real-time events held in memory."""
        return len(self._events)

    def events(self, user_id: str) -> list[RealtimeEvent]:
        """The user's events since the served model was trained, oldest first.

        Read without the lock: the recommendation endpoint runs this on the event loop, which
        must not wait while a retrain holds the lock to swap models (seconds for a large
        catalogue). ``dict.get`` and ``deque.copy`` are single C calls under the GIL (writers
        replace or append under the lock), so the copy is one consistent state of the queue.
        """
        queue = self._events.get(user_id)
        if queue is None:
            return []
        try:
            return list(queue.copy())
        except RuntimeError:  # mutated mid-copy (a finaliser let a writer run): use the lock
            with self._lock:
                return list(self._events.get(user_id, ()))

    def clear(self) -> None:
        """Drop every user's events (a new bundle is loaded; the replay follows)."""
        with self._lock:
            self._events.clear()

    def forget(self, user_id: str, through_event_id: int) -> None:
        """Drop a deleted user's events, and any of theirs up to ``through_event_id`` that is
        still on its way to :meth:`record`."""
        with self._lock:
            self._events.pop(user_id, None)
            self._forgotten_through[user_id] = through_event_id

    def drop_trained(self, trained: NDArray[np.int64]) -> None:
        """Drop the events a new model was trained on (``trained``: sorted store event ids).
        The caller holds the lock while it swaps the model in."""
        with self._lock:
            for user_id, queue in list(self._events.items()):
                kept = [e for e in queue if not _contains(trained, e.event_id)]
                if kept:
                    self._events[user_id] = deque(kept, maxlen=queue.maxlen)
                else:
                    del self._events[user_id]


def bundle_watermark(store: Store, bundle: Bundle, path: Path) -> int:
    """Largest store event id the bundle was trained on (events after it are real-time).

    Retrained bundles record it; for a bundle trained elsewhere it is remembered the first
    time it is served (every event in the store then counts as its training data).
    """
    if "store_event_watermark" in bundle.manifest:
        return int(bundle.manifest["store_event_watermark"])
    key = _WATERMARK_KEY + _fingerprint(bundle, path)
    stored = store.get_meta(key)
    if stored is not None:
        return int(stored)
    value = store.max_event_id()
    store.set_meta(key, str(value))
    return value


def stored_events(frame: pd.DataFrame) -> list[StoredEvent]:
    """The rows of ``Store.interactions_frame`` as :class:`StoredEvent` (the replay)."""
    out = []
    for rec in frame.itertuples(index=False):
        out.append(
            StoredEvent(
                user_id=str(getattr(rec, C.USER_ID)),
                item_id=str(getattr(rec, C.ITEM_ID)),
                event=str(getattr(rec, C.EVENT)),
                timestamp=float(getattr(rec, C.TIMESTAMP)),
                event_id=int(getattr(rec, EVENT_ID)),
            )
        )
    return out


def _fingerprint(bundle: Bundle, path: Path) -> str:
    manifest = bundle.manifest
    data = manifest.get("dataset", {})
    return "|".join(
        str(x)
        for x in (
            Path(path).resolve(),
            manifest.get("created_at"),
            manifest.get("model"),
            data.get("n_interactions"),
        )
    )


def _contains(sorted_ids: NDArray[np.int64], value: int) -> bool:
    pos = int(np.searchsorted(sorted_ids, value))
    return pos < len(sorted_ids) and int(sorted_ids[pos]) == value
