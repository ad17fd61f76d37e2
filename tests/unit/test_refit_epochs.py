"""Torch models record the early-stopping epoch in their config for the benchmark's refit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.split import leave_one_out
from digirec.models.registry import create_model


def test_sasrec_refit_config_uses_best_epoch() -> None:
    rng = np.random.default_rng(0)
    rows = [
        (f"u{u}", f"i{(start + t) % 30}", float(t))
        for u in range(60)
        for start in [int(rng.integers(30))]
        for t in range(8)
    ]
    ds = Dataset.from_interactions(pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP]))
    masks = leave_one_out(ds)
    model = create_model(
        "sasrec",
        {"hidden": 16, "epochs": 30, "patience": 2, "n_threads": 1, "show_progress": False}
        | {"min_steps_between_evals": 0},
    ).fit(ds.subset(masks.train), ds.subset(masks.valid))
    assert model.history_.best_epoch >= 1
    assert model.get_config()["epochs"] == model.history_.best_epoch
    assert model.history_.n_epochs <= 30


def _sequences(n_users: int = 60, length: int = 8) -> Dataset:
    rng = np.random.default_rng(1)
    rows = [
        (f"u{u}", f"i{(start + t) % 30}", float(t))
        for u in range(n_users)
        for start in [int(rng.integers(30))]
        for t in range(length)
    ]
    return Dataset.from_interactions(
        pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP])
    )


def test_sasrec_refit_keeps_weights_and_reads_the_newest_items() -> None:
    ds = _sequences()
    masks = leave_one_out(ds)
    train, train_valid = ds.subset(masks.train), ds.subset(masks.train | masks.valid)
    model = create_model(
        "sasrec", {"hidden": 16, "epochs": 3, "n_threads": 1, "show_progress": False}
    ).fit(train, ds.subset(masks.valid))
    refit = model.refit(train_valid)
    assert refit is not model and refit.net_ is model.net_  # the validated weights, not a retrain
    # The validation item is now each user's latest input and is excluded from the ranking.
    valid_items = ds.interactions.loc[masks.valid, ["user_idx", "item_idx"]].to_numpy()
    for user, item in valid_items[:10]:
        assert refit.user_seqs_[user, -1] == item + 1
        assert model.user_seqs_[user, -1] != item + 1
        assert refit.seen_[user, item] == 1 and model.seen_[user, item] == 0
    # Scores are the network applied to the new sequences.
    users = valid_items[:5, 0]
    np.testing.assert_allclose(
        refit._score_users(users), model.score_sequences(refit.user_seqs_[users]), rtol=1e-6
    )
    # The original model is untouched.
    assert model.seen_.nnz == train.n_interactions


def test_default_refit_trains_a_fresh_model_with_the_resolved_config() -> None:
    ds = _sequences()
    masks = leave_one_out(ds)
    model = create_model("ease", {"lambda": 7.0}).fit(ds.subset(masks.train))
    full = ds.subset(masks.train | masks.valid)
    refit = model.refit(full)
    expected = create_model("ease", {"lambda": 7.0}).fit(full)
    assert refit is not model and refit.get_config() == model.get_config()
    np.testing.assert_allclose(
        refit._score_users(np.arange(5)), expected._score_users(np.arange(5))
    )


def test_hybrid_refit_refits_components_and_keeps_weights() -> None:
    ds = _sequences()
    masks = leave_one_out(ds)
    full = ds.subset(masks.train | masks.valid)
    hybrid = create_model(
        "hybrid",
        {
            "components": [
                {"model": "ease", "params": {"lambda": 10.0}, "fixed": True},
                {
                    "model": "sasrec",
                    "params": {"hidden": 16, "epochs": 2, "n_threads": 1, "show_progress": False},
                    "fixed": True,
                },
            ],
            "weight_step": 0.5,
        },
    ).fit(ds.subset(masks.train), ds.subset(masks.valid))
    refit = hybrid.refit(full)
    np.testing.assert_array_equal(refit.weights_, hybrid.weights_)
    assert refit.components_[1].net_ is hybrid.components_[1].net_
    assert refit.components_[0].seen_.nnz == full.n_interactions
    assert refit.seen_.nnz == full.n_interactions
