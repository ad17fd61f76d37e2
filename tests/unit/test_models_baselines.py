"""Reference checks for the classical baselines against hand or direct computations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
import scipy.sparse as sp

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.exceptions import ConfigError
from digirec.models.als import ALSModel, als_fold_in
from digirec.models.bpr import BPRModel, _bpr_user
from digirec.models.ease import EASEConfig, EASEModel, ease_weights, precision_matrix
from digirec.models.itemknn import ItemKNNModel, cosine_similarity
from digirec.models.popular import CategoryPopularModel, PopularModel

DAY = 86_400.0


def dataset_from_matrix(matrix: np.ndarray) -> Dataset:
    """A dataset whose user_item_matrix equals ``matrix`` (users u0.., items i0.. in order)."""
    # Rows sorted by item make the items appear (and get indexed) in the order i0, i1, ...;
    # user indices follow first appearance, see ``user_indices``.
    users, items = np.nonzero(matrix)
    frame = pd.DataFrame(
        {
            C.USER_ID: [f"u{u}" for u in users],
            C.ITEM_ID: [f"i{i}" for i in items],
            C.WEIGHT: matrix[users, items].astype(float),
        }
    )
    order = np.argsort(items, kind="stable")  # items appear in index order first
    ds = Dataset.from_interactions(frame.iloc[order].reset_index(drop=True))
    assert ds.item_map.to_list() == [f"i{i}" for i in range(matrix.shape[1])]
    return ds


def user_indices(ds: Dataset, n_users: int) -> np.ndarray:
    """Internal indices of users u0..u{n-1}."""
    return ds.user_map.to_internal([f"u{u}" for u in range(n_users)])


# ---------------------------------------------------------------------- popularity
def pop_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.USER_ID: ["a", "a", "b", "c", "c", "c", "d"],
            C.ITEM_ID: ["x", "y", "x", "x", "x", "z", "z"],
            C.TIMESTAMP: [0.0, 1.0, 9.5 * DAY, 2.0, 3.0, 9.0 * DAY, 10.0 * DAY],
            C.WEIGHT: [1.0, 5.0, 2.0, 1.0, 7.0, 3.0, 4.0],
        }
    )


def test_popularity_counts_distinct_users() -> None:
    # The repeated (c, x) keeps its first row (the protocol rule; training defaults to "max").
    ds = Dataset.from_interactions(pop_frame(), duplicates="first")
    model = PopularModel().fit(ds)
    counts = dict(zip(ds.item_map.to_list(), model.item_scores_.tolist(), strict=True))
    assert counts == {"x": 3.0, "y": 1.0, "z": 2.0}
    assert model.item_scores_.dtype == np.float32
    recs = model.recommend(["d"], k=5)
    assert recs[C.ITEM_ID].tolist() == ["x", "y"]  # z is seen


def test_popularity_weighting_and_recent_window() -> None:
    ds = Dataset.from_interactions(pop_frame(), duplicates="first")
    by_weight = PopularModel(weighting="weight").fit(ds)
    weights = dict(zip(ds.item_map.to_list(), by_weight.item_scores_.tolist(), strict=True))
    assert weights == {"x": 1.0 + 2.0 + 1.0, "y": 5.0, "z": 3.0 + 4.0}
    # The last 1.5 days of the data (newest event at day 10): b-x@9.5, c-z@9, d-z@10.
    recent = PopularModel(recent_days=1.5).fit(ds)
    counts = dict(zip(ds.item_map.to_list(), recent.item_scores_.tolist(), strict=True))
    assert counts == {"x": 1.0, "y": 0.0, "z": 2.0}


def test_popularity_recent_window_needs_timestamps() -> None:
    ds = Dataset.from_interactions(pop_frame().drop(columns=[C.TIMESTAMP]))
    with pytest.raises(ConfigError, match="timestamps"):
        PopularModel(recent_days=7).fit(ds)


def test_popularity_ignores_histories_and_similarity() -> None:
    model = PopularModel().fit(Dataset.from_interactions(pop_frame()))
    assert model.recommend_from_history([["x"]], k=3)[C.ITEM_ID].tolist() == ["z", "y"]
    assert model.similar_items(["y"], k=3)["similar_item_id"].tolist() == ["x", "z"]


def test_category_popularity_scores_by_hand() -> None:
    interactions = pd.DataFrame(
        {
            C.USER_ID: ["a", "a", "a", "b", "b", "c", "d"],
            C.ITEM_ID: ["x1", "x2", "y1", "x1", "y2", "y1", "n"],
        }
    )
    items = pd.DataFrame(
        {C.ITEM_ID: ["x1", "x2", "y1", "y2", "n"], C.CATEGORY: ["X", "X", "Y", "Y", None]}
    )
    ds = Dataset.from_interactions(interactions, items=items)
    model = CategoryPopularModel(global_weight=0.1).fit(ds)
    # pop: x1=2, x2=1, y1=2, y2=1, n=1; within-category max 2 (X), 2 (Y), 1 (unknown).
    pop = {"x1": 2, "x2": 1, "y1": 2, "y2": 1, "n": 1}
    share_a = {"X": 2 / 3, "Y": 1 / 3}
    category = {"x1": "X", "x2": "X", "y1": "Y", "y2": "Y", "n": None}
    scores = model._score_users(ds.user_map.to_internal(["a"]))[0]
    for item, idx in zip(ds.item_map.to_list(), range(ds.n_items), strict=True):
        cat = category[item]
        expected = (share_a[cat] * pop[item] / 2 if cat else 0.0) + 0.1 * pop[item] / 2
        assert scores[idx] == pytest.approx(expected, rel=1e-6)
    # d only bought an uncategorised item: a plain popularity list (global term only).
    assert model.recommend(["d"], k=2)[C.ITEM_ID].tolist()[0] in {"x1", "y1"}
    # A one-item history in Y ranks Y first.
    assert model.recommend_from_history([["y2"]], k=1)[C.ITEM_ID].tolist() == ["y1"]


def test_category_popularity_needs_categories() -> None:
    interactions = pd.DataFrame({C.USER_ID: ["a"], C.ITEM_ID: ["x"]})
    with pytest.raises(ConfigError, match="category"):
        CategoryPopularModel().fit(Dataset.from_interactions(interactions))
    items = pd.DataFrame({C.ITEM_ID: ["x"], "kind": ["k"]})
    with pytest.raises(ConfigError, match="category"):
        CategoryPopularModel().fit(Dataset.from_interactions(interactions, items=items))
    # ...unless told where the categories are.
    CategoryPopularModel(category_column="kind").fit(
        Dataset.from_interactions(interactions, items=items)
    )


# ---------------------------------------------------------------------- itemknn
KNN_X = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1], [1, 1, 1]], dtype=np.float32)


def test_itemknn_cosine_by_hand() -> None:
    # Columns: c0 = (1,1,0,1), c1 = (1,0,1,1), c2 = (0,0,1,1); |c0| = |c1| = √3, |c2| = √2;
    # c0·c1 = 2, c0·c2 = 1, c1·c2 = 2.
    s3, s6 = np.sqrt(3.0), np.sqrt(6.0)
    for shrink in (0.0, 1.0):
        expected = np.array(
            [
                [0.0, 2 / (s3 * s3 + shrink), 1 / (s6 + shrink)],
                [2 / (s3 * s3 + shrink), 0.0, 2 / (s6 + shrink)],
                [1 / (s6 + shrink), 2 / (s6 + shrink), 0.0],
            ]
        )
        sim = cosine_similarity(sp.csr_matrix(KNN_X), shrink=shrink, n_neighbors=10)
        np.testing.assert_allclose(sim.toarray(), expected, rtol=1e-6)
    # One neighbour per row: the largest entry of each row.
    top1 = cosine_similarity(sp.csr_matrix(KNN_X), shrink=0.0, n_neighbors=1).toarray()
    assert (top1 > 0).sum(axis=1).tolist() == [1, 1, 1]
    assert top1.argmax(axis=1).tolist() == [1, 2, 1]


def test_itemknn_model_scores_are_x_times_s() -> None:
    ds = dataset_from_matrix(KNN_X)
    model = ItemKNNModel(shrink=0.0).fit(ds)
    users = user_indices(ds, 4)
    x = ds.user_item_matrix(binary=True)[users].toarray()
    np.testing.assert_allclose(
        model._score_users(users), x @ model.similarity_.toarray(), rtol=1e-6
    )
    sim = model.similar_items(["i0"], k=2)
    assert sim["similar_item_id"].tolist() == ["i1", "i2"]
    assert sim[C.SCORE].tolist() == pytest.approx([2 / 3, 1 / np.sqrt(6)])


def test_itemknn_weighted_matrix() -> None:
    weighted = KNN_X * np.array([[1, 2, 3]], dtype=np.float32)
    ds = dataset_from_matrix(weighted)
    model = ItemKNNModel(binary=False, shrink=0.0).fit(ds)
    cols = weighted.T
    norms = np.linalg.norm(cols, axis=1)
    expected = (cols @ cols.T) / np.outer(norms, norms)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model.similarity_.toarray(), expected, rtol=1e-6)


# ---------------------------------------------------------------------- ease
def random_binary(n_users: int, n_items: int, density: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (rng.random((n_users, n_items)) < density).astype(np.float64)
    # Every item and every user has at least one interaction (both id maps are complete).
    x[np.arange(n_items) % n_users, np.arange(n_items)] = 1.0
    x[np.arange(n_users), np.arange(n_users) % n_items] = 1.0
    return x


def test_ease_matches_direct_numpy() -> None:
    x = random_binary(30, 12, 0.3, seed=1)
    lam = 5.0
    p = np.linalg.inv(x.T @ x + lam * np.eye(12))
    expected = -p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    weights = ease_weights(sp.csr_matrix(x), lam)
    assert weights.dtype == np.float32
    np.testing.assert_allclose(weights, expected, rtol=1e-4, atol=1e-6)
    assert np.all(np.diag(weights) == 0.0)
    # The closed form minimises |X - XB|² + λ|B|² with diag(B) = 0: its gradient
    # -Xᵀ(X - XB) + λB vanishes off the diagonal.
    grad = -x.T @ (x - x @ expected) + lam * expected
    np.fill_diagonal(grad, 0.0)
    np.testing.assert_allclose(grad, 0.0, atol=1e-9)


def test_ease_large_lambda_limit() -> None:
    # λ → ∞: P ≈ (I - XᵀX/λ)/λ, so λ·B → XᵀX off the diagonal (co-occurrence counts).
    x = random_binary(30, 12, 0.3, seed=2)
    lam = 1e6
    cooc = x.T @ x
    np.fill_diagonal(cooc, 0.0)
    np.testing.assert_allclose(
        lam * ease_weights(sp.csr_matrix(x), lam), cooc, rtol=1e-3, atol=1e-3
    )


def test_ease_precision_matrix_is_the_inverse_in_both_precisions() -> None:
    # The torch Cholesky path (two in-place triangular solves) against numpy's inverse.
    x = random_binary(40, 23, 0.2, seed=3)
    expected = np.linalg.inv(x.T @ x + 2.0 * np.eye(23))
    p64 = precision_matrix(sp.csr_matrix(x), 2.0, np.float64).numpy()
    assert p64.dtype == np.float64
    np.testing.assert_allclose(p64, expected, rtol=1e-9, atol=1e-12)
    p32 = precision_matrix(sp.csr_matrix(x), 2.0, np.float32).numpy()
    assert p32.dtype == np.float32
    np.testing.assert_allclose(p32, expected, rtol=1e-4, atol=1e-6)


def test_ease_model_and_lambda_alias() -> None:
    x = random_binary(20, 8, 0.4, seed=4)
    ds = dataset_from_matrix(x)
    model = EASEModel({"lambda": 3.0}).fit(ds)
    assert model.config.lambda_ == 3.0
    assert model.get_config()["lambda"] == 3.0 and "lambda_" not in model.get_config()
    assert EASEModel(lambda_=3.0).get_config() == model.get_config()
    assert EASEModel(EASEConfig(**{"lambda": 3.0})).get_config() == model.get_config()
    users = user_indices(ds, 20)
    np.testing.assert_allclose(
        model._score_users(users), x @ ease_weights(sp.csr_matrix(x), 3.0), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ConfigError):
        EASEModel({"lambda": 0.0})


def test_ease_weighted_model_saves_its_matrix(tmp_path: Path) -> None:
    x = random_binary(20, 8, 0.4, seed=5) * np.arange(1, 9)[None, :]
    ds = dataset_from_matrix(x)
    model = EASEModel({"lambda": 3.0, "binary": False}).fit(ds)
    users = user_indices(ds, 20)
    np.testing.assert_allclose(
        model._score_users(users), x @ ease_weights(sp.csr_matrix(x), 3.0), rtol=1e-5, atol=1e-5
    )
    loaded = EASEModel.load(model.save(tmp_path / "ease"))
    np.testing.assert_array_equal(loaded._score_users(users), model._score_users(users))


# ---------------------------------------------------------------------- als
def implicit_als(model: ALSModel) -> object:
    from implicit.cpu.als import AlternatingLeastSquares

    cfg = model.config
    als = AlternatingLeastSquares(
        factors=cfg.factors, regularization=cfg.regularization, alpha=cfg.alpha
    )
    als.user_factors = model.user_factors_.copy()
    als.item_factors = model.item_factors_.copy()
    return als


@pytest.mark.parametrize(("alpha", "binary"), [(1.0, True), (8.0, True), (2.0, False)])
def test_als_fold_in_matches_implicit_recalculate_user(alpha: float, binary: bool) -> None:
    x = random_binary(60, 40, 0.15, seed=6) * (1.0 if binary else np.arange(1, 41)[None, :] / 10)
    ds = dataset_from_matrix(x)
    model = ALSModel(factors=6, iterations=5, alpha=alpha, binary=binary).fit(ds)
    matrix = ds.user_item_matrix(binary=binary)
    als = implicit_als(model)
    users = np.arange(10)
    expected = als.recalculate_user(users, matrix[users])  # type: ignore[attr-defined]
    np.testing.assert_allclose(model.fold_in(matrix[users]), expected, rtol=2e-3, atol=1e-5)


def test_als_fold_in_reproduces_converged_training_factors() -> None:
    # After many sweeps the trained user factor is (numerically) the fixed point of one more solve.
    x = random_binary(80, 30, 0.2, seed=7)
    ds = dataset_from_matrix(x)
    model = ALSModel(factors=4, iterations=60, regularization=0.1, alpha=1.0).fit(ds)
    matrix = ds.user_item_matrix(binary=True)
    folded = model.fold_in(matrix)
    # Factors are of order 1; after 60 sweeps they move by < 1e-3 per sweep.
    assert np.abs(model.user_factors_).max() > 0.3
    np.testing.assert_allclose(folded, model.user_factors_, rtol=0, atol=5e-3)


def test_als_fold_in_empty_history_is_zero() -> None:
    factors = np.random.default_rng(0).random((5, 3)).astype(np.float32)
    out = als_fold_in(sp.csr_matrix((2, 5), dtype=np.float32), factors, 0.1, 1.0)
    assert out.shape == (2, 3) and not out.any()


def test_als_scores_and_similarity() -> None:
    x = random_binary(40, 20, 0.2, seed=8)
    ds = dataset_from_matrix(x)
    model = ALSModel(factors=4, iterations=3).fit(ds)
    users = user_indices(ds, 5)
    np.testing.assert_allclose(
        model._score_users(users), model.user_factors_[users] @ model.item_factors_.T, rtol=1e-6
    )
    v = model.item_factors_.astype(np.float64)
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)
    np.testing.assert_allclose(model._similar_scores(np.array([3])), unit[[3]] @ unit.T, atol=1e-5)


# ---------------------------------------------------------------------- bpr
def test_bpr_keeps_implicit_bias_layout_and_scores() -> None:
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    x = random_binary(50, 25, 0.2, seed=9)
    ds = dataset_from_matrix(x)
    model = BPRModel(factors=5, iterations=20, random_state=11).fit(ds)
    assert model.item_factors_.shape == (25, 6) and model.user_factors_.shape == (50, 6)
    np.testing.assert_array_equal(model.user_factors_[:, -1], 1.0)
    # Single-threaded implicit with the same seed gives the same factors, and its own
    # recommend() ranks exactly as our U @ Vᵀ.
    ref = BayesianPersonalizedRanking(
        factors=5, iterations=20, num_threads=1, random_state=11, learning_rate=0.01
    )
    ref.fit(ds.user_item_matrix(binary=True), show_progress=False)
    np.testing.assert_array_equal(ref.item_factors, model.item_factors_)
    ids, scores = ref.recommend(
        0, ds.user_item_matrix(binary=True)[[0]], N=25, filter_already_liked_items=False
    )
    np.testing.assert_allclose(model._score_users(np.array([0]))[0][ids], scores, rtol=1e-5)


def test_bpr_fold_in_objective_gradient_and_optimum() -> None:
    rng = np.random.default_rng(12)
    pos, neg = rng.normal(size=(4, 3)), rng.normal(size=(9, 3))
    pos_b, neg_b = rng.normal(size=4), rng.normal(size=9)
    reg = 0.1

    def loss(u: np.ndarray) -> float:
        margin = (pos @ u + pos_b)[:, None] - (neg @ u + neg_b)[None, :]
        return float(np.log1p(np.exp(-margin)).mean() + 0.5 * reg * u @ u)

    u_star = _bpr_user(pos, pos_b, neg, neg_b, reg)
    grad = scipy.optimize.approx_fprime(u_star, loss, 1e-7)
    np.testing.assert_allclose(grad, 0.0, atol=1e-5)
    for direction in np.eye(3):  # a convex minimum: every nearby point is worse
        assert loss(u_star + 0.05 * direction) > loss(u_star)
        assert loss(u_star - 0.05 * direction) > loss(u_star)
