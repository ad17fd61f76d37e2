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

    def serving_view(self) -> Any:
        """The bundle as the service ranks it (:class:`digirec.serving.state.Current`: the
        model snapshot and its catalogue, exact scoring), built once per bundle."""
        view = self.__dict__.get("_serving_view")
        if view is None:
            from digirec.serving.state import Catalogue, Current, ModelSnapshot

            snapshot = ModelSnapshot(self, int(self.manifest.get("model_version", 1)), None)
            catalogue = Catalogue.build(self.model, self.items, None, snapshot.popularity)
            view = self.__dict__["_serving_view"] = Current(snapshot, catalogue)
        return view

    def candidate_mask(self, item_filter: ItemFilter) -> NDArray[np.bool_] | None:
        """Boolean mask over the model's items that pass the filter (``None`` = all pass).

        The service's own rule (:meth:`digirec.serving.state.Catalogue.mask`): one filter
        implementation for the CLI, the demo and the service.
        """
        if item_filter.is_empty():
            return None
        if self.items is None:
            raise ConfigError(
                "this bundle has no catalogue, so it cannot filter by item attributes"
            )
        mask = self.serving_view().catalogue.mask(item_filter)
        return None if mask is None else np.array(mask, dtype=bool)

    def recommend(
        self,
        user_ids: list[str],
        k: int = 10,
        *,
        filter_seen: bool = True,
        item_filter: ItemFilter | None = None,
    ) -> pd.DataFrame:
        """Top-k for known users with business filters; catalogue columns joined for display.

        Ranked by the service's engine (:class:`digirec.serving.state.RankingEngine`), so a
        list equals the one ``GET /v1/users/{id}/recommendations`` gives the same user with
        the same filters (before real-time events).
        """
        from digirec.serving.state import RankingEngine

        item_filter = item_filter or ItemFilter()
        if not item_filter.is_empty() and self.items is None:
            raise ConfigError(
                "this bundle has no catalogue, so it cannot filter by item attributes"
            )
        current = self.serving_view()
        user_idx = self.model.user_map_.to_internal(user_ids)
        engine = RankingEngine()
        parts = []
        for user_id, row in zip(user_ids, user_idx.tolist(), strict=True):
            rows, scores = engine.recommend_known(
                current, int(row), k, item_filter, filter_seen=filter_seen
            )
            parts.append(
                pd.DataFrame(
                    {
                        C.USER_ID: [str(user_id)] * len(rows),
                        C.ITEM_ID: current.catalogue.frame[C.ITEM_ID].to_numpy()[rows],
                        C.SCORE: scores.astype(np.float64),
                        C.RANK: np.arange(1, len(rows) + 1, dtype=np.int64),
                    }
                )
            )
        columns = [C.USER_ID, C.ITEM_ID, C.SCORE, C.RANK]
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
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
