"""Fixtures for the model contract suite: a small planted dataset and fitted models.

The planted shop has ``N_CLUSTERS`` clusters of items (each cluster is one category, with its
own brands) and as many user groups. Users interact mostly within their own cluster, with a
skewed popularity inside each cluster, so a working recommender must put a user's cluster first
and the popular model has a well-defined ranking. Item ids are shuffled so that nothing can rely
on internal indices following the clusters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.models.base import Recommender
from digirec.models.registry import available_models, create_model, get_model_class

N_CLUSTERS = 4
USERS_PER_CLUSTER = 50
ITEMS_PER_CLUSTER = 30
IN_CLUSTER_SHARE = 0.85
SEED = 7

#: Small, fast settings per model (a few hundred ms to fit everything). A newly registered model
#: runs with its defaults unless it is listed here.
FAST_PARAMS: dict[str, dict[str, Any]] = {
    "itemknn": {"n_neighbors": 40},
    "ease": {"lambda": 50.0},
    "als": {"factors": 8, "iterations": 10},
    # Spark's ALS: few iterations on one block (each Spark job has a fixed overhead).
    "spark-als": {"factors": 8, "iterations": 5, "n_blocks": 1},
    "bpr": {"factors": 8, "iterations": 50, "learning_rate": 0.05, "history_negatives": 200},
    "hybrid": {
        "components": [
            {"model": "ease", "params": {"lambda": 50.0}, "fixed": True},
            {"model": "itemknn", "params": {"n_neighbors": 40}, "fixed": True},
        ]
    },
    # Torch models: one thread (tiny batches gain nothing from more; a shared machine loses).
    "mf": {
        "factors": 16,
        "epochs": 20,
        "lr": 0.01,
        "weight_decay": 1e-3,
        "batch_size": 256,
        "n_threads": 1,
        "show_progress": False,
    },
    "sasrec": {
        "hidden": 16,
        "epochs": 20,
        "lr": 0.01,
        "batch_size": 64,
        "max_len": 20,
        "dropout": 0.1,
        "n_threads": 1,
        "show_progress": False,
    },
    "sasrec_text": {
        "hidden": 16,
        "epochs": 20,
        "lr": 0.01,
        "batch_size": 64,
        "max_len": 20,
        "dropout": 0.1,
        "text_dim": 8,
        "n_threads": 1,
        "show_progress": False,
    },
    "slist": {"n_threads": 1},
    "autorec": {"n_threads": 1, "show_progress": False},
    "twotower": {
        "dim": 16,
        "epochs": 20,
        "lr": 0.01,
        "batch_size": 256,
        "n_threads": 1,
        "show_progress": False,
    },
}

#: Models that rank by global popularity only: they are checked against a numpy popularity count
#: instead of the planted clusters.
POPULARITY_MODELS = frozenset({"pop"})
#: Models that rank at random on purpose (the chance baseline): checked to show *no* structure.
CHANCE_MODELS = frozenset({"random"})


@dataclass(frozen=True)
class Planted:
    """The planted data and its ground truth (clusters by external id)."""

    interactions: pd.DataFrame
    items: pd.DataFrame
    dataset: Dataset  # without item features
    dataset_with_items: Dataset
    user_cluster: dict[str, int]
    item_cluster: dict[str, int]

    @property
    def user_ids(self) -> list[str]:
        return self.dataset.user_map.to_list()

    @property
    def item_ids(self) -> list[str]:
        return self.dataset.item_map.to_list()

    def seen(self, user_id: str) -> set[str]:
        rows = self.interactions[self.interactions[C.USER_ID] == user_id]
        return set(rows[C.ITEM_ID])

    def cluster_items(self, cluster: int) -> list[str]:
        return [i for i in self.item_ids if self.item_cluster[i] == cluster]

    def users_of(self, cluster: int) -> list[str]:
        return [u for u in self.user_ids if self.user_cluster[u] == cluster]

    def for_model(self, model_cls: type[Recommender]) -> Dataset:
        """The training data a model gets: with the catalogue only if it asks for features."""
        return self.dataset_with_items if model_cls.requires_item_features else self.dataset


def make_planted(random_state: int = SEED) -> Planted:
    rng = np.random.default_rng(random_state)
    n_items = N_CLUSTERS * ITEMS_PER_CLUSTER
    item_names = np.array([f"item-{n:03d}" for n in rng.permutation(n_items)], dtype=object)
    item_cluster = np.repeat(np.arange(N_CLUSTERS), ITEMS_PER_CLUSTER)
    # Zipf-like popularity inside each cluster.
    within = 1.0 / (np.arange(ITEMS_PER_CLUSTER) + 1.0) ** 0.7
    within /= within.sum()

    rows: list[tuple[str, str, float]] = []
    user_cluster: dict[str, int] = {}
    t0 = 1_600_000_000.0
    for cluster in range(N_CLUSTERS):
        for n in range(USERS_PER_CLUSTER):
            user = f"user-{cluster}-{n:02d}"
            user_cluster[user] = cluster
            n_events = int(rng.integers(10, 19))
            n_in = round(IN_CLUSTER_SHARE * n_events)
            own = cluster * ITEMS_PER_CLUSTER + rng.choice(
                ITEMS_PER_CLUSTER, size=n_in, replace=False, p=within
            )
            others = np.flatnonzero(item_cluster != cluster)
            noise = rng.choice(others, size=n_events - n_in, replace=False)
            picked = rng.permutation(np.concatenate([own, noise]))
            times = t0 + np.sort(rng.uniform(0, 200 * 86_400.0, size=len(picked)))
            rows.extend((user, item_names[i], t) for i, t in zip(picked, times, strict=True))

    interactions = pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP])
    interactions = interactions.sample(frac=1.0, random_state=random_state).reset_index(drop=True)
    items = pd.DataFrame(
        {
            C.ITEM_ID: item_names,
            C.CATEGORY: [f"category-{c}" for c in item_cluster],
            C.BRAND: [f"brand-{c}-{n % 3}" for n, c in enumerate(item_cluster)],
            C.TITLE: [
                f"{name} of category {c}" for name, c in zip(item_names, item_cluster, strict=True)
            ],
            C.PRICE: rng.uniform(10, 500, size=n_items).round(2),
        }
    )
    return Planted(
        interactions=interactions,
        items=items,
        dataset=Dataset.from_interactions(interactions, name="planted"),
        dataset_with_items=Dataset.from_interactions(interactions, items=items, name="planted"),
        user_cluster=user_cluster,
        item_cluster={str(i): int(c) for i, c in zip(item_names, item_cluster, strict=True)},
    )


def make_model(name: str, **overrides: Any) -> Recommender:
    """An unfitted model with the suite's fast parameters."""
    return create_model(name, {**FAST_PARAMS.get(name, {}), **overrides})


@pytest.fixture(scope="session")
def planted() -> Planted:
    return make_planted()


@pytest.fixture(scope="session", params=available_models())
def model_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def model_cls(model_name: str) -> type[Recommender]:
    return get_model_class(model_name)


@pytest.fixture(scope="session")
def fitted(model_name: str, model_cls: type[Recommender], planted: Planted) -> Recommender:
    """One fitted model per registered name, shared by the read-only tests."""
    return make_model(model_name).fit(planted.for_model(model_cls))
