"""Event weights act by default (issue 9): EASE, iALS and item-kNN train on the weighted matrix
(``binary=False``), a history is folded in with the same weighting as a training row, and on
data whose weights are all 1 (the curated rating sets) weighted and binary training agree to
the last digit, so the committed rating-set benchmark figures stay valid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.events import DEFAULT_WEIGHTS
from digirec.models.als import ALSModel
from digirec.models.base import Recommender
from digirec.models.registry import create_model

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
WEIGHTED_MODELS = ("als", "ease", "itemknn")
SMALL: dict[str, dict[str, object]] = {
    "als": {"factors": 8, "iterations": 10},
    "ease": {"lambda": 5.0},
    "itemknn": {"n_neighbors": 20},
}


def shop_events(n_users: int = 120, n_items: int = 40, seed: int = 0) -> pd.DataFrame:
    """Views, carts and purchases: every user has 8 distinct items, a quarter of them bought."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for j, i in enumerate(rng.choice(n_items, 8, replace=False)):
            event = ("purchase", "cart", "view", "view")[j % 4]
            rows.append((f"u{u}", f"i{i}", event, 1_700_000_000 + 60 * j))
    return pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.EVENT, C.TIMESTAMP])


def ratings(n_users: int = 80, n_items: int = 30, seed: int = 1) -> pd.DataFrame:
    """A rating data set as the MovieLens / Amazon loaders give it: ``event="rating"``."""
    rng = np.random.default_rng(seed)
    rows = [
        (f"u{u}", f"i{i}", "rating", float(rng.integers(1, 6)))
        for u in range(n_users)
        for i in rng.choice(n_items, 6, replace=False)
    ]
    return pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.EVENT, C.RATING])


@pytest.mark.parametrize("name", WEIGHTED_MODELS)
def test_weights_act_by_default_and_binary_stays_an_option(name: str) -> None:
    ds = Dataset.from_interactions(shop_events())
    default = create_model(name, SMALL[name]).fit(ds)
    binary = create_model(name, {**SMALL[name], "binary": True}).fit(ds)
    assert default.config.binary is False and default.uses_weights  # type: ignore[attr-defined]
    assert binary.uses_weights is False
    users = np.arange(ds.n_users)
    # The default reads the purchase weights (8 vs 1): its scores differ from the binary fit's.
    assert not np.allclose(default.score_users(users), binary.score_users(users), atol=1e-4)
    # The user's own history, as the model trained on it, gives back their trained scores.
    for u in range(5):
        items, weights = default.user_history(u)
        assert sorted(set(weights.tolist())) == [1.0, 4.0, 8.0]
        np.testing.assert_allclose(
            default.score_histories([items], [weights])[0],
            default.score_users([u])[0],
            rtol=0.1 if name == "als" else 1e-5,  # ALS: one exact solve vs the CG sweeps
            atol=0.05 if name == "als" else 1e-5,
        )
        b_items, b_weights = binary.user_history(u)
        np.testing.assert_array_equal(b_items, items)
        np.testing.assert_array_equal(b_weights, np.ones(len(items), dtype=np.float32))


def independent_fold_in(
    v: np.ndarray, items: np.ndarray, x: np.ndarray, reg: float, alpha: float
) -> np.ndarray:
    """argmin_u Σ_i c_i (p_i - u·v_i)² + reg |u|² over all items, solved densely: c_i = alpha
    x_i and p_i = 1 on the history, c_i = 1 and p_i = 0 elsewhere (implicit's convention)."""
    c = np.ones(len(v))
    p = np.zeros(len(v))
    c[items] = alpha * x
    p[items] = 1.0
    lhs = (v * c[:, None]).T @ v + reg * np.eye(v.shape[1])
    return np.linalg.solve(lhs, (v * (c * p)[:, None]).sum(axis=0))


def test_als_fold_in_of_a_users_weighted_history_reproduces_their_factors() -> None:
    ds = Dataset.from_interactions(shop_events())
    model = ALSModel(factors=8, iterations=50, regularization=0.1, alpha=2.0).fit(ds)
    v = model.item_factors_.astype(np.float64)
    weighted_err, binary_err = [], []
    for u in range(20):
        items, weights = model.user_history(u)
        trained = model.user_factors_[u].astype(np.float64)
        expected = independent_fold_in(v, items, weights.astype(np.float64), 0.1, 2.0)
        query, offset = model.factor_history_query(items.tolist(), weights.tolist())
        assert offset == 0.0
        # The model's fold-in is the exact weighted least-squares solution ...
        np.testing.assert_allclose(query, expected, rtol=1e-4, atol=1e-5)
        # ... and score_histories (serving's exact path) is that factor times the items'.
        np.testing.assert_allclose(
            model.score_histories([items], [weights])[0], expected @ v.T, rtol=1e-4, atol=1e-5
        )
        weighted_err.append(np.linalg.norm(expected - trained) / np.linalg.norm(trained))
        unweighted = independent_fold_in(v, items, np.ones(len(items)), 0.1, 2.0)
        binary_err.append(np.linalg.norm(unweighted - trained) / np.linalg.norm(trained))
    # After 50 sweeps the trained factor is the fixed point of the weighted solve (within the
    # CG solver's tolerance); treating the history as binary lands far from it.
    assert max(weighted_err) < 0.05
    assert min(binary_err) > 0.1


def test_weighted_history_rules() -> None:
    ds = Dataset.from_interactions(shop_events())
    model = ALSModel(factors=8, iterations=5).fit(ds)
    # A repeated item counts with its largest weight (the training default --duplicates max).
    np.testing.assert_allclose(
        model.score_histories([[3, 5, 3]], [[1.0, 2.0, 8.0]]),
        model.score_histories([[3, 5]], [[8.0, 2.0]]),
        rtol=1e-6,
    )
    # No weights: every item weighs 1.
    np.testing.assert_allclose(
        model.score_histories([[3, 5]]), model.score_histories([[3, 5]], [[1.0, 1.0]])
    )
    with pytest.raises(ValueError, match="weight"):
        model.score_histories([[3, 5]], [[1.0]])
    with pytest.raises(ValueError, match="one list per history"):
        model.score_histories([[3, 5]], [[1.0, 1.0], [2.0]])
    with pytest.raises(ValueError, match=">= 0"):
        model.score_histories([[3]], [[-1.0]])
    # External ids: weights shaped like the histories, dropped with an ignored unknown item.
    names = ds.item_map.to_list()
    by_ids = model.recommend_from_history(
        {"s": [names[3], "nope", names[5]]}, 5, weights={"s": [8.0, 4.0, 1.0]}
    )
    by_idx = model.score_histories([[3, 5]], [[8.0, 1.0]])[0]
    top = np.argsort(-np.where(np.isin(np.arange(ds.n_items), [3, 5]), -np.inf, by_idx))[:5]
    assert by_ids[C.ITEM_ID].tolist() == [names[i] for i in top]
    with pytest.raises(ValueError, match="same keys"):
        model.recommend_from_history({"s": [names[3]]}, 5, weights={"t": [1.0]})


def test_binary_models_read_the_items_only() -> None:
    ds = Dataset.from_interactions(shop_events())
    for model in (
        create_model("als", {"factors": 8, "iterations": 5, "binary": True}).fit(ds),
        create_model("bpr", {"factors": 8, "iterations": 5}).fit(ds),
    ):
        np.testing.assert_array_equal(
            model.score_histories([[3, 5]], [[8.0, 1.0]]), model.score_histories([[3, 5]])
        )
        query = model.factor_history_query([3, 5], [8.0, 1.0])  # type: ignore[attr-defined]
        np.testing.assert_array_equal(query[0], model.factor_history_query([3, 5])[0])  # type: ignore[attr-defined]


def test_hybrid_passes_weights_to_its_weighted_parts_only() -> None:
    ds = Dataset.from_interactions(shop_events())
    parts = [
        {"model": "ease", "params": {"lambda": 5.0}, "fixed": True, "weight": 0.5},
        {"model": "itemknn", "params": {"binary": True}, "fixed": True, "weight": 0.5},
    ]
    hybrid = create_model("hybrid", {"components": parts}).fit(ds)
    ease, knn = hybrid.components_  # type: ignore[attr-defined]
    assert hybrid.uses_weights and ease.uses_weights and not knn.uses_weights
    history, weights = [[3, 5, 9]], [[8.0, 1.0, 4.0]]

    def z(x: np.ndarray) -> np.ndarray:
        return (x - x.mean()) / x.std()

    expected = 0.5 * z(ease.score_histories(history, weights)[0]) + 0.5 * z(
        knn.score_histories(history)[0]
    )
    np.testing.assert_allclose(
        hybrid.score_histories(history, weights)[0], expected, rtol=1e-4, atol=1e-4
    )
    _items, w = hybrid.user_history(0)
    np.testing.assert_array_equal(w, ease.user_history(0)[1])


@pytest.mark.parametrize("name", WEIGHTED_MODELS)
def test_weighted_model_saves_and_forgets_its_weighted_rows(name: str, tmp_path: Path) -> None:
    ds = Dataset.from_interactions(shop_events())
    model = create_model(name, SMALL[name]).fit(ds)
    loaded = Recommender.load(model.save(tmp_path / name))
    for u in (0, 1):
        np.testing.assert_array_equal(loaded.user_history(u)[1], model.user_history(u)[1])
        items, weights = model.user_history(u)
        np.testing.assert_array_equal(
            loaded.score_histories([items], [weights]), model.score_histories([items], [weights])
        )
    loaded.forget_users([0])
    assert len(loaded.user_history(0)[0]) == 0
    # Its factor (ALS) or its weighted row (EASE, item-kNN) is zeroed: nothing is left to score.
    assert not loaded.score_users([0]).any()


@pytest.mark.parametrize("name", WEIGHTED_MODELS)
def test_equal_weights_make_weighted_and_binary_identical(name: str) -> None:
    """Rating data: every event is "rating" (weight 1), so both settings train on the same
    matrix and give the same scores to the last digit (the committed ML-100K / Amazon figures,
    fitted with binary=True, are what the new default gives)."""
    ds = Dataset.from_interactions(ratings(), duplicates="first")
    assert ds.interactions[C.WEIGHT].unique().tolist() == [DEFAULT_WEIGHTS["rating"]] == [1.0]
    weighted = create_model(name, SMALL[name]).fit(ds)
    binary = create_model(name, {**SMALL[name], "binary": True}).fit(ds)
    users = np.arange(ds.n_users)
    np.testing.assert_array_equal(weighted.score_users(users), binary.score_users(users))
    np.testing.assert_array_equal(
        weighted.score_similar(np.arange(ds.n_items)), binary.score_similar(np.arange(ds.n_items))
    )
    items, weights = weighted.user_history(0)
    np.testing.assert_array_equal(
        weighted.score_histories([items], [weights]), binary.score_histories([items])
    )


#: The curated sets of the committed benchmark figures (benchmarks/results/{ml100k,office,
#: instruments,cellphones}.json, all fitted with binary=True) and their interaction counts.
CURATED = {
    "movielens-100k": 100_000,
    "amazon-office-2018-minionerec-partial": 21_188,
    "amazon-instruments-2018-5core": 206_153,
    "amazon-cellphones-2014-5core": 137_478,
}


@pytest.mark.parametrize("name", sorted(CURATED))
def test_curated_rating_sets_train_on_weight_one_only(name: str) -> None:
    """The benchmark's own load (``digirec benchmark``: ``first``, default event weights) gives
    every training pair weight 1, so binary=False trains exactly what the committed figures
    (binary=True) trained: they stay valid under the new default."""
    if not (DATASETS / name).exists():
        pytest.skip(f"shared/datasets/{name} is absent")
    from digirec.cli.common import load_dataset

    ds = load_dataset(str(DATASETS / name), default_duplicates="first")
    assert ds.n_interactions == CURATED[name]
    assert np.unique(ds.interactions[C.WEIGHT].to_numpy()).tolist() == [1.0]


def test_synthetic_shop_under_the_benchmark_rule_has_weight_one_only() -> None:
    """Every pair of the synthetic shop starts with a view, so under the leave-one-out rule
    (``first``) every weight is 1: its committed leave-one-out and cold-start figures (and the
    scale runs' synthetic shops), fitted with binary=True, are what the new default gives."""
    from digirec.data.synth import generate_shop

    ds = Dataset.from_raw(generate_shop(), duplicates="first")
    assert ds.n_interactions == 31_485
    assert np.unique(ds.interactions[C.WEIGHT].to_numpy()).tolist() == [1.0]


def test_every_weight_aware_model_defaults_to_the_event_weights() -> None:
    """No engine silently drops --event-weights: Spark's ALS defaults like the local iALS."""
    from digirec.models.registry import get_model_class

    for name in ("als", "ease", "itemknn", "spark-als"):
        config = get_model_class(name).config_class()
        assert config.binary is False, name  # type: ignore[attr-defined]
