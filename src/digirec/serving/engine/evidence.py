"""The counts behind the service's reasons: co-purchases and trending (no FastAPI).

:class:`ServingEvidence` holds, for one service process, the
:class:`~digirec.evidence.CoPurchaseCounts` of the store's purchase events and the
:class:`~digirec.evidence.TrendingCounts` of the trending source.

Co-purchases
    Built from every purchase in the store when the service starts, rebuilt from the retrain's
    data snapshot at each retrain, and updated in place in between: each committed purchase
    (:meth:`ServingEvidence.record`) and each deleted user (:meth:`ServingEvidence.forget_user`)
    changes the counts at once. A rebuild runs inside :meth:`ServingEvidence.rebuilding`, which
    records the changes made meanwhile and replays them on the new counts before the swap, so
    a purchase committed while a retrain trains is never lost and a user deleted meanwhile is
    never counted.
Trending
    Distinct users per item with an event (any type) whose timestamp lies in the window of
    ``trending_window_days`` days ending *now* (the service clock, :attr:`ServingEvidence.clock`,
    which tests set): "this week" means the 7 days before the request, never the week of the
    newest stored event. The counts come from one ``GROUP BY`` query on the store and are
    reused for ``trending_refresh_s`` seconds (a user deletion drops them at once); every
    reason carries the window it was counted on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from digirec.evidence import (
    SECONDS_PER_DAY,
    CoPurchaseCounts,
    TrendingCounts,
    purchase_pairs,
)
from digirec.store.base import EventRecord, Store

__all__ = ["Rebuild", "ServingEvidence", "trending_scores"]


class Rebuild:
    """One co-purchase rebuild in progress (see :meth:`ServingEvidence.rebuilding`)."""

    def __init__(self, owner: ServingEvidence) -> None:
        self._owner = owner
        self.done = False

    def finish(self, interactions: pd.DataFrame | None = None) -> CoPurchaseCounts:
        """Build the counts from ``interactions`` (a data snapshot taken after the rebuild
        began) or, with ``None``, from the store's purchases now; swap them in."""
        owner = self._owner
        if interactions is None:
            pairs = owner.store.purchase_pairs(owner.purchase_events)
        else:
            pairs = purchase_pairs(interactions, owner.purchase_events)
        fresh = CoPurchaseCounts(pairs)
        owner._swap(fresh)
        self.done = True
        return fresh


class ServingEvidence:
    """Co-purchase counts and trending counts of one service process.

    Parameters
    ----------
    store:
        The service's store (purchases at start, trending window counts).
    purchase_events:
        Event types that count as a purchase.
    trending_window_days:
        Length of the trending window.
    trending_refresh_s:
        How long one trending count is reused.
    clock:
        Seconds since the epoch now (``time.time``; tests pin it).
    """

    def __init__(
        self,
        store: Store,
        *,
        purchase_events: Sequence[str] = ("purchase",),
        trending_window_days: float = 7.0,
        trending_refresh_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.purchase_events = [str(e).strip().lower() for e in purchase_events]
        self.trending_window_days = float(trending_window_days)
        self.trending_refresh_s = float(trending_refresh_s)
        self.clock = clock
        self._lock = threading.Lock()
        self._co = CoPurchaseCounts()
        # Changes made while a rebuild runs, replayed on its result: ("add", user, item) or
        # ("forget", user, "").
        self._pending: list[tuple[str, str, str]] | None = None
        self._trending: tuple[float, TrendingCounts] | None = None

    # ------------------------------------------------------------------ co-purchases
    @property
    def co_purchases(self) -> CoPurchaseCounts:
        """The current counts (replaced whole by a rebuild, updated in place otherwise)."""
        return self._co

    @contextmanager
    def rebuilding(self) -> Iterator[Rebuild]:
        """Rebuild the co-purchase counts: enter *before* taking the data snapshot, call
        :meth:`Rebuild.finish` with it. Leaving without ``finish`` keeps the old counts."""
        with self._lock:
            self._pending = []
        rebuild = Rebuild(self)
        try:
            yield rebuild
        finally:
            if not rebuild.done:
                with self._lock:
                    self._pending = None

    def _swap(self, fresh: CoPurchaseCounts) -> None:
        with self._lock:
            for op, user, item in self._pending or ():
                if op == "add":
                    fresh.add(user, item)
                else:
                    fresh.forget_user(user)
            self._pending = None
            self._co = fresh

    def record(self, events: Sequence[EventRecord]) -> int:
        """Count the purchases among committed events; returns how many were new pairs."""
        types = set(self.purchase_events)
        bought = [(e.user_id, e.item_id) for e in events if str(e.event).lower() in types]
        if not bought:
            return 0
        with self._lock:
            n = sum(self._co.add(user, item) for user, item in bought)
            if self._pending is not None:
                self._pending.extend(("add", user, item) for user, item in bought)
        return n

    def forget_user(self, user_id: str) -> None:
        """Take a deleted user out of every count (co-purchases now, trending on next use)."""
        with self._lock:
            self._co.forget_user(user_id)
            if self._pending is not None:
                self._pending.append(("forget", user_id, ""))
            self._trending = None

    # ------------------------------------------------------------------ trending
    def trending(self) -> TrendingCounts:
        """The windowed counts ending now (reused for ``trending_refresh_s`` seconds)."""
        now = float(self.clock())
        with self._lock:
            cached = self._trending
        if cached is not None and 0 <= now - cached[0] < self.trending_refresh_s:
            return cached[1]
        start = now - self.trending_window_days * SECONDS_PER_DAY
        counts = TrendingCounts.from_frame(
            self.store.window_counts(start, now),
            start=start,
            end=now,
            window_days=self.trending_window_days,
        )
        with self._lock:
            self._trending = (now, counts)
        return counts

    def invalidate_trending(self) -> None:
        """Count the trending window again on next use (a retrain, a deletion)."""
        with self._lock:
            self._trending = None


def trending_scores(
    positions: dict[str, int], n_rows: int, counts: TrendingCounts
) -> NDArray[np.float32]:
    """Trending count per catalogue row (rows without an event in the window: 0)."""
    scores = np.zeros(n_rows, dtype=np.float32)
    for item_id, n in counts.counts.items():
        row = positions.get(item_id)
        if row is not None:
            scores[row] = float(n)
    return scores
