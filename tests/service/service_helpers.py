"""Shared helpers of the service tests (constants, the test shop, the reference training)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from digirec.data.dataset import Dataset
from digirec.data.tables import RawData
from digirec.models.base import Recommender
from digirec.models.registry import create_model
from digirec.serving.settings import ServeSettings
from digirec.serving.state import build_training_dataset

API_KEY = "test-key-0123456789"
AUTH = {"X-API-Key": API_KEY}
MODEL_NAME = "ease"
MODEL_PARAMS: dict[str, Any] = {"lambda": 50.0}


@dataclass(frozen=True)
class Shop:
    """The test shop, the dataset and model of the served bundle."""

    raw: RawData
    dataset: Dataset
    model: Recommender
    bundle: Path

    @property
    def items(self) -> pd.DataFrame:
        assert self.raw.items is not None
        return self.raw.items


def train(raw: RawData, drop_user: str | None = None) -> tuple[Dataset, Recommender]:
    """The model a service retrain builds, on ``raw`` (optionally without one user)."""
    interactions = raw.interactions
    users = raw.users
    if drop_user is not None:
        interactions = interactions[interactions["user_id"] != drop_user]
        users = None if users is None else users[users["user_id"] != drop_user]
    dataset = build_training_dataset(interactions, items=raw.items, users=users)
    return dataset, create_model(MODEL_NAME, dict(MODEL_PARAMS)).fit(dataset)


def make_settings(
    shop: Shop, database_url: str, state_dir: Path, **overrides: Any
) -> ServeSettings:
    values: dict[str, Any] = {
        "bundle_path": shop.bundle,
        "database_url": database_url,
        "state_dir": state_dir,
        "api_keys": [API_KEY],
        # TF-IDF: no neural model to load in tests.
        "search_encoder": "tfidf",
        **overrides,
    }
    return ServeSettings(**values)


def known_user(shop: Shop, rank: int = 0) -> str:
    """A user with a rich training history (``rank``-th most active)."""
    counts = shop.raw.interactions.groupby("user_id").size().sort_values(ascending=False)
    return str(counts.index[rank])


def seen_items(shop: Shop, user_id: str) -> set[str]:
    frame = shop.raw.interactions
    return set(frame.loc[frame["user_id"] == user_id, "item_id"].astype(str))
