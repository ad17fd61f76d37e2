"""Dataset: id maps, chronologically ordered interactions and the one users x items matrix.

``Dataset`` is the single place where external ids become internal indices and where the
users x items CSR matrix is built. Every model and every evaluation reads interactions through
it, so there is exactly one orientation (rows = users, columns = items) and one ordering rule:
each user's events are sorted by timestamp with a stable sort, ties keep the source file order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from digirec import columns as C
from digirec.data.events import EventWeights
from digirec.data.idmap import IdMap
from digirec.data.tables import RawData
from digirec.exceptions import SchemaError

DuplicatePolicy = Literal["first", "last", "sum", "max", "keep"]


@dataclass(frozen=True)
class DatasetStats:
    """Counts that describe how a dataset was built (nothing is dropped without a count here)."""

    n_raw_interactions: int
    n_duplicates_merged: int
    duplicates: str


@dataclass(frozen=True, eq=False)
class Dataset:
    """Interactions with id maps and optional item / user feature tables.

    Attributes
    ----------
    user_map, item_map:
        External id <-> internal index maps. The item map may hold catalogue items that have no
        interaction (cold items); they are ranked like every other item.
    interactions:
        One row per kept interaction with columns ``user_idx``, ``item_idx``, ``weight``,
        ``timestamp`` (NaN when unknown), ``source_row`` and, when present, ``rating`` and
        ``event``. Rows are grouped by user and, within a user, in chronological order.
    items:
        Catalogue table aligned with ``item_map``: row ``i`` describes ``item_idx == i``
        (columns ``item_id`` + attributes), or ``None``.
    users:
        User attribute table aligned with ``user_map`` likewise, or ``None``.
    """

    user_map: IdMap
    item_map: IdMap
    interactions: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    name: str = "dataset"
    stats: DatasetStats | None = None
    extras: dict[str, object] = field(default_factory=dict)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_raw(
        cls,
        raw: RawData,
        *,
        event_weights: EventWeights | None = None,
        duplicates: DuplicatePolicy = "first",
        include_catalog_items: bool = False,
    ) -> Dataset:
        """Build a dataset from loader output.

        Parameters
        ----------
        raw:
            Output of :func:`digirec.data.load.load_data` or the synthetic shop.
        event_weights:
            How event types / explicit weights / time decay become weights (default weights).
        duplicates:
            What to do with repeated (user, item) pairs after chronological ordering:
            ``"first"`` keeps the first occurrence (the evaluation protocol), ``"last"`` the last,
            ``"sum"``/``"max"`` keep the first occurrence's position but aggregate the weights,
            ``"keep"`` keeps all rows (the matrix then sums them).
        include_catalog_items:
            Also index catalogue items that have no interaction (needed to recommend new items by
            content); the benchmark protocol ranks interacted items only.
        """
        return cls.from_interactions(
            raw.interactions,
            items=raw.items,
            users=raw.users,
            name=raw.name,
            event_weights=event_weights,
            duplicates=duplicates,
            include_catalog_items=include_catalog_items,
            extras=dict(raw.extras),
        )

    @classmethod
    def from_interactions(
        cls,
        interactions: pd.DataFrame,
        *,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        name: str = "dataset",
        event_weights: EventWeights | None = None,
        duplicates: DuplicatePolicy = "first",
        include_catalog_items: bool = False,
        extras: dict[str, object] | None = None,
    ) -> Dataset:
        """Build a dataset from a canonical interactions frame (see :meth:`from_raw`)."""
        for col in (C.USER_ID, C.ITEM_ID):
            if col not in interactions.columns:
                raise SchemaError("required column is missing", field=col)
        frame = interactions.reset_index(drop=True)
        n_raw = len(frame)
        user_ids = frame[C.USER_ID].astype(str).to_numpy(dtype=object)
        item_ids = frame[C.ITEM_ID].astype(str).to_numpy(dtype=object)
        source_row = (
            frame[C.SOURCE_ROW].to_numpy(dtype=np.int64)
            if C.SOURCE_ROW in frame.columns
            else np.arange(n_raw, dtype=np.int64)
        )
        timestamp = (
            frame[C.TIMESTAMP].to_numpy(dtype=np.float64)
            if C.TIMESTAMP in frame.columns
            else np.full(n_raw, np.nan)
        )
        weight = (event_weights or EventWeights()).row_weights(frame)

        user_map = IdMap.from_values(user_ids, kind="user")
        if users is not None and include_catalog_items:
            user_map = user_map.extend(users[C.USER_ID].astype(str))
        item_map = IdMap.from_values(item_ids, kind="item")
        if items is not None and include_catalog_items:
            item_map = item_map.extend(items[C.ITEM_ID].astype(str))
        user_idx = user_map.to_internal(user_ids)
        item_idx = item_map.to_internal(item_ids)

        # Stable chronological order inside each user: by timestamp (unknown last), then by the
        # source file order. np.lexsort sorts by the last key first.
        ts_key = np.where(np.isnan(timestamp), np.inf, timestamp)
        order = np.lexsort((source_row, ts_key, user_idx))
        table = pd.DataFrame(
            {
                C.USER_IDX: user_idx[order],
                C.ITEM_IDX: item_idx[order],
                C.WEIGHT: weight[order],
                C.TIMESTAMP: timestamp[order],
                C.SOURCE_ROW: source_row[order],
            }
        )
        for optional in (C.RATING, C.EVENT):
            if optional in frame.columns:
                table[optional] = frame[optional].to_numpy()[order]
        table, n_merged = _merge_duplicates(table, duplicates)

        return cls(
            user_map=user_map,
            item_map=item_map,
            interactions=table,
            items=_align(items, C.ITEM_ID, item_map),
            users=_align(users, C.USER_ID, user_map),
            name=name,
            stats=DatasetStats(n_raw, n_merged, duplicates),
            extras=extras or {},
        )

    # ------------------------------------------------------------------ views
    @property
    def n_users(self) -> int:
        return len(self.user_map)

    @property
    def n_items(self) -> int:
        return len(self.item_map)

    @property
    def n_interactions(self) -> int:
        return len(self.interactions)

    @cached_property
    def user_idx(self) -> NDArray[np.int64]:
        return np.asarray(self.interactions[C.USER_IDX], dtype=np.int64)

    @cached_property
    def item_idx(self) -> NDArray[np.int64]:
        return np.asarray(self.interactions[C.ITEM_IDX], dtype=np.int64)

    def user_item_matrix(self, *, binary: bool = False) -> sp.csr_matrix:
        """The users x items CSR matrix (float32). Repeated pairs sum their weights.

        ``binary=True`` gives 1.0 for every observed pair. This is the only place digirec builds
        an interaction matrix.
        """
        values = (
            np.ones(self.n_interactions, dtype=np.float32)
            if binary
            else self.interactions[C.WEIGHT].to_numpy(dtype=np.float32)
        )
        matrix = sp.csr_matrix(
            (values, (self.user_idx, self.item_idx)),
            shape=(self.n_users, self.n_items),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        if binary:
            matrix.data[:] = 1.0
        return matrix

    def subset(self, mask: NDArray[np.bool_]) -> Dataset:
        """The same id maps and feature tables with only the masked interaction rows."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.n_interactions,):
            raise ValueError(f"mask must have shape ({self.n_interactions},), got {mask.shape}")
        return Dataset(
            user_map=self.user_map,
            item_map=self.item_map,
            interactions=self.interactions[mask].reset_index(drop=True),
            items=self.items,
            users=self.users,
            name=self.name,
            stats=self.stats,
            extras=self.extras,
        )

    def item_column(self, column: str) -> NDArray[np.object_] | None:
        """Values of one catalogue column aligned with ``item_idx`` (``None`` if absent)."""
        if self.items is None or column not in self.items.columns:
            return None
        return np.asarray(self.items[column], dtype=object)

    def item_codes(self, column: str) -> NDArray[np.int64] | None:
        """Integer codes of a categorical catalogue column by ``item_idx`` (-1 = missing)."""
        values = self.item_column(column)
        if values is None:
            return None
        codes, _ = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
        return np.asarray(codes, dtype=np.int64)

    def describe(self) -> dict[str, object]:
        """Summary statistics: counts, density, per-user / per-item distribution, time span."""
        per_user = np.bincount(self.user_idx, minlength=self.n_users)
        per_item = np.bincount(self.item_idx, minlength=self.n_items)
        ts = self.interactions[C.TIMESTAMP].to_numpy(dtype=np.float64)
        known = ts[~np.isnan(ts)]
        info: dict[str, object] = {
            "name": self.name,
            "n_users": self.n_users,
            "n_items": self.n_items,
            "n_interactions": self.n_interactions,
            "density": self.n_interactions / max(1, self.n_users * self.n_items),
            "interactions_per_user": _distribution(per_user),
            "interactions_per_item": _distribution(per_item),
            "n_items_without_interactions": int((per_item == 0).sum()),
            "time_span": None,
        }
        if known.size:
            start = pd.Timestamp(known.min(), unit="s").isoformat()
            end = pd.Timestamp(known.max(), unit="s").isoformat()
            info["time_span"] = {
                "start": start,
                "end": end,
                "days": float((known.max() - known.min()) / 86_400.0),
            }
        if self.stats is not None:
            info["n_raw_interactions"] = self.stats.n_raw_interactions
            info["n_duplicates_merged"] = self.stats.n_duplicates_merged
            info["duplicates_policy"] = self.stats.duplicates
        if C.EVENT in self.interactions.columns:
            counts = self.interactions[C.EVENT].value_counts(dropna=False)
            info["events"] = {str(k): int(v) for k, v in counts.items()}
        return info


def _merge_duplicates(table: pd.DataFrame, policy: DuplicatePolicy) -> tuple[pd.DataFrame, int]:
    """Apply the repeated-pair policy to a chronologically ordered table."""
    if policy == "keep":
        return table, 0
    pair = table[C.USER_IDX].to_numpy(np.int64) * (table[C.ITEM_IDX].max() + 1) + table[
        C.ITEM_IDX
    ].to_numpy(np.int64)
    pair_series = pd.Series(pair)
    if policy == "last":
        keep = ~pair_series.duplicated(keep="last").to_numpy()
        out = table[keep]
    elif policy in ("first", "sum", "max"):
        keep = ~pair_series.duplicated(keep="first").to_numpy()
        out = table[keep].copy()
        if policy != "first":
            agg = table.groupby(pair, sort=False)[C.WEIGHT].agg(policy)
            out[C.WEIGHT] = agg.loc[pair[keep]].to_numpy()
    else:
        raise ValueError(f"unknown duplicates policy {policy!r}")
    return out.reset_index(drop=True), int(len(table) - len(out))


def _align(table: pd.DataFrame | None, id_col: str, id_map: IdMap) -> pd.DataFrame | None:
    """Reorder a feature table so row i describes internal index i (missing rows are empty)."""
    if table is None:
        return None
    frame = table.copy()
    frame[id_col] = frame[id_col].astype(str)
    frame = frame.drop_duplicates(subset=id_col, keep="first").set_index(id_col)
    aligned = frame.reindex(pd.Index(id_map.external_ids, name=id_col))
    return aligned.reset_index()


def _distribution(counts: NDArray[np.int64]) -> dict[str, float]:
    if counts.size == 0:
        return {"min": 0, "median": 0, "mean": 0, "max": 0}
    return {
        "min": int(counts.min()),
        "median": float(np.median(counts)),
        "mean": float(counts.mean()),
        "max": int(counts.max()),
    }
