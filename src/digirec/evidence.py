"""Evidence behind explanations: co-purchase counts and time-windowed popularity.

Two claims a shop likes to make need counts the model does not hold:

* **"Often bought with <item>"** needs co-purchase counts: :class:`CoPurchaseCounts` holds, for
  every item pair ``(a, b)``, the number of *distinct users* who purchased both ``a`` and ``b``
  (an event whose type is one of the purchase types, ``"purchase"`` by default; repeated
  purchases of one item by one user count once). The service builds it once per served
  snapshot, from every purchase event in the store (at start and at each retrain: a full
  rebuild), and updates it in place for each purchase committed after that (:meth:`add`,
  ``O(purchases of that user)``) and for each deleted user (:meth:`forget_user`, which takes
  all of the user's pairs out at once). A model bundle carries no event types (its training
  matrix is weights only), so purchases the store does not hold are never counted.
* **"Trending ... this week"** needs popularity over a time window: :class:`TrendingCounts`
  holds, per item, the number of distinct users with at least one event (of any type) of that
  item whose ``timestamp`` lies in ``[start, end]``; :func:`window_counts` computes it from an
  interactions frame (stores have an SQL version: :meth:`digirec.store.Store.window_counts`).

Both are plain counts over stored events, so a client (and a test) can check every reason
against the store with an independent query.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from digirec import columns as C

__all__ = [
    "DEFAULT_PURCHASE_EVENTS",
    "CoPurchaseCounts",
    "TrendingCounts",
    "purchase_pairs",
    "window_counts",
]

#: Event types that count as a purchase unless the service is told otherwise.
DEFAULT_PURCHASE_EVENTS: tuple[str, ...] = ("purchase",)

#: Columns of :func:`window_counts` (and ``Store.window_counts``) output.
N_USERS = "n_users"
N_EVENTS = "n_events"

SECONDS_PER_DAY = 86_400.0


def _event_types(purchase_events: Iterable[str]) -> list[str]:
    types = sorted({str(e).strip().lower() for e in purchase_events if str(e).strip()})
    if not types:
        raise ValueError("purchase_events must name at least one event type")
    return types


def purchase_pairs(
    interactions: pd.DataFrame, purchase_events: Iterable[str] = DEFAULT_PURCHASE_EVENTS
) -> pd.DataFrame:
    """Distinct ``(user_id, item_id)`` pairs of purchase events in an interactions frame.

    Event types are compared case-insensitively; a frame without an ``event`` column has no
    purchases.
    """
    types = _event_types(purchase_events)
    if interactions.empty or C.EVENT not in interactions.columns:
        return pd.DataFrame({C.USER_ID: [], C.ITEM_ID: []}, dtype=object)
    is_purchase = interactions[C.EVENT].astype(str).str.lower().isin(types).to_numpy(bool)
    pairs = interactions.loc[is_purchase, [C.USER_ID, C.ITEM_ID]].astype(str).astype(object)
    return pairs.drop_duplicates(ignore_index=True)


def window_counts(interactions: pd.DataFrame, start: float, end: float) -> pd.DataFrame:
    """Per item, distinct users and events with ``start <= timestamp <= end``.

    Returns
    -------
    pandas.DataFrame
        ``item_id``, ``n_users``, ``n_events``; only items with at least one event in the
        window, sorted by ``item_id``. Events without a timestamp never count.
    """
    empty = pd.DataFrame(
        {C.ITEM_ID: pd.Series([], dtype=object), N_USERS: [], N_EVENTS: []}
    ).astype({N_USERS: np.int64, N_EVENTS: np.int64})
    if interactions.empty or C.TIMESTAMP not in interactions.columns:
        return empty
    ts = pd.to_numeric(interactions[C.TIMESTAMP], errors="coerce").to_numpy(dtype=np.float64)
    inside = (ts >= start) & (ts <= end)
    if not inside.any():
        return empty
    part = interactions.loc[inside, [C.USER_ID, C.ITEM_ID]].astype(str)
    grouped = part.groupby(C.ITEM_ID, sort=True)
    out = pd.DataFrame(
        {
            N_USERS: grouped[C.USER_ID].nunique().astype(np.int64),
            N_EVENTS: grouped.size().astype(np.int64),
        }
    ).reset_index()
    out[C.ITEM_ID] = out[C.ITEM_ID].astype(object)
    return out[[C.ITEM_ID, N_USERS, N_EVENTS]]


# ============================================================================ trending
@dataclass(frozen=True)
class TrendingCounts:
    """Popularity over one time window: distinct users per item with an event in it.

    Attributes
    ----------
    start, end:
        The window, seconds since the epoch (UTC), both ends included.
    window_days:
        Its length in days (``(end - start) / 86400``, as configured).
    counts:
        ``item_id`` -> distinct users with at least one event of the item in the window
        (items without any are absent).
    n_events:
        Events in the window (all items).
    """

    start: float
    end: float
    window_days: float
    counts: Mapping[str, int] = field(default_factory=dict)
    n_events: int = 0

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, *, start: float, end: float, window_days: float
    ) -> TrendingCounts:
        """From :func:`window_counts` output (or ``Store.window_counts``)."""
        counts = {
            str(item): int(n)
            for item, n in zip(frame[C.ITEM_ID], frame[N_USERS], strict=True)
            if int(n) > 0
        }
        n_events = int(frame[N_EVENTS].sum()) if len(frame) else 0
        return cls(start=start, end=end, window_days=window_days, counts=counts, n_events=n_events)

    @classmethod
    def ending_at(
        cls, interactions: pd.DataFrame, end: float, window_days: float
    ) -> TrendingCounts:
        """The window of ``window_days`` ending at ``end``, counted from an interactions frame."""
        start = end - window_days * SECONDS_PER_DAY
        return cls.from_frame(
            window_counts(interactions, start, end), start=start, end=end, window_days=window_days
        )

    @property
    def is_empty(self) -> bool:
        """``True`` when no event lies in the window."""
        return not self.counts

    def count(self, item_id: str) -> int:
        """Distinct users with an event of ``item_id`` in the window (0 if none)."""
        return int(self.counts.get(str(item_id), 0))

    def evidence(self, item_id: str) -> dict[str, float | int]:
        """The payload a trending reason carries (``count`` and the window)."""
        return {
            "count": self.count(item_id),
            "window_days": self.window_days,
            "window_start": self.start,
            "window_end": self.end,
        }


# ============================================================================ co-purchases
class CoPurchaseCounts:
    """Distinct users who purchased both items, for every item pair.

    Built from distinct ``(user_id, item_id)`` purchase pairs as one sparse item x item matrix
    ``P^T P`` (``P`` the binary users x items purchase matrix; diagonal dropped), then kept up
    to date in place: :meth:`add` for a purchase committed later, :meth:`forget_user` for a
    deleted user. Updates go to a small overlay of pair deltas; the matrix itself is rebuilt
    when the service retrains. Thread-safe (one lock; a lookup costs microseconds).

    Parameters
    ----------
    pairs:
        ``user_id`` and ``item_id`` columns, one row per purchase (duplicates are ignored).
    """

    def __init__(self, pairs: pd.DataFrame | None = None) -> None:
        self._lock = threading.Lock()
        if pairs is None or pairs.empty:
            pairs = pd.DataFrame({C.USER_ID: [], C.ITEM_ID: []}, dtype=object)
        users = pairs[C.USER_ID].astype(str).to_numpy(dtype=object)
        items = pairs[C.ITEM_ID].astype(str).to_numpy(dtype=object)
        user_codes, user_ids = pd.factorize(users)
        item_codes, item_ids = pd.factorize(items)
        n_users, n_items = len(user_ids), len(item_ids)
        purchased = sp.csr_matrix(
            (np.ones(len(user_codes), dtype=np.int32), (user_codes, item_codes)),
            shape=(n_users, n_items),
        )
        purchased.sum_duplicates()
        purchased.data[:] = 1  # a user's repeated purchases of one item count once
        co = (purchased.T @ purchased).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        co.sort_indices()
        self._purchased = purchased
        self._base: sp.csr_matrix = co.astype(np.int64)
        self._n_base = n_items
        self._item_index: dict[str, int] = {str(i): n for n, i in enumerate(item_ids)}
        self._user_index: dict[str, int] = {str(u): n for n, u in enumerate(user_ids)}
        # Updates since the build: per-user items added, users forgotten, pair deltas.
        self._added: dict[str, set[int]] = {}
        self._gone: set[str] = set()
        # Pair deltas in both directions: item -> {other item: change}.
        self._delta: dict[int, dict[int, int]] = {}

    @classmethod
    def from_events(
        cls, interactions: pd.DataFrame, purchase_events: Iterable[str] = DEFAULT_PURCHASE_EVENTS
    ) -> CoPurchaseCounts:
        """From an interactions frame (only its purchase events count)."""
        return cls(purchase_pairs(interactions, purchase_events))

    # ------------------------------------------------------------------ reads
    @property
    def n_users(self) -> int:
        """Users with at least one counted purchase."""
        with self._lock:
            base = {u for u in self._user_index if u not in self._gone}
            return len(base | {u for u, items in self._added.items() if items})

    def count(self, a: str, b: str) -> int:
        """Distinct users who purchased both ``a`` and ``b`` (0 for ``a == b`` or unknown ids)."""
        return int(self.counts([a], [b])[0, 0])

    def counts(self, anchors: Sequence[str], items: Sequence[str]) -> NDArray[np.int64]:
        """``(len(anchors), len(items))`` co-purchase counts; 0 on the diagonal pairs."""
        out = np.zeros((len(anchors), len(items)), dtype=np.int64)
        if not len(anchors) or not len(items):
            return out
        with self._lock:
            index = self._item_index
            a_idx = [index.get(str(a), -1) for a in anchors]
            i_idx = np.asarray([index.get(str(i), -1) for i in items], dtype=np.int64)
            base, n_base = self._base, self._n_base
            for p, a in enumerate(a_idx):
                if 0 <= a < n_base:
                    # One CSR row (sorted column indices): a binary search per item.
                    lo, hi = base.indptr[a], base.indptr[a + 1]
                    cols, vals = base.indices[lo:hi], base.data[lo:hi]
                    if cols.size:
                        pos = np.minimum(np.searchsorted(cols, i_idx), cols.size - 1)
                        hit = cols[pos] == i_idx
                        out[p, hit] = vals[pos[hit]]
                delta = self._delta.get(a) if a >= 0 else None
                if delta:
                    for q, i in enumerate(i_idx.tolist()):
                        out[p, q] += delta.get(i, 0)
        # Identical ids are never a pair: the matrix has no diagonal, the overlay none either.
        return out

    # ------------------------------------------------------------------ updates
    def _items_of(self, user_id: str) -> set[int]:
        """The user's purchased items now (caller holds the lock)."""
        items = set(self._added.get(user_id, ()))
        row = self._user_index.get(user_id)
        if row is not None and user_id not in self._gone:
            p = self._purchased
            items.update(int(i) for i in p.indices[p.indptr[row] : p.indptr[row + 1]])
        return items

    def _shift(self, a: int, b: int, change: int) -> None:
        """Add ``change`` to the pair's count, both directions (caller holds the lock)."""
        for x, y in ((a, b), (b, a)):
            row = self._delta.setdefault(x, {})
            row[y] = row.get(y, 0) + change

    def add(self, user_id: str, item_id: str) -> bool:
        """Count one purchase; ``True`` when it was the user's first purchase of the item."""
        user_id, item_id = str(user_id), str(item_id)
        with self._lock:
            item = self._item_index.get(item_id)
            if item is None:
                item = self._item_index[item_id] = len(self._item_index)
            mine = self._items_of(user_id)
            if item in mine:
                return False
            for other in mine:
                self._shift(item, other, 1)
            self._added.setdefault(user_id, set()).add(item)
            return True

    def add_events(
        self,
        events: Iterable[tuple[str, str, str]],
        purchase_events: Iterable[str] = DEFAULT_PURCHASE_EVENTS,
    ) -> int:
        """Count the purchases among ``(user_id, item_id, event)`` triples; returns how many
        were new (user, item) purchases."""
        types = set(_event_types(purchase_events))
        return sum(
            self.add(user, item) for user, item, event in events if str(event).lower() in types
        )

    def forget_user(self, user_id: str) -> int:
        """Take every purchase of a user out of the counts; returns the items they had."""
        user_id = str(user_id)
        with self._lock:
            mine = sorted(self._items_of(user_id))
            for p, a in enumerate(mine):
                for b in mine[p + 1 :]:
                    self._shift(a, b, -1)
            self._added.pop(user_id, None)
            if user_id in self._user_index:
                self._gone.add(user_id)
            return len(mine)
