"""I-AutoRec: module shapes, one-batch overfit, planted low-rank ratings, persistence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.split import random_split
from digirec.exceptions import ConfigError
from digirec.models.autorec import AutoRecModel
from digirec.models.base import Recommender
from digirec.models.neural.autorec import ItemAutoRec
from digirec.training.trainer import torch_threads

QUIET = {"show_progress": False, "n_threads": 1}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


# ---------------------------------------------------------------------- module
def test_shapes_and_prediction_formula() -> None:
    torch.manual_seed(0)
    net = ItemAutoRec(n_users=7, hidden=3)
    items = torch.rand(4, 7)
    assert net.encode(items).shape == (4, 3)
    out = net(items)
    assert out.shape == (4, 7)
    # r̂_ui = W_u · σ(V r_i + μ) + b_u
    code = torch.sigmoid(items[2] @ net.encoder.weight.T + net.encoder.bias)
    torch.testing.assert_close(out[2, 5], net.decoder.weight[5] @ code + net.decoder.bias[5])
    expected = net.encoder.weight.pow(2).sum() + net.decoder.weight.pow(2).sum()
    torch.testing.assert_close(net.weight_norm(), expected)


def test_one_batch_overfit_masked_ratings() -> None:
    torch.manual_seed(0)
    ratings = torch.randint(1, 6, (8, 20)).float()
    observed = (torch.rand(8, 20) < 0.5).float()
    inputs = ratings * observed
    net = ItemAutoRec(n_users=20, hidden=32)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(400):
        optimizer.zero_grad()
        loss = (((net(inputs) - inputs) * observed) ** 2).sum() / observed.sum()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.01


# ---------------------------------------------------------------------- planted ratings
def planted_ratings(seed: int = 0) -> Dataset:
    """1-5 ratings from a rank-2 matrix plus small noise, 40% of the cells observed."""
    rng = np.random.default_rng(seed)
    n_users, n_items, rank = 150, 100, 2
    u = rng.normal(size=(n_users, rank))
    v = rng.normal(size=(n_items, rank))
    full = 3.0 + 0.8 * (u @ v.T) / np.sqrt(rank) + rng.normal(scale=0.1, size=(n_users, n_items))
    users, items = np.nonzero(rng.random((n_users, n_items)) < 0.4)
    frame = pd.DataFrame(
        {
            C.USER_ID: [f"u{x}" for x in users],
            C.ITEM_ID: [f"i{x}" for x in items],
            C.RATING: np.clip(full[users, items], 1.0, 5.0),
            C.TIMESTAMP: rng.random(len(users)),
        }
    )
    return Dataset.from_interactions(frame, name="low-rank")


@pytest.fixture(scope="module")
def explicit_fit() -> tuple[AutoRecModel, Dataset, Dataset]:
    data = planted_ratings()
    masks = random_split(data, valid_fraction=0.1, test_fraction=0.1, random_state=1)
    train, valid, test = (data.subset(m) for m in (masks.train, masks.valid, masks.test))
    # Small batches and patience: the fit first sits on a plateau at the biases (~15 epochs)
    # before the low-rank structure is learned.
    params = {"hidden": 64, "lr": 0.005, "batch_size": 10, "weight_decay": 10.0, **QUIET}
    model = AutoRecModel({**params, "epochs": 200, "patience": 20})
    return model.fit(train, valid), train, test


def test_recovers_planted_low_rank(explicit_fit: tuple[AutoRecModel, Dataset, Dataset]) -> None:
    model, train, test = explicit_fit
    assert model.objective_ == "explicit"
    truth = test.interactions[C.RATING].to_numpy()
    users = test.user_map.to_external(test.user_idx).tolist()
    items = test.item_map.to_external(test.item_idx).tolist()
    predicted = model.predict_ratings(users, items)
    rmse = float(np.sqrt(np.mean((predicted - truth) ** 2)))
    baseline = float(np.sqrt(np.mean((train.interactions[C.RATING].mean() - truth) ** 2)))
    assert rmse < 0.4 * baseline, (rmse, baseline)
    history = model.history_
    assert history is not None and history.mode == "min" and history.metric_name == "rmse"
    assert model.config.epochs == 200  # fit leaves the config alone (issue 12)
    # A refit trains the validated epochs: the learned choice, in the fitted config.
    assert model.get_config()["epochs"] == history.best_epoch
    low, high = model.rating_range_
    assert predicted.min() >= low and predicted.max() <= high
    # Ranking scores are the unclipped predicted ratings.
    scores = model.recommend([users[0]], k=model.n_items, filter_seen=False)
    row = scores.set_index(C.ITEM_ID)[C.SCORE]
    single = model._predict_idx(test.user_idx[:1], test.item_idx[:1], clip=False)
    assert row[items[0]] == pytest.approx(single[0], rel=1e-5)


def test_save_load_and_errors(
    explicit_fit: tuple[AutoRecModel, Dataset, Dataset], tmp_path: Path
) -> None:
    model, train, _ = explicit_fit
    loaded = Recommender.load(model.save(tmp_path / "autorec"))
    assert isinstance(loaded, AutoRecModel)
    users, items = ["u1", "u2", "u3"], ["i5", "i5", "i9"]
    np.testing.assert_array_equal(
        loaded.predict_ratings(users, items), model.predict_ratings(users, items)
    )
    assert loaded.history_ == model.history_ and loaded.objective_ == "explicit"
    with pytest.raises(ValueError, match="same length"):
        model.predict_ratings(users, items[:2])
    implicit = AutoRecModel({"objective": "implicit", "hidden": 8, "epochs": 1, **QUIET})
    implicit.fit(train)
    with pytest.raises(ConfigError, match="explicit"):
        implicit.predict_ratings(users, items)
    no_ratings = Dataset.from_interactions(
        pd.DataFrame(
            {
                C.USER_ID: train.user_map.to_external(train.user_idx),
                C.ITEM_ID: train.item_map.to_external(train.item_idx),
            }
        )
    )
    auto = AutoRecModel({"hidden": 8, "epochs": 1, **QUIET}).fit(no_ratings)
    assert auto.objective_ == "implicit"  # "auto" follows the data
    with pytest.raises(ConfigError, match="rating"):
        AutoRecModel({"objective": "explicit", "epochs": 1, **QUIET}).fit(no_ratings)
