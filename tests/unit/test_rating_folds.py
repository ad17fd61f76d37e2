"""The ml100k-folds rating protocol on a tiny hand-made u1..u5 folder.

The folder: users 1..6 rate items 1..5, ``rating = 1 + (2u + i) mod 5``; fold ``f`` tests the
pairs with ``(u + i) mod 5 == f - 1`` (one item per user, 6 ratings) and trains on the other 24.
Fold test ratings (users 1..6 in order), written out for the hand arithmetic below:

    u1: 2 3 4 5 1 2    u2: 3 4 5 1 2 3    u3: 4 5 1 2 3 4    u4: 5 1 2 3 4 5    u5: 1 2 3 4 5 1
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.evaluation import rating_folds as rf
from digirec.exceptions import ConfigError
from digirec.models.registry import create_model

ML100K = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "movielens-100k"

Pair = tuple[str, str]


def rating(user: int, item: int) -> int:
    return 1 + (2 * user + item) % 5


def write_folds(directory: Path, *, cold: bool = False) -> Path:
    """Write u1..u5 .base/.test; ``cold`` adds to u1.test a new user and a new item."""
    directory.mkdir(parents=True, exist_ok=True)
    for fold in range(1, 6):
        base: list[str] = []
        test: list[str] = []
        for user in range(1, 7):
            for item in range(1, 6):
                row = f"{user}\t{item}\t{rating(user, item)}\t{880000000 + 10 * user + item}"
                (test if (user + item) % 5 == fold - 1 else base).append(row)
        if cold and fold == 1:
            test += ["7\t1\t4\t880000100", "1\t9\t2\t880000101"]
        (directory / f"u{fold}.base").write_text("\n".join(base) + "\n")
        (directory / f"u{fold}.test").write_text("\n".join(test) + "\n")
    return directory


def frame_pairs(frame: pd.DataFrame) -> set[Pair]:
    return set(zip(frame[C.USER_ID].astype(str), frame[C.ITEM_ID].astype(str), strict=True))


def dataset_pairs(dataset: Dataset) -> set[Pair]:
    users = dataset.user_map.to_external(dataset.user_idx)
    items = dataset.item_map.to_external(dataset.item_idx)
    return set(zip(map(str, users), map(str, items), strict=True))


class SpyModel:
    """Predicts the constant ``value``; records every fit and every rating it was asked for."""

    log: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)
        self.entry: dict[str, Any] = {}

    def fit(self, dataset: Dataset, valid: Dataset | None = None) -> SpyModel:
        self.entry = {
            "train": dataset_pairs(dataset),
            "valid": None if valid is None else dataset_pairs(valid),
            "asked": set(),
            "value": self.config["value"],
        }
        SpyModel.log.append(self.entry)
        return self

    def predict_ratings(self, user_ids: Sequence[object], item_ids: Sequence[object]) -> np.ndarray:
        self.entry["asked"] |= set(zip(map(str, user_ids), map(str, item_ids), strict=True))
        return np.full(len(user_ids), float(self.config["value"]))

    def get_config(self) -> dict[str, Any]:
        return {**self.config, "epochs": 7}  # as if early stopping chose 7 epochs


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> type[SpyModel]:
    """Route the model name ``spy`` to :class:`SpyModel` (other names reach the registry)."""
    SpyModel.log = []

    def create(name: str, params: dict[str, object] | None = None) -> Any:
        return SpyModel(params or {}) if name == "spy" else create_model(name, params)

    monkeypatch.setattr("digirec.evaluation.rating_folds.create_model", create)
    return SpyModel


# ---------------------------------------------------------------------- loading, carving
def test_load_rating_folds_counts(tmp_path: Path) -> None:
    folds = rf.load_rating_folds(write_folds(tmp_path / "ml", cold=True))
    assert [f.index for f in folds] == [1, 2, 3, 4, 5]
    assert [len(f.base) for f in folds] == [24] * 5
    assert [len(f.test) for f in folds] == [8, 6, 6, 6, 6]
    second = folds[1]
    assert list(second.test[C.RATING]) == [3, 4, 5, 1, 2, 3]
    assert list(second.test[C.USER_ID]) == ["1", "2", "3", "4", "5", "6"]
    assert list(second.base.columns) == [C.USER_ID, C.ITEM_ID, C.RATING, C.TIMESTAMP]
    # Base and test of a fold are disjoint and together hold all 30 pairs.
    for fold in folds[1:]:
        assert not frame_pairs(fold.base) & frame_pairs(fold.test)
        assert len(frame_pairs(fold.base) | frame_pairs(fold.test)) == 30
    (tmp_path / "ml" / "u4.test").unlink()
    with pytest.raises(ConfigError, match=r"u4\.test"):
        rf.load_rating_folds(tmp_path / "ml")


def test_carve_validation_is_exact_and_seeded() -> None:
    mask = rf.carve_validation(24, 0.1, random_state=3)
    assert mask.sum() == 2  # round(2.4)
    np.testing.assert_array_equal(mask, rf.carve_validation(24, 0.1, random_state=3))
    assert rf.carve_validation(80_000, 0.1, random_state=1).sum() == 8_000
    with pytest.raises(ValueError):
        rf.carve_validation(10, 0.0, random_state=0)


# ---------------------------------------------------------------------- hand arithmetic
def test_aggregate_folds_by_hand() -> None:
    folds = [{"rmse": r, "mae": m} for r, m in [(1.0, 0.5), (2.0, 1.0), (3.0, 1.5)]]
    out = rf.aggregate_folds(folds)
    assert out["rmse"] == pytest.approx(2.0)
    assert out["mae"] == pytest.approx(1.0)
    assert out["rmse_std"] == pytest.approx(math.sqrt(2 / 3))  # population std of 1, 2, 3
    assert out["mae_std"] == pytest.approx(math.sqrt(1 / 6))
    with pytest.raises(ValueError):
        rf.aggregate_folds([])


def test_constant_model_metrics_by_hand(tmp_path: Path, spy: type[SpyModel]) -> None:
    # Predicting 3 everywhere, the fold errors (truth - 3) are:
    #   u1: -1 0 1 2 -2 -1  (SSE 11, SAE 7)   u2: 0 1 2 -2 -1 0  (SSE 10, SAE 6)
    #   u3: 1 2 -2 -1 0 1   (SSE 11, SAE 7)   u4: 2 -2 -1 0 1 2  (SSE 14, SAE 8)
    #   u5: -2 -1 0 1 2 -2  (SSE 14, SAE 8)
    sse, sae = [11, 10, 11, 14, 14], [7, 6, 7, 8, 8]
    doc = rf.run_rating_folds(
        write_folds(tmp_path / "ml"), ["spy"], tune=False, params={"spy": {"value": 3.0}}
    )
    (result,) = doc["results"]
    folds = result["folds"]
    assert [f["fold"] for f in folds] == [1, 2, 3, 4, 5]
    assert [f["n_test"] for f in folds] == [6] * 5
    assert [f["n_fallback"] for f in folds] == [0] * 5
    expected_rmse = [math.sqrt(s / 6) for s in sse]
    expected_mae = [a / 6 for a in sae]
    np.testing.assert_allclose([f["rmse"] for f in folds], expected_rmse)
    np.testing.assert_allclose([f["mae"] for f in folds], expected_mae)
    assert result["test"]["rmse"] == pytest.approx(np.mean(expected_rmse))
    assert result["test"]["mae"] == pytest.approx(np.mean(expected_mae))
    assert result["test"]["rmse_std"] == pytest.approx(np.std(expected_rmse))
    assert result["params"] == [{"epochs": 7}] * 5
    # The document is JSON and has the agreed shape.
    doc = json.loads(json.dumps(doc))
    assert doc["protocol"] == "ml100k-folds"
    assert {"rmse", "mae", "n_test", "fit_seconds"} <= set(doc["results"][0]["folds"][0])
    assert [f["n_base"] for f in doc["dataset"]["folds"]] == [24] * 5
    text = rf.rating_folds_markdown(doc)
    assert "| spy |" in text and f"{np.mean(expected_rmse):.4f}" in text


# ---------------------------------------------------------------------- no leak from test
def test_tuning_never_sees_test_ratings(tmp_path: Path, spy: type[SpyModel]) -> None:
    folds = rf.load_rating_folds(write_folds(tmp_path / "ml"))
    doc = rf.run_rating_folds(tmp_path / "ml", ["spy"], grids={"spy": {"value": [2.0, 3.0, 4.0]}})
    tuning = [e for e in spy.log if e["valid"] is not None]
    refits = [e for e in spy.log if e["valid"] is None]
    assert len(tuning) == 3 * 5 and len(refits) == 5
    for fold, refit in zip(folds, refits, strict=True):
        base, test = frame_pairs(fold.base), frame_pairs(fold.test)
        fold_tuning = [e for e in tuning if e["train"] | e["valid"] == base]
        assert len(fold_tuning) == 3  # every tuning fit of this fold is carved from base ...
        for entry in fold_tuning:
            assert len(entry["valid"]) == 2 and not entry["train"] & entry["valid"]
            assert not (entry["train"] | entry["valid"]) & test  # ... and holds no test pair
            assert entry["asked"] == entry["valid"]  # tuning only ever predicts validation
        assert refit["train"] == base  # the refit is on the whole base
        assert refit["asked"] == test  # and only the refit sees the test pairs
    # The choice is the validation winner: the constant nearest the validation ratings.
    for entry_group, chosen in zip(
        [tuning[i : i + 3] for i in range(0, 15, 3)], doc["results"][0]["params"], strict=True
    ):
        truth = [rating(int(u), int(i)) for u, i in entry_group[0]["valid"]]
        errors = {v: np.mean((np.asarray(truth) - v) ** 2) for v in (2.0, 3.0, 4.0)}
        assert chosen["value"] == min(errors, key=lambda v: (errors[v], v))


# ---------------------------------------------------------------------- fallback
def test_unseen_user_and_item_use_the_bias_fallback(tmp_path: Path, spy: type[SpyModel]) -> None:
    doc = rf.run_rating_folds(
        write_folds(tmp_path / "ml", cold=True),
        ["spy"],
        tune=False,
        params={"spy": {"value": 3.0}},
    )
    first = doc["dataset"]["folds"][0]
    assert (first["n_test"], first["n_test_unseen_user"], first["n_test_unseen_item"]) == (8, 1, 1)
    assert first["n_test_fallback"] == 2
    assert doc["results"][0]["folds"][0]["n_fallback"] == 2
    refit = next(e for e in spy.log if e["valid"] is None)
    assert not {p for p in refit["asked"] if p[0] == "7" or p[1] == "9"}  # never asked
    # The fallback is the bias model of base: user 7 gets μ + b_item(1), item 9 μ + b_user(1).
    fold = rf.load_rating_folds(tmp_path / "ml")[0]
    bias = rf.BiasBaseline().fit_frame(fold.base)
    fallback = bias.predict_ratings(["7", "1"], ["1", "9"])
    errors = np.r_[np.array([2, 3, 4, 5, 1, 2]) - 3.0, np.array([4.0, 2.0]) - fallback]
    assert doc["results"][0]["folds"][0]["rmse"] == pytest.approx(np.sqrt(np.mean(errors**2)))


def test_bias_baseline_by_hand() -> None:
    # An additive table: μ = 3, users a/b at +1/-1, items x/y at +1/-1; reg 0 recovers it.
    frame = pd.DataFrame(
        {C.USER_ID: ["a", "a", "b", "b"], C.ITEM_ID: ["x", "y", "x", "y"], C.RATING: [5, 3, 3, 1]}
    )
    model = rf.BiasBaseline(reg_item=0.0, reg_user=0.0, n_iterations=5).fit_frame(frame)
    predicted = model.predict_ratings(["a", "new", "a", "new"], ["y", "x", "new", "new"])
    np.testing.assert_allclose(predicted, [3.0, 4.0, 4.0, 3.0])
    damped = rf.BiasBaseline(reg_item=2.0, reg_user=0.0, n_iterations=1).fit_frame(frame)
    # One round: b_x = (2 + 0) / (2 + 2) = 0.5 (item x's residuals are +2 and 0, damped by 2).
    assert damped.item_bias_["x"] == pytest.approx(0.5)


# ---------------------------------------------------------------------- blend, errors
def test_blend_is_no_worse_on_validation(tmp_path: Path, spy: type[SpyModel]) -> None:
    doc = rf.run_rating_folds(
        write_folds(tmp_path / "ml"),
        ["baseline", "spy", "blend"],
        tune=False,
        params={"spy": {"value": 2.5}},
    )
    by_model = {r["model"]: r for r in doc["results"]}
    for n in range(5):
        blended = by_model["blend"]["folds"][n]["valid_rmse"]
        singles = [by_model[m]["folds"][n]["valid_rmse"] for m in ("baseline", "spy")]
        assert blended <= min(singles) + 1e-12
    assert set(by_model["blend"]["params"][0]["weights"]) == {"baseline", "spy"}


def test_bad_model_lists(tmp_path: Path) -> None:
    folder = write_folds(tmp_path / "ml")
    with pytest.raises(ConfigError, match="blend"):
        rf.run_rating_folds(folder, ["blend"])
    with pytest.raises(ConfigError, match="predict ratings"):
        rf.run_rating_folds(folder, ["pop"])


@pytest.mark.skipif(not ML100K.is_dir(), reason=f"{ML100K} is absent")
def test_real_folds_baseline() -> None:
    doc = rf.run_rating_folds(ML100K, ["baseline"], tune=False)
    folds = doc["results"][0]["folds"]
    assert [f["n_test"] for f in folds] == [20_000] * 5
    # Damped biases sit near 0.94-0.96 on these folds (Surprise documents 0.944 for its own).
    assert 0.92 < doc["results"][0]["test"]["rmse"] < 0.97
