"""Torch matrix factorisation: module shapes, overfitting, explicit ratings, BPR, fold-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from early_stopping_checks import check_fit_leaves_the_config_alone

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.split import random_split
from digirec.exceptions import ConfigError
from digirec.models.base import Recommender
from digirec.models.mf import MFModel
from digirec.models.neural.losses import bpr_loss, full_softmax_cross_entropy
from digirec.models.neural.mf import MatrixFactorization
from digirec.training.trainer import torch_threads

QUIET = {"show_progress": False, "n_threads": 1}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


# ---------------------------------------------------------------------- module
def test_shapes_and_terms() -> None:
    net = MatrixFactorization(n_users=5, n_items=7, factors=3)
    users, items = torch.tensor([0, 4, 2]), torch.tensor([6, 0, 2])
    assert net(users, items).shape == (3,)
    everything = net.score_all(users)
    assert everything.shape == (3, 7)
    torch.testing.assert_close(everything[torch.arange(3), items], net(users, items))
    with torch.no_grad():
        net.global_bias.fill_(2.0)
        net.user_bias.weight[0] = 0.5
        net.item_bias.weight[6] = -1.0
    expected = 2.0 + 0.5 - 1.0 + net.user_factors.weight[0] @ net.item_factors.weight[6]
    torch.testing.assert_close(net(users[:1], items[:1])[0], expected)


def test_one_batch_overfit_softmax() -> None:
    torch.manual_seed(0)
    net = MatrixFactorization(n_users=4, n_items=10, factors=8)
    users, items = torch.tensor([0, 1, 2, 3]), torch.tensor([3, 7, 1, 9])
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
    for _ in range(200):
        optimizer.zero_grad()
        loss = full_softmax_cross_entropy(net.score_all(users), items)
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.05


def test_bpr_loss_value() -> None:
    pos, neg = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0])
    expected = (np.log1p(np.exp(-2.0)) + np.log(2.0)) / 2
    assert float(bpr_loss(pos, neg)) == pytest.approx(expected)


# ---------------------------------------------------------------------- explicit ratings
def planted_ratings(seed: int = 0) -> Dataset:
    """Ratings from a rank-3 matrix plus small noise, 30% of the cells observed."""
    rng = np.random.default_rng(seed)
    n_users, n_items, rank = 200, 120, 3
    u = rng.normal(size=(n_users, rank))
    v = rng.normal(size=(n_items, rank))
    full = 3.0 + (u @ v.T) / np.sqrt(rank) + rng.normal(scale=0.1, size=(n_users, n_items))
    users, items = np.nonzero(rng.random((n_users, n_items)) < 0.3)
    frame = pd.DataFrame(
        {
            C.USER_ID: [f"u{x}" for x in users],
            C.ITEM_ID: [f"i{x}" for x in items],
            C.RATING: full[users, items],
            C.TIMESTAMP: rng.random(len(users)),
        }
    )
    return Dataset.from_interactions(frame, name="low-rank")


@pytest.fixture(scope="module")
def explicit_fit() -> tuple[MFModel, Dataset, Dataset]:
    data = planted_ratings()
    masks = random_split(data, valid_fraction=0.1, test_fraction=0.1, random_state=1)
    train, valid, test = (data.subset(m) for m in (masks.train, masks.valid, masks.test))
    params = {"objective": "explicit", "factors": 8, "lr": 0.02, "batch_size": 512, **QUIET}
    model = MFModel({**params, "epochs": 60, "patience": 5})
    return model.fit(train, valid), train, test


def test_explicit_recovers_low_rank(explicit_fit: tuple[MFModel, Dataset, Dataset]) -> None:
    model, train, test = explicit_fit
    truth = test.interactions[C.RATING].to_numpy()
    users = test.user_map.to_external(test.user_idx)
    items = test.item_map.to_external(test.item_idx)
    predicted = model.predict_ratings(users, items)
    rmse = float(np.sqrt(np.mean((predicted - truth) ** 2)))
    baseline = float(np.sqrt(np.mean((train.interactions[C.RATING].mean() - truth) ** 2)))
    assert rmse < 0.4 * baseline, (rmse, baseline)
    history = model.history_
    assert history is not None and history.mode == "min" and history.metric_name == "rmse"
    assert history.best_metric is not None and history.best_metric < 0.4 * baseline
    low, high = model.rating_range_
    assert predicted.min() >= low and predicted.max() <= high


def test_explicit_save_load_and_errors(
    explicit_fit: tuple[MFModel, Dataset, Dataset], tmp_path: Path
) -> None:
    model, train, _ = explicit_fit
    loaded = Recommender.load(model.save(tmp_path / "mf"))
    assert isinstance(loaded, MFModel)
    users, items = ["u1", "u2", "u3"], ["i5", "i5", "i9"]
    np.testing.assert_array_equal(
        loaded.predict_ratings(users, items), model.predict_ratings(users, items)
    )
    assert loaded.history_ == model.history_
    with pytest.raises(ValueError, match="same length"):
        model.predict_ratings(users, items[:2])
    implicit = MFModel({"factors": 4, "epochs": 1, **QUIET}).fit(train)
    with pytest.raises(ConfigError, match="explicit"):
        implicit.predict_ratings(users, items)
    no_ratings = Dataset.from_interactions(
        train.interactions.assign(
            **{
                C.USER_ID: train.user_map.to_external(train.user_idx),
                C.ITEM_ID: train.item_map.to_external(train.item_idx),
            }
        ).drop(columns=[C.RATING])
    )
    with pytest.raises(ConfigError, match="rating"):
        MFModel({"objective": "explicit", "epochs": 1, **QUIET}).fit(no_ratings)


# ---------------------------------------------------------------------- implicit: BPR, fold-in
def clusters(seed: int = 0) -> tuple[Dataset, dict[str, int]]:
    """4 clusters of 20 items; each user picks 10 items, 9 of them in their own cluster."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(120):
        cluster = user % 4
        own = rng.choice(20, size=9, replace=False) + 20 * cluster
        other = rng.choice(np.setdiff1d(np.arange(80), np.arange(20) + 20 * cluster), size=1)
        rows += [(f"u{user}", f"i{item}") for item in np.concatenate([own, other])]
    frame = pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID])
    return Dataset.from_interactions(frame), {f"i{i}": i // 20 for i in range(80)}


def in_cluster_share(
    recs: pd.DataFrame, key_cluster: dict[str, int], items: dict[str, int]
) -> float:
    own = recs[C.USER_ID].map(key_cluster) == recs[C.ITEM_ID].map(items)
    return float(own.mean())


@pytest.mark.parametrize("loss", ["bpr", "softmax"])
def test_implicit_losses_recover_clusters(loss: str) -> None:
    data, item_cluster = clusters()
    params = {"loss": loss, "factors": 8, "lr": 0.02, "batch_size": 128, "epochs": 30, **QUIET}
    model = MFModel({**params, "weight_decay": 1e-3}).fit(data)
    users = data.user_map.to_list()
    user_cluster = {u: int(u[1:]) % 4 for u in users}
    assert in_cluster_share(model.recommend(users, k=5), user_cluster, item_cluster) >= 0.9
    histories = {f"h{c}": [f"i{20 * c + j}" for j in range(4)] for c in range(4)}
    recs = model.recommend_from_history(histories, k=5)
    assert in_cluster_share(recs, {f"h{c}": c for c in range(4)}, item_cluster) >= 0.9


def test_fold_in_rows_are_independent() -> None:
    data, _ = clusters()
    for loss in ("softmax", "bpr"):
        model = MFModel({"loss": loss, "factors": 4, "epochs": 3, "fold_in_steps": 20, **QUIET})
        model.fit(data)
        rows = [[0, 1, 2], [30, 31], [], [5]]
        matrix = sp.csr_matrix(
            (np.ones(6, dtype=np.float32), ([0, 0, 0, 1, 1, 3], [0, 1, 2, 30, 31, 5])),
            shape=(4, data.n_items),
        )
        together, _ = model.fold_in(matrix)
        for r in range(len(rows)):
            alone, _ = model.fold_in(matrix[r])
            np.testing.assert_allclose(alone[0], together[r], rtol=1e-4, atol=1e-6)
        assert np.all(together[2] == 0)  # an empty history stays at the prior (zero vector)


@pytest.mark.parametrize("loss", ["bpr", "softmax"])
def test_fit_leaves_the_config_alone(loss: str) -> None:
    """Issue 12: the epoch early stopping chose is learned state, never written into ``config``,
    so a second ``fit(train, valid)`` may train as long as the first (it is not capped)."""
    data, _ = clusters()
    masks = random_split(data, valid_fraction=0.1, test_fraction=0.0, random_state=0)
    train, valid = data.subset(masks.train), data.subset(masks.valid)
    params = {"loss": loss, "factors": 8, "lr": 0.05, "batch_size": 128, "epochs": 40, **QUIET}
    settings = {**params, "patience": 3, "min_steps_between_evals": 0, "smoothing_window": 1}
    check_fit_leaves_the_config_alone(MFModel, settings, train, valid)
