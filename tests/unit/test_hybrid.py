"""Hybrid blend: weight search on validation, config round-trip for the refit, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.split import leave_one_out
from digirec.models.base import Recommender
from digirec.models.hybrid import HybridModel, _zscore, simplex_grid


def clustered(seed: int = 0, n_users: int = 300, n_items: int = 60) -> Dataset:
    """Users interact inside one of 3 item clusters, in a random order."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        cluster = u % 3
        items = rng.choice(np.arange(cluster, n_items, 3), size=8, replace=False)
        rows += [(f"u{u}", f"i{i}", float(t)) for t, i in enumerate(items)]
    return Dataset.from_interactions(
        pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP])
    )


def test_simplex_grid() -> None:
    grid = simplex_grid(3, 0.5)
    assert len(grid) == 6  # (1,0,0) (0,1,0) (0,0,1) (.5,.5,0) (.5,0,.5) (0,.5,.5)
    assert all(abs(w.sum() - 1) < 1e-12 for w in grid)


def test_zscore_rows() -> None:
    z = _zscore(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]], dtype=np.float32))
    np.testing.assert_allclose(z[0], [-1.2247449, 0.0, 1.2247449], rtol=1e-6)
    np.testing.assert_allclose(z[1], [0.0, 0.0, 0.0])


def test_weight_search_prefers_the_informative_model_and_refit_reuses_it(tmp_path: Path) -> None:
    ds = clustered()
    masks = leave_one_out(ds)
    train, valid = ds.subset(masks.train), ds.subset(masks.valid)
    model = HybridModel(
        components=[
            {"model": "pop", "fixed": True},
            {"model": "ease", "params": {"lambda": 10.0}, "fixed": True},
        ],
        weight_step=0.25,
    ).fit(train, valid)
    # Popularity carries no cluster signal here; EASE does, so it must get most of the weight.
    assert model.weights_[1] >= 0.75
    config = model.get_config()
    assert config["tune"] is False
    assert [c["weight"] for c in config["components"]] == list(model.weights_)
    # The refit (no validation) reproduces the chosen weights from the config alone.
    refit = HybridModel.from_config(config).fit(ds.subset(masks.train | masks.valid))
    np.testing.assert_allclose(refit.weights_, model.weights_)
    # Blend equals the weighted sum of z-scored component scores.
    users = np.arange(5)
    expected = sum(
        w * _zscore(c._score_users(users))
        for w, c in zip(refit.weights_, refit.components_, strict=True)
    )
    np.testing.assert_allclose(refit._score_users(users), expected, rtol=1e-5, atol=1e-5)
    # Save / load keeps components and weights.
    refit.save(tmp_path / "h")
    loaded = Recommender.load(tmp_path / "h")
    pd.testing.assert_frame_equal(
        loaded.recommend(["u1", "u2"], 5), refit.recommend(["u1", "u2"], 5)
    )


def test_component_tuning_uses_validation_grid() -> None:
    ds = clustered(seed=1)
    masks = leave_one_out(ds)
    model = HybridModel(components=[{"model": "ease"}], weight_step=0.5).fit(
        ds.subset(masks.train), ds.subset(masks.valid)
    )
    (component,) = model.get_config()["components"]
    assert component["fixed"] is True
    assert component["params"]["lambda"] in {10.0, 25.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0}
