"""User profiles (用户画像): affinities to brands, categories and price bands; activity; recency.

:func:`build_profiles` summarises each user's event log into a profile that is readable
(:meth:`UserProfiles.profile` gives a JSON-able dict for a service or an explanation) and usable
as model input (:meth:`UserProfiles.feature_matrix`).

How the numbers are made
------------------------
Each event gets a weight -- its event type's weight from :class:`~digirec.data.events.EventWeights`
(a purchase counts more than a view), times ``0.5 ** (age_days / half_life_days)`` when a half
life is given, the age measured from ``now`` (default: the newest event in the data). The
weights form one users x items matrix ``W``; one sparse product ``W @ F`` with the item x value
matrix ``F`` of a catalogue field (brand one-hot, genre multi-hot spread to sum 1, price-band
one-hot from :mod:`digirec.features.catalog`) gives every user's weight per value at once, and
dividing by the row sum turns it into shares (an affinity of 0.42 = 42 % of the user's decayed,
weighted attention). Items without a value count for the field's ``<other>`` bucket, so shares
always add up to 1.

The profile only sees the interactions the dataset kept: build the dataset with
``duplicates="keep"`` so that the view, the click and the purchase of one item all count
(the evaluation protocol's ``"first"`` keeps only the first event of a pair).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.events import SECONDS_PER_DAY, EventWeights
from digirec.data.schema import coerce_prices
from digirec.exceptions import UnknownIdError
from digirec.features.catalog import (
    GENRES,
    OTHER,
    PRICE_BAND,
    CatalogConfig,
    ItemFeatures,
    build_item_features,
)

__all__ = [
    "AFFINITY_FIELDS",
    "DEFAULT_USER_ATTRIBUTES",
    "UserProfiles",
    "build_profiles",
]

#: Profile keys of the affinity blocks, in output order.
AFFINITY_FIELDS = ("brands", "categories", "price_bands")

#: User-table columns used as attributes when ``user_attributes`` is not given. Only
#: descriptive columns: a synthetic shop's planted ``budget`` or ``preferred_brands`` would leak
#: the ground truth into model input.
DEFAULT_USER_ATTRIBUTES = (
    "age",
    "age_band",
    "gender",
    "occupation",
    "city_tier",
    "country",
    "region",
    "membership",
)

PURCHASE = "purchase"

# Numeric user columns with at most this many distinct values are one-hot encoded
# (city tier 1..4) rather than standardised.
_MAX_NUMERIC_LEVELS = 10


def _to_seconds(now: object) -> float:
    """``now`` as seconds since the epoch (accepts numbers, datetimes, timestamps, strings)."""
    if isinstance(now, int | float | np.integer | np.floating):
        return float(now)
    stamp = pd.Timestamp(now)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return float(stamp.timestamp())


def _iso(seconds: float) -> str | None:
    if not math.isfinite(seconds):
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat()


def _json_value(value: Any) -> Any:
    """numpy / pandas scalars to plain JSON types (NaN and NA to ``None``)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _row_normalise(matrix: sp.csr_matrix) -> sp.csr_matrix:
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    inv = np.divide(1.0, sums, out=np.zeros_like(sums, dtype=np.float64), where=sums > 0)
    return sp.csr_matrix(sp.diags(inv) @ matrix)


def _zscore(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Standardise, ignoring NaN; NaN becomes 0 (the mean)."""
    finite = np.isfinite(x)
    if not finite.any():
        return np.zeros_like(x)
    mean = float(x[finite].mean())
    std = float(x[finite].std()) or 1.0
    return np.where(finite, (x - mean) / std, 0.0)


@dataclass
class UserProfiles:
    """Profiles of every user of a dataset (row ``u`` = ``user_idx == u``).

    Attributes
    ----------
    user_ids:
        External user ids by ``user_idx``.
    affinities:
        ``"brands"``, ``"categories"``, ``"price_bands"`` -> ``(n_users, n_values)`` CSR of
        shares (rows sum to 1 for users with events; absent when the catalogue lacks the field).
    labels:
        The value names of each affinity block's columns.
    stats:
        One row per user: ``n_events``, ``n_purchases``, ``active_days``,
        ``events_per_active_day``, ``total_weight``, ``first_seen``, ``last_seen`` (seconds),
        ``recency_days``, ``purchase_price_mean``, ``purchase_price_median`` and ``price_mean``
        (weighted mean price of all interacted items, a budget estimate for users who never
        bought).
    attributes:
        The chosen user-table columns aligned with ``user_idx`` (may have no columns).
    now:
        The reference time of recency and decay (seconds), ``None`` without timestamps.
    item_features:
        The catalogue features the affinities were computed from.
    top_k:
        Length of the top-brand / top-category lists.
    """

    user_ids: NDArray[np.object_]
    affinities: dict[str, sp.csr_matrix]
    labels: dict[str, list[str]]
    stats: pd.DataFrame
    attributes: pd.DataFrame
    now: float | None
    item_features: ItemFeatures | None = None
    top_k: int = 3
    _position: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._position = {str(u): i for i, u in enumerate(self.user_ids)}

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def user_index(self, user_id: object) -> int:
        """``user_idx`` of an external id (:class:`UnknownIdError` if unknown)."""
        try:
            return self._position[str(user_id)]
        except KeyError:
            raise UnknownIdError("user", [user_id]) from None

    # ------------------------------------------------------------------ readable views
    def shares(self, user_idx: int, block: str) -> dict[str, float]:
        """Non-zero shares of one affinity block for one user, largest first."""
        if block not in self.affinities:
            return {}
        row = self.affinities[block].getrow(user_idx)
        labels = self.labels[block]
        pairs = sorted(
            ((labels[j], float(v)) for j, v in zip(row.indices, row.data, strict=True) if v > 0),
            key=lambda lv: (-lv[1], lv[0]),
        )
        return dict(pairs)

    def top(self, block: str, k: int | None = None) -> list[list[str]]:
        """Per user, the ``k`` values with the largest shares (``<other>`` left out)."""
        k = self.top_k if k is None else k
        if block not in self.affinities:
            return [[] for _ in range(self.n_users)]
        matrix = self.affinities[block]
        labels = np.asarray(self.labels[block], dtype=object)
        real = labels != OTHER
        out: list[list[str]] = []
        for u in range(self.n_users):
            start, end = matrix.indptr[u], matrix.indptr[u + 1]
            cols, vals = matrix.indices[start:end], matrix.data[start:end]
            keep = real[cols] & (vals > 0)
            cols, vals = cols[keep], vals[keep]
            order = np.lexsort((labels[cols].astype(str), -vals))[:k]
            out.append([str(labels[c]) for c in cols[order]])
        return out

    def profile(self, user_id: object) -> dict[str, Any]:
        """One user's profile as a JSON-able dict.

        Returns
        -------
        dict
            ``{"user_id", "brands": {"Sony": 0.42, ...}, "categories": {...},
            "price_bands": {...}, "top_brands": [...], "top_categories": [...],
            "activity": {"n_events", "n_purchases", "active_days", "events_per_active_day",
            "total_weight"}, "recency_days", "first_seen", "last_seen" (ISO 8601 UTC),
            "budget": {"purchase_price_mean", "purchase_price_median", "price_mean"},
            "attributes": {...}}``; unknown numbers are ``None``.
        """
        u = self.user_index(user_id)
        s = self.stats.iloc[u]
        brands = self.shares(u, "brands")
        categories = self.shares(u, "categories")
        out: dict[str, Any] = {
            "user_id": str(self.user_ids[u]),
            "brands": brands,
            "categories": categories,
            "price_bands": self.shares(u, "price_bands"),
            "top_brands": [b for b in brands if b != OTHER][: self.top_k],
            "top_categories": [c for c in categories if c != OTHER][: self.top_k],
            "activity": {
                "n_events": int(s["n_events"]),
                "n_purchases": int(s["n_purchases"]),
                "active_days": int(s["active_days"]),
                "events_per_active_day": _json_value(s["events_per_active_day"]),
                "total_weight": _json_value(s["total_weight"]),
            },
            "recency_days": _json_value(s["recency_days"]),
            "first_seen": _iso(float(s["first_seen"])),
            "last_seen": _iso(float(s["last_seen"])),
            "budget": {
                "purchase_price_mean": _json_value(s["purchase_price_mean"]),
                "purchase_price_median": _json_value(s["purchase_price_median"]),
                "price_mean": _json_value(s["price_mean"]),
            },
            "attributes": {
                str(k): _json_value(v) for k, v in self.attributes.iloc[u].to_dict().items()
            },
        }
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per user: id, activity, recency, budget, top values and attributes.

        ``first_seen`` / ``last_seen`` are UTC ``Timestamp`` s; the top lists are joined with
        ``"|"``, the catalogue's list separator.
        """
        frame = pd.DataFrame({C.USER_ID: self.user_ids.astype(str)})
        stats = self.stats.reset_index(drop=True).copy()
        for col in ("first_seen", "last_seen"):
            stats[col] = pd.to_datetime(stats[col], unit="s", utc=True)
        frame = pd.concat([frame, stats], axis=1)
        for block, column in (("brands", "top_brands"), ("categories", "top_categories")):
            frame[column] = ["|".join(t) for t in self.top(block)]
        frame["top_price_band"] = [t[0] if t else None for t in self.top("price_bands", 1)]
        attrs = self.attributes.reset_index(drop=True)
        clash = [c for c in attrs.columns if c in frame.columns]
        return pd.concat([frame, attrs.drop(columns=clash)], axis=1)

    # ------------------------------------------------------------------ model input
    def feature_matrix(self) -> tuple[sp.csr_matrix, list[str]]:
        """Profiles as model input: ``(n_users, n_features)`` float32 CSR and column names.

        Columns: the affinity shares (``brand=Sony``, ``category=Phones``,
        ``price_band=<71.99``); standardised activity and recency (``log1p`` of counts and
        days first -- they are heavy-tailed -- with a ``recency_missing`` flag for users without
        timestamps) and log budget; one-hot categorical attributes (``attr:gender=M``) and
        standardised numeric ones (``attr:age``).
        """
        blocks: list[sp.csr_matrix] = []
        names: list[str] = []
        singular = {"brands": "brand", "categories": "category", "price_bands": PRICE_BAND}
        for block in AFFINITY_FIELDS:
            if block in self.affinities:
                blocks.append(self.affinities[block].astype(np.float32))
                names += [f"{singular[block]}={label}" for label in self.labels[block]]

        s = self.stats
        recency = s["recency_days"].to_numpy(dtype=np.float64)
        price = s["price_mean"].to_numpy(dtype=np.float64)
        dense_cols = {
            "activity:log_n_events": np.log1p(s["n_events"].to_numpy(dtype=np.float64)),
            "activity:log_n_purchases": np.log1p(s["n_purchases"].to_numpy(dtype=np.float64)),
            "activity:log_active_days": np.log1p(s["active_days"].to_numpy(dtype=np.float64)),
            "activity:log_events_per_active_day": np.log1p(
                s["events_per_active_day"].to_numpy(dtype=np.float64)
            ),
            "recency:log_days": np.log1p(np.clip(recency, 0.0, None)),
            "budget:log_price_mean": np.log1p(np.clip(price, 0.0, None)),
        }
        dense = [_zscore(v) for v in dense_cols.values()]
        dense_names = list(dense_cols)
        dense.append((~np.isfinite(recency)).astype(np.float64))
        dense_names.append("recency:missing")
        dense.append((~np.isfinite(price)).astype(np.float64))
        dense_names.append("budget:missing")

        for col in self.attributes.columns:
            values = self.attributes[col]
            numeric = pd.to_numeric(values, errors="coerce")
            is_numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(
                values
            )
            if is_numeric and numeric.nunique() > _MAX_NUMERIC_LEVELS:
                dense.append(_zscore(numeric.to_numpy(dtype=np.float64, na_value=np.nan)))
                dense_names.append(f"attr:{col}")
                continue
            cells = values.astype(object).where(values.notna(), None).tolist()
            levels = sorted({str(v) for v in cells if v is not None})
            for level in levels:
                dense.append(np.array([v is not None and str(v) == level for v in cells], float))
                dense_names.append(f"attr:{col}={level}")

        blocks.append(sp.csr_matrix(np.column_stack(dense).astype(np.float32)))
        names += dense_names
        matrix = sp.hstack(blocks, format="csr", dtype=np.float32)
        matrix.eliminate_zeros()
        return matrix, names


# ============================================================================ building
def _event_weights(
    dataset: Dataset,
    event_weights: EventWeights | None,
    half_life_days: float | None,
    now: float | None,
) -> NDArray[np.float64]:
    inter = dataset.interactions
    if event_weights is not None and C.EVENT in inter.columns:
        # Recompute from the event types; the decay is applied below, relative to ``now``
        # (EventWeights would measure age from the newest event).
        plain = event_weights.model_copy(update={"half_life_days": None})
        weights = plain.row_weights(inter[[C.EVENT]])
    else:
        weights = inter[C.WEIGHT].to_numpy(dtype=np.float64).copy()
    if half_life_days is None and event_weights is not None:
        half_life_days = event_weights.half_life_days
    if half_life_days is not None and now is not None:
        ts = inter[C.TIMESTAMP].to_numpy(dtype=np.float64)
        age = np.clip((now - ts) / SECONDS_PER_DAY, 0.0, None)
        decay = np.where(np.isfinite(age), 0.5 ** (age / half_life_days), 1.0)
        weights = weights * decay
    return weights


def _default_item_features(dataset: Dataset, n_price_bands: int) -> ItemFeatures | None:
    if dataset.items is None:
        return None
    # Every brand / category is kept (min_count=1): a profile is read by people, "<other>"
    # should only mean "no value".
    config = CatalogConfig(
        categorical=(C.BRAND, C.CATEGORY),
        multi_valued={GENRES: "|"},
        numeric=(),
        min_count=1,
        n_price_bands=n_price_bands,
    )
    return build_item_features(dataset, config)


def _stats(
    dataset: Dataset,
    weights: NDArray[np.float64],
    now: float | None,
) -> pd.DataFrame:
    inter = dataset.interactions
    n_users = dataset.n_users
    u = dataset.user_idx
    ts = inter[C.TIMESTAMP].to_numpy(dtype=np.float64)
    known = np.isfinite(ts)

    n_events = np.bincount(u, minlength=n_users)
    if C.EVENT in inter.columns:
        is_purchase = (inter[C.EVENT].astype(str).str.lower() == PURCHASE).to_numpy()
    else:
        is_purchase = np.zeros(len(inter), dtype=bool)
    n_purchases = np.bincount(u, weights=is_purchase, minlength=n_users).astype(np.int64)
    total_weight = np.bincount(u, weights=weights, minlength=n_users)

    first = np.full(n_users, np.nan)
    last = np.full(n_users, np.nan)
    active_days = np.zeros(n_users, dtype=np.int64)
    n_timed = np.bincount(u[known], minlength=n_users)
    if known.any():
        timed = pd.DataFrame({"u": u[known], "ts": ts[known]}).groupby("u")["ts"]
        lo, hi = timed.min(), timed.max()
        first[lo.index.to_numpy()] = lo.to_numpy()
        last[hi.index.to_numpy()] = hi.to_numpy()
        # Distinct (user, UTC day) pairs.
        day = np.floor(ts[known] / SECONDS_PER_DAY).astype(np.int64)
        pairs = np.unique(u[known].astype(np.int64) * (day.max() - day.min() + 1) + day - day.min())
        span = day.max() - day.min() + 1
        active_days = np.bincount(pairs // span, minlength=n_users)
    per_day = np.divide(n_timed, active_days, out=np.full(n_users, np.nan), where=active_days > 0)
    recency = (now - last) / SECONDS_PER_DAY if now is not None else np.full(n_users, np.nan)

    purchase_mean = np.full(n_users, np.nan)
    purchase_median = np.full(n_users, np.nan)
    price_mean = np.full(n_users, np.nan)
    prices = dataset.item_column(C.PRICE)
    if prices is not None:
        item_price = coerce_prices(prices)
        p = item_price[dataset.item_idx]
        has_price = np.isfinite(p)
        bought = is_purchase & has_price
        if bought.any():
            grouped = pd.DataFrame({"u": u[bought], "p": p[bought]}).groupby("u")["p"]
            agg = grouped.agg(["mean", "median"])
            purchase_mean[agg.index.to_numpy()] = agg["mean"].to_numpy()
            purchase_median[agg.index.to_numpy()] = agg["median"].to_numpy()
        wp = np.bincount(u[has_price], weights=(weights * p)[has_price], minlength=n_users)
        ws = np.bincount(u[has_price], weights=weights[has_price], minlength=n_users)
        price_mean = np.divide(wp, ws, out=np.full(n_users, np.nan), where=ws > 0)

    return pd.DataFrame(
        {
            "n_events": n_events.astype(np.int64),
            "n_purchases": n_purchases,
            "active_days": active_days.astype(np.int64),
            "events_per_active_day": per_day,
            "total_weight": total_weight,
            "first_seen": first,
            "last_seen": last,
            "recency_days": recency,
            "purchase_price_mean": purchase_mean,
            "purchase_price_median": purchase_median,
            "price_mean": price_mean,
        }
    )


def build_profiles(
    dataset: Dataset,
    event_weights: EventWeights | None = None,
    half_life_days: float | None = None,
    now: object = None,
    *,
    item_features: ItemFeatures | None = None,
    category_field: str | None = None,
    user_attributes: Sequence[str] | None = None,
    n_price_bands: int = 5,
    top_k: int = 3,
) -> UserProfiles:
    """Build every user's profile from a dataset's interactions and catalogue.

    Parameters
    ----------
    dataset:
        Interactions (build it with ``duplicates="keep"`` so repeated events of one item all
        count), with ``items`` for affinities and prices and ``users`` for attributes.
    event_weights:
        Weights per event type; ``None`` uses the dataset's ``weight`` column as it is (which
        may already carry the dataset's own decay).
    half_life_days:
        Time decay of events, measured back from ``now``; overrides
        ``event_weights.half_life_days``. ``None`` with no ``event_weights`` half-life: no decay.
    now:
        Reference time of recency and decay (seconds since the epoch, a datetime or a date
        string); default the newest timestamp of the data.
    item_features:
        Catalogue features to take brand / category / price-band columns from; default: built
        from ``dataset.items`` with every brand and category kept and ``n_price_bands`` bands.
    category_field:
        The catalogue field read as "categories"; default ``genres`` when the catalogue has
        one (MovieLens: a film belongs to several), else ``category``.
    user_attributes:
        User-table columns to carry; default :data:`DEFAULT_USER_ATTRIBUTES` that exist.
    n_price_bands:
        Quantile price bands when ``item_features`` is built here.
    top_k:
        Length of the top-brand / top-category lists.

    Returns
    -------
    UserProfiles
        One profile per user of ``dataset.user_map``.
    """
    ts = dataset.interactions[C.TIMESTAMP].to_numpy(dtype=np.float64)
    if now is not None:
        now_s: float | None = _to_seconds(now)
    else:
        now_s = float(np.nanmax(ts)) if np.isfinite(ts).any() else None
    weights = _event_weights(dataset, event_weights, half_life_days, now_s)

    feats = (
        item_features
        if item_features is not None
        else _default_item_features(dataset, n_price_bands)
    )
    affinities: dict[str, sp.csr_matrix] = {}
    labels: dict[str, list[str]] = {}
    if feats is not None:
        if feats.n_items != dataset.n_items:
            raise ValueError(
                f"item_features has {feats.n_items} rows, the dataset {dataset.n_items} items"
            )
        w = sp.csr_matrix(
            (weights, (dataset.user_idx, dataset.item_idx)),
            shape=(dataset.n_users, dataset.n_items),
            dtype=np.float64,
        )
        w.sum_duplicates()
        if category_field is None:
            category_field = GENRES if GENRES in feats.fields else C.CATEGORY
        for block, field_name in (
            ("brands", C.BRAND),
            ("categories", category_field),
            ("price_bands", PRICE_BAND),
        ):
            if field_name not in feats.fields:
                continue
            vocab = feats.vocabulary(field_name)
            if vocab == [OTHER]:
                continue  # the catalogue has no value in this field: nothing to profile
            # Spread multi-valued items (a film in 3 genres) so each event still sums to 1.
            per_item = _row_normalise(feats.field_matrix(field_name).astype(np.float64))
            affinities[block] = _row_normalise(w @ per_item).astype(np.float64)
            labels[block] = list(vocab)

    stats = _stats(dataset, weights, now_s)
    if dataset.users is not None:
        wanted = DEFAULT_USER_ATTRIBUTES if user_attributes is None else tuple(user_attributes)
        present = [c for c in wanted if c in dataset.users.columns]
        attributes = dataset.users[present].reset_index(drop=True)
    else:
        attributes = pd.DataFrame(index=pd.RangeIndex(dataset.n_users))
    return UserProfiles(
        user_ids=np.asarray(dataset.user_map.external_ids, dtype=object),
        affinities=affinities,
        labels=labels,
        stats=stats,
        attributes=attributes,
        now=now_s,
        item_features=feats,
        top_k=top_k,
    )
