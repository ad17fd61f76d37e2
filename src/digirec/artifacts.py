"""Model bundles: everything needed to serve recommendations without the training data.

A bundle directory holds the model (``model.json`` + ``state.npz``, written by
``Recommender.save``), the catalogue aligned with the model's item index (``items.parquet``, for
business filters and display) and ``manifest.json`` (versions, data statistics, the resolved
config, when and from what it was trained).

The manifest is a typed :class:`BundleManifest` (``extra="forbid"``) with the training spec a
retrain reuses (:class:`TrainingSpec`: data source, event weights with their half-life, the
duplicates rule). :func:`save_bundle` is its one writer and :func:`read_manifest` its one
reader; an unknown or mistyped key is an error at either end, never silently kept or dropped.
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
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from digirec import __version__
from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.events import DuplicatePolicy, EventWeights
from digirec.exceptions import ConfigError
from digirec.models.base import Recommender

MANIFEST_FILE = "manifest.json"
ITEMS_FILE = "items.parquet"
MODEL_DIR = "model"


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainingSpec(_Manifest):
    """How the bundle's training data was built: what a retrain must do again."""

    source: str | None = Field(None, description="Data set path, 'synth' or 'store:<backend>'.")
    format: str | None = Field(None, description="Loader format of the source.")
    event_weights: EventWeights | None = Field(
        None, description="Event weights, unknown-event rule and half-life of the time decay."
    )
    duplicates: DuplicatePolicy | None = Field(
        None, description="How the events of one user-item pair were combined."
    )
    include_catalog_items: bool | None = Field(
        None, description="Catalogue items without events were indexed too."
    )


class DatasetSummary(_Manifest):
    """Size of the training data."""

    name: str
    n_users: int
    n_items: int
    n_interactions: int


class BundleManifest(_Manifest):
    """Everything ``manifest.json`` may hold (one writer: :func:`save_bundle`)."""

    digirec_version: str
    created_at: str
    model: str
    config: dict[str, Any]
    dataset: DatasetSummary
    has_catalogue: bool
    model_version: int = Field(1, ge=1, description="Version served (retrains count up).")
    trained_at: str | None = None
    fit_seconds: float | None = None
    data: str | None = Field(None, description="The data the bundle was trained on.")
    training: TrainingSpec | None = None
    store_event_watermark: int | None = Field(
        None, ge=0, description="Largest store event id trained on (service retrains)."
    )
    deletion_seq: int = Field(0, ge=0, description="Privacy deletions covered by this model.")
    reason: str | None = Field(None, description="Why a service retrain ran.")
    engine: dict[str, Any] | None = Field(None, description="Distributed engine details.")


def read_manifest(path: str | Path) -> BundleManifest:
    """The typed manifest of a bundle folder (without loading the model).

    Raises :class:`~digirec.exceptions.ConfigError` naming the file for a missing, unreadable
    or invalid manifest.
    """
    manifest_path = Path(path) / MANIFEST_FILE
    if not manifest_path.exists():
        raise ConfigError(f"{path} is not a digirec bundle (no {MANIFEST_FILE})")
    try:
        return BundleManifest.model_validate_json(manifest_path.read_text())
    except (OSError, ValidationError, ValueError) as exc:
        raise ConfigError(f"{manifest_path}: invalid bundle manifest: {exc}") from None


@dataclass
class ItemFilter:
    """Business filters on the catalogue; ``None`` means "no constraint"."""

    categories: list[str] | None = None
    brands: list[str] | None = None
    min_price: float | None = None
    max_price: float | None = None
    in_stock: bool | None = None
    #: Also return unavailable items: out of stock (``in_stock`` false) or hidden. Off by
    #: default everywhere (service, CLI, demo): a shop does not recommend what it cannot sell.
    include_unavailable: bool = False

    def is_empty(self) -> bool:
        """No attribute constraint (the availability rule still applies)."""
        return all(
            v is None
            for v in (self.categories, self.brands, self.min_price, self.max_price, self.in_stock)
        )


@dataclass
class Bundle:
    """A loaded model bundle."""

    model: Recommender
    items: pd.DataFrame | None
    manifest: dict[str, Any]

    @property
    def spec(self) -> BundleManifest:
        """The manifest, typed (``manifest`` is its JSON form)."""
        return BundleManifest.model_validate(self.manifest)

    def serving_view(self) -> Any:
        """The bundle as the service ranks it (:class:`digirec.serving.engine.snapshot.Current`: the
        model snapshot and its catalogue, exact scoring), built once per bundle."""
        view = self.__dict__.get("_serving_view")
        if view is None:
            from digirec.serving.engine.catalogue import Catalogue
            from digirec.serving.engine.snapshot import Current, ModelSnapshot

            snapshot = ModelSnapshot(self, int(self.manifest.get("model_version", 1)), None)
            catalogue = Catalogue.build(self.model, self.items, None, snapshot.popularity)
            view = self.__dict__["_serving_view"] = Current(snapshot, catalogue)
        return view

    def candidate_mask(self, item_filter: ItemFilter) -> NDArray[np.bool_] | None:
        """Boolean mask over the model's items that pass the filter (``None`` = all pass).

        The service's own rule (:meth:`digirec.serving.engine.catalogue.Catalogue.mask`): one filter
        implementation for the CLI, the demo and the service.
        """
        if self.items is None:
            if item_filter.is_empty():
                return None
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

        Ranked by the service's engine (:class:`digirec.serving.engine.ranking.RankingEngine`), so a
        list equals the one ``GET /v1/users/{id}/recommendations`` gives the same user with
        the same filters (before real-time events).
        """
        from digirec.serving.engine.ranking import RankingEngine

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
    fields: dict[str, Any] = {
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
    try:
        manifest = BundleManifest.model_validate(fields)
    except ValidationError as exc:
        raise ConfigError(f"invalid bundle manifest for {out}: {exc}") from None
    text = manifest.model_dump_json(indent=2, exclude_none=True)
    (out / MANIFEST_FILE).write_text(text)
    return out


def load_bundle(path: str | Path) -> Bundle:
    """Load a bundle written by :func:`save_bundle`."""
    src = Path(path)
    manifest = read_manifest(src).model_dump(mode="json", exclude_none=True)
    model = Recommender.load(src / MODEL_DIR)
    items = pd.read_parquet(src / ITEMS_FILE) if (src / ITEMS_FILE).exists() else None
    return Bundle(model=model, items=items, manifest=manifest)
