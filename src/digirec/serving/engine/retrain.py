"""Retraining on the store's data and the retrained bundles on disk (no FastAPI: see
:mod:`digirec.serving.engine`).

:func:`train_bundle` fits the served model's config (or the configured retrain model) on a
consistent snapshot of the store with the served bundle's training spec, writes the bundle
under ``state_dir/bundles`` in one rename and scores it for the dashboard; the serving state
swaps it in. :func:`prune_bundles` removes the superseded ones (they may hold users deleted
since); a failed removal is reported, never silent.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from digirec.artifacts import save_bundle
from digirec.data.dataset import Dataset
from digirec.data.events import TRAINING_DUPLICATES, DuplicatePolicy, EventWeights
from digirec.evaluation.served import evaluate_for_bundle
from digirec.models.base import Recommender
from digirec.serving.engine.snapshot import (
    BUNDLES_DIR,
    ModelSnapshot,
    load_bundle_manifest,
    newest_version_on_disk,
)
from digirec.serving.errors import ServingError
from digirec.serving.settings import ServeSettings
from digirec.store.base import EVENT_ID, Store, StoreSnapshot

log = logging.getLogger("digirec.serving")


def build_training_dataset(
    interactions: pd.DataFrame,
    *,
    items: pd.DataFrame | None,
    users: pd.DataFrame | None,
    include_catalog_items: bool = True,
    event_weights: EventWeights | None = None,
    duplicates: DuplicatePolicy = TRAINING_DUPLICATES,
    name: str = "store",
) -> Dataset:
    """The dataset a service retrain trains on (the one rule, shared with tests and tools).

    Events are taken in store order (``source_row``); the events of a user-item pair combine
    by the training rule (``Dataset.from_interactions``' default ``"max"``: the pair's
    strongest event, so a purchase after a view counts as a purchase); ``include_catalog_items``
    also indexes catalogue items and users without events.
    """
    frame = interactions.drop(columns=[EVENT_ID], errors="ignore")
    return Dataset.from_interactions(
        frame,
        items=items,
        users=users,
        name=name,
        event_weights=event_weights,
        duplicates=duplicates,
        include_catalog_items=include_catalog_items,
    )


@dataclass(frozen=True)
class RetrainResult:
    """Outcome of :meth:`digirec.serving.engine.state.ServingState.retrain`."""

    model_version: int
    model: str
    path: str
    n_users: int
    n_items: int
    n_interactions: int
    fit_seconds: float
    purged_deletions: int


@dataclass(frozen=True)
class TrainedBundle:
    """A model retrained on the store and written to disk, not yet served."""

    model: Recommender
    dataset: Dataset
    #: The store snapshot it was trained on (event ids, deletion sequence).
    data: StoreSnapshot
    name: str
    version: int
    path: Path
    manifest: dict[str, Any]
    fit_seconds: float


def train_bundle(
    settings: ServeSettings, store: Store, old: ModelSnapshot, *, reason: str
) -> TrainedBundle:
    """Train on the store's data with the served model's config and write the bundle.

    The served bundle's training spec is reused: the same event weights, half-life and pair
    rule as it was trained with (defaults only for a bundle without one). Raises a 409
    :class:`ServingError` when the store has no events.
    """
    from digirec.models.registry import create_model

    data = store.snapshot()
    if data.interactions.empty:
        raise ServingError(409, "no_data", "the store has no events to train on")
    name = settings.retrain_model or old.model.name
    params = settings.retrain_params
    if params is None:
        params = old.model.get_config() if name == old.model.name else {}
    spec = old.bundle.spec.training
    weights = (
        spec.event_weights
        if spec is not None and spec.event_weights is not None
        else EventWeights()
    )
    duplicates: DuplicatePolicy = (
        spec.duplicates if spec is not None and spec.duplicates is not None else TRAINING_DUPLICATES
    )
    dataset = build_training_dataset(
        data.interactions,
        items=data.items,
        users=data.users,
        include_catalog_items=settings.include_catalog_items,
        event_weights=weights,
        duplicates=duplicates,
    )
    started = time.perf_counter()
    model = create_model(name, dict(params)).fit(dataset)
    fit_seconds = time.perf_counter() - started
    version = max(old.version, newest_version_on_disk(settings.state_dir)) + 1
    trained_at = datetime.now(UTC).isoformat(timespec="seconds")
    extra = {
        "model_version": version,
        "trained_at": trained_at,
        "store_event_watermark": int(data.event_ids.max()) if len(data.event_ids) else 0,
        "deletion_seq": data.deletion_seq,
        "reason": reason,
        "fit_seconds": fit_seconds,
        "training": {
            "include_catalog_items": settings.include_catalog_items,
            "event_weights": weights.model_dump(mode="json"),
            # The rule the Dataset actually applied (recorded, not assumed).
            "duplicates": dataset.stats.duplicates if dataset.stats else duplicates,
            "source": f"store:{store.backend}",
        },
    }
    out = write_bundle(settings.state_dir, model, dataset, version, extra)
    # The held-out score of the new version, for the dashboard (one more fit).
    evaluate_for_bundle(model, dataset, out)
    return TrainedBundle(
        model=model,
        dataset=dataset,
        data=data,
        name=name,
        version=version,
        path=out,
        manifest=load_bundle_manifest(out),
        fit_seconds=fit_seconds,
    )


def write_bundle(
    state_dir: Path, model: Recommender, dataset: Dataset, version: int, extra: dict[str, Any]
) -> Path:
    """Save a bundle as ``state_dir/bundles/v<version>``; it appears under that name in one
    rename (never half-written)."""
    root = state_dir / BUNDLES_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"v{version:05d}"
    partial = root / f".v{version:05d}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    save_bundle(model, dataset, partial, extra=extra)
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    return final


def prune_bundles(state_dir: Path, keep: Path, on_problem: Callable[[str], None]) -> None:
    """Remove superseded retrained bundles: they may hold users deleted since (privacy).

    Only ``state_dir/bundles`` is touched; the bundle given with ``--bundle`` is the
    operator's file and stays (a restart serves the newest version, never an older one).
    """
    for candidate in (state_dir / BUNDLES_DIR).glob("v*"):
        if candidate.resolve() != keep.resolve() and candidate.is_dir():
            try:
                shutil.rmtree(candidate)
            except OSError as exc:
                # A superseded bundle may still hold deleted users: never a silent failure.
                on_problem(f"could not remove superseded bundle {candidate}: {exc}")
