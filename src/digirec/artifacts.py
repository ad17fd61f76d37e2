"""Model bundles: everything needed to serve recommendations without the training data.

A bundle directory holds the model (``model.json`` + ``state.npz``, written by
``Recommender.save``), the catalogue aligned with the model's item index (``items.parquet``, for
business filters and display) and ``manifest.json`` (versions, data statistics, the resolved
config, when and from what it was trained).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from digirec import __version__
from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.exceptions import ConfigError
from digirec.models.base import Recommender

MANIFEST_FILE = "manifest.json"
ITEMS_FILE = "items.parquet"
MODEL_DIR = "model"


@dataclass
class ItemFilter:
    """Business filters on the catalogue; ``None`` means "no constraint"."""

    categories: list[str] | None = None
    brands: list[str] | None = None
    min_price: float | None = None
    max_price: float | None = None
    in_stock: bool | None = None

    def is_empty(self) -> bool:
        return all(v is None for v in vars(self).values())


@dataclass
class Bundle:
    """A loaded model bundle."""

    model: Recommender
    items: pd.DataFrame | None
    manifest: dict[str, Any]

    def candidate_mask(self, item_filter: ItemFilter) -> NDArray[np.bool_] | None:
        """Boolean mask over the model's items that pass the filter (``None`` = all pass)."""
        if item_filter.is_empty():
            return None
        if self.items is None:
            raise ConfigError(
                "this bundle has no catalogue, so it cannot filter by item attributes"
            )
        mask = np.ones(len(self.items), dtype=bool)
        if item_filter.categories is not None:
            mask &= _column(self.items, C.CATEGORY).isin(item_filter.categories).to_numpy()
        if item_filter.brands is not None:
            mask &= _column(self.items, C.BRAND).isin(item_filter.brands).to_numpy()
        if item_filter.min_price is not None or item_filter.max_price is not None:
            price = pd.to_numeric(_column(self.items, C.PRICE), errors="coerce").to_numpy(float)
            known = ~np.isnan(price)
            lo = -np.inf if item_filter.min_price is None else item_filter.min_price
            hi = np.inf if item_filter.max_price is None else item_filter.max_price
            # Items with unknown price never pass a price filter: a filter is a promise.
            mask &= (
                known
                & (np.nan_to_num(price, nan=-np.inf) >= lo)
                & (np.nan_to_num(price, nan=np.inf) <= hi)
            )
        if item_filter.in_stock is not None:
            stock = _column(self.items, C.IN_STOCK).astype("boolean").fillna(False).to_numpy(bool)
            mask &= stock == item_filter.in_stock
        return mask

    def recommend(
        self,
        user_ids: list[str],
        k: int = 10,
        *,
        filter_seen: bool = True,
        item_filter: ItemFilter | None = None,
    ) -> pd.DataFrame:
        """Top-k for known users with business filters; catalogue columns joined for display."""
        mask = self.candidate_mask(item_filter or ItemFilter())
        user_idx = self.model.user_map_.to_internal(user_ids)
        items, scores = self.model.recommend_idx(
            user_idx, k, filter_seen=filter_seen, candidates=mask
        )
        frame = self.model._frame(user_ids, items, scores)
        return self._with_catalogue(frame)

    def _with_catalogue(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.items is None:
            return frame
        shown = [c for c in (C.TITLE, C.BRAND, C.CATEGORY, C.PRICE) if c in self.items.columns]
        if not shown:
            return frame
        return frame.merge(self.items[[C.ITEM_ID, *shown]], on=C.ITEM_ID, how="left")


def _parquet_safe(value: object) -> object:
    """Lists and dicts become JSON text, other non-strings text; missing stays missing."""
    if value is None or isinstance(value, str) or (isinstance(value, float) and np.isnan(value)):
        return value
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _column(items: pd.DataFrame, column: str) -> pd.Series:
    if column not in items.columns:
        raise ConfigError(f"the catalogue has no {column!r} column to filter on")
    return items[column]


def save_bundle(
    model: Recommender, dataset: Dataset, path: str | Path, *, extra: dict[str, Any] | None = None
) -> Path:
    """Write a servable bundle for a fitted ``model`` trained on ``dataset``."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / MODEL_DIR)
    if dataset.items is not None:
        items = dataset.items.copy()
        # Parquet needs one type per column; mixed object columns become strings.
        for col in items.columns:
            if items[col].dtype == object:
                items[col] = items[col].map(_parquet_safe)
        items.to_parquet(out / ITEMS_FILE, index=False)
    manifest = {
        "digirec_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model.name,
        "config": model.get_config(),
        "dataset": {
            "name": dataset.name,
            "n_users": dataset.n_users,
            "n_items": dataset.n_items,
            "n_interactions": dataset.n_interactions,
        },
        "has_catalogue": dataset.items is not None,
        **(extra or {}),
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return out


def load_bundle(path: str | Path) -> Bundle:
    """Load a bundle written by :func:`save_bundle`."""
    src = Path(path)
    manifest_path = src / MANIFEST_FILE
    if not manifest_path.exists():
        raise ConfigError(f"{src} is not a digirec bundle (no {MANIFEST_FILE})")
    manifest = json.loads(manifest_path.read_text())
    model = Recommender.load(src / MODEL_DIR)
    items = pd.read_parquet(src / ITEMS_FILE) if (src / ITEMS_FILE).exists() else None
    return Bundle(model=model, items=items, manifest=manifest)
