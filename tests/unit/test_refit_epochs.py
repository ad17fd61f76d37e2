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
        {"hidden": 16, "epochs": 30, "patience": 2, "n_threads": 1, "show_progress": False},
    ).fit(ds.subset(masks.train), ds.subset(masks.valid))
    assert model.history_.best_epoch >= 1
    assert model.get_config()["epochs"] == model.history_.best_epoch
    assert model.history_.n_epochs <= 30
