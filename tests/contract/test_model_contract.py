"""The contract every registered model honours (parametrised over the registry).

A newly registered model is tested here automatically. Model-specific numerical checks live in
``tests/unit``; this suite checks behaviour through the public API only, on the planted data of
``conftest.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import CHANCE_MODELS, POPULARITY_MODELS, Planted, make_model

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.exceptions import ConfigError, NotFittedError, UnknownIdError
from digirec.models.base import Recommender
from digirec.models.registry import available_models, create_model

SIMILAR_COLUMNS = [C.ITEM_ID, "similar_item_id", C.SCORE, C.RANK]


# ---------------------------------------------------------------------- helpers
def cluster_share(frame: pd.DataFrame, key_cluster: dict[str, int], planted: Planted) -> float:
    """Mean share of rows whose item is in the cluster of the row's key (user or item)."""
    key_col = frame.columns[0]
    other_col = frame.columns[1]
    own = frame[key_col].map(key_cluster) == frame[other_col].map(planted.item_cluster)
    return float(own.groupby(frame[key_col]).mean().mean())


def distinct_users_per_item(planted: Planted) -> pd.Series:
    """Popularity counted independently of the library: distinct users per item id."""
    return planted.interactions.groupby(C.ITEM_ID)[C.USER_ID].nunique()


def assert_popular_unseen(frame: pd.DataFrame, k: int, planted: Planted, history: dict) -> None:
    """Each list holds the ``k`` most popular items outside the user's history (ties allowed)."""
    counts = distinct_users_per_item(planted)
    for key, rows in frame.groupby(C.USER_ID, sort=False):
        excluded = history[key]
        assert not excluded & set(rows[C.ITEM_ID])
        eligible = counts.drop(index=list(excluded))
        expected = np.sort(eligible.to_numpy())[::-1][:k]
        np.testing.assert_allclose(rows[C.SCORE].to_numpy(), expected)
        np.testing.assert_allclose(counts.loc[rows[C.ITEM_ID]].to_numpy(), expected)


def some_users(planted: Planted, n_per_cluster: int = 3) -> list[str]:
    users: list[str] = []
    for cluster in range(4):
        users.extend(planted.users_of(cluster)[:n_per_cluster])
    return users


def some_items(planted: Planted, n_per_cluster: int = 2) -> list[str]:
    items: list[str] = []
    for cluster in range(4):
        items.extend(planted.cluster_items(cluster)[:n_per_cluster])
    return items


def cluster_histories(planted: Planted, size: int = 5) -> dict[str, list[str]]:
    rng = np.random.default_rng(0)
    return {
        f"session-{c}": list(rng.choice(planted.cluster_items(c), size=size, replace=False))
        for c in range(4)
    }


# ---------------------------------------------------------------------- 1. planted structure
def test_recovers_planted_structure(model_name: str, fitted: Recommender, planted: Planted) -> None:
    recs = fitted.recommend(planted.user_ids, k=10)
    if model_name in POPULARITY_MODELS:
        assert_popular_unseen(recs, 10, planted, {u: planted.seen(u) for u in planted.user_ids})
        return
    share = cluster_share(recs, planted.user_cluster, planted)
    if model_name in CHANCE_MODELS:
        # Chance: about the cluster's share of the unseen items (~1/5), far from the structure.
        assert 0.05 <= share <= 0.45, f"{share:.0%} in the user's cluster is not chance"
        return
    assert share >= 0.8, f"only {share:.0%} of top-10 recommendations are in the user's cluster"


def test_catpop_puts_dominant_category_first(planted: Planted) -> None:
    # Category popularity's version of "recovers the structure" (not parametrised: one model).
    if "catpop" not in available_models():
        pytest.skip("catpop is not registered")
    model = make_model("catpop").fit(planted.dataset_with_items)
    recs = model.recommend(planted.user_ids, k=3)
    first = recs[recs[C.RANK] == 1]
    for user, item in zip(first[C.USER_ID], first[C.ITEM_ID], strict=True):
        seen_clusters = pd.Series([planted.item_cluster[i] for i in planted.seen(user)])
        assert planted.item_cluster[item] == seen_clusters.mode().iloc[0]


# ---------------------------------------------------------------------- 2. batch == single
def test_batch_equals_single_calls(fitted: Recommender, planted: Planted) -> None:
    users = some_users(planted)
    batch = fitted.recommend(users, k=8)
    singles = pd.concat([fitted.recommend([u], k=8) for u in users], ignore_index=True)
    pd.testing.assert_frame_equal(batch, singles)


# ---------------------------------------------------------------------- 3. filters
def test_filter_seen_removes_exactly_training_items(fitted: Recommender, planted: Planted) -> None:
    n_items = len(planted.item_ids)
    for user in some_users(planted, 1):
        seen = planted.seen(user)
        recs = fitted.recommend([user], k=n_items)
        assert set(recs[C.ITEM_ID]) == set(planted.item_ids) - seen
        assert len(recs) == n_items - len(seen)
        unfiltered = fitted.recommend([user], k=n_items, filter_seen=False)
        assert set(unfiltered[C.ITEM_ID]) == set(planted.item_ids)


def test_exclude_is_honoured(fitted: Recommender, planted: Planted) -> None:
    user = planted.user_ids[3]
    top = fitted.recommend([user], k=10)[C.ITEM_ID].tolist()
    excluded = top[:5]
    recs = fitted.recommend([user], k=10, exclude=excluded)
    assert len(recs) == 10
    assert not set(excluded) & set(recs[C.ITEM_ID])
    everything = fitted.recommend([user], k=len(planted.item_ids), exclude=excluded)
    assert set(everything[C.ITEM_ID]) == set(planted.item_ids) - planted.seen(user) - set(excluded)


def test_candidates_restrict_output(fitted: Recommender, planted: Planted) -> None:
    user = planted.user_ids[5]
    seen = sorted(planted.seen(user))
    unseen = [i for i in planted.item_ids if i not in planted.seen(user)]
    candidates = unseen[:6] + seen[:3]
    recs = fitted.recommend([user], k=10, candidates=candidates)
    # Only 6 candidates qualify (3 are filtered as seen): a shorter list, exactly those items.
    assert set(recs[C.ITEM_ID]) == set(unseen[:6])
    assert recs[C.RANK].tolist() == list(range(1, 7))
    wide = fitted.recommend([user], k=4, candidates=unseen[:20])
    assert len(wide) == 4 and set(wide[C.ITEM_ID]) <= set(unseen[:20])


def test_k_is_honoured(fitted: Recommender, planted: Planted) -> None:
    users = some_users(planted, 2)
    recs = fitted.recommend(users, k=7)
    assert recs.groupby(C.USER_ID).size().eq(7).all()
    assert len(recs) == 7 * len(users)
    with pytest.raises(ValueError):
        fitted.recommend(users, k=0)


# ---------------------------------------------------------------------- 4. output frame
def test_output_frame(fitted: Recommender, planted: Planted) -> None:
    users = some_users(planted)
    recs = fitted.recommend(np.asarray(users, dtype=object), k=10)
    assert list(recs.columns) == list(C.RECOMMENDATION_COLUMNS)
    assert pd.unique(recs[C.USER_ID]).tolist() == users  # users in the order given
    assert all(isinstance(u, str) for u in recs[C.USER_ID])
    assert all(isinstance(i, str) for i in recs[C.ITEM_ID])
    assert set(recs[C.ITEM_ID]) <= set(planted.item_ids)
    assert recs[C.SCORE].dtype == np.float64 and np.isfinite(recs[C.SCORE]).all()
    for _, rows in recs.groupby(C.USER_ID, sort=False):
        assert rows[C.RANK].tolist() == list(range(1, 11))
        assert (np.diff(rows[C.SCORE].to_numpy()) <= 0).all()
        assert rows[C.ITEM_ID].is_unique


# ---------------------------------------------------------------------- 5. persistence, config
def test_save_load_round_trip(fitted: Recommender, planted: Planted, tmp_path: Path) -> None:
    path = fitted.save(tmp_path / "bundle")
    loaded = Recommender.load(path)
    assert type(loaded) is type(fitted)
    assert loaded.get_config() == fitted.get_config()
    assert not any(isinstance(v, Dataset) for v in vars(loaded).values())
    users, items = some_users(planted), some_items(planted)
    pd.testing.assert_frame_equal(loaded.recommend(users, k=10), fitted.recommend(users, k=10))
    pd.testing.assert_frame_equal(
        loaded.similar_items(items, k=5), fitted.similar_items(items, k=5)
    )
    if fitted.supports_history:
        histories = cluster_histories(planted)
        pd.testing.assert_frame_equal(
            loaded.recommend_from_history(histories, k=10),
            fitted.recommend_from_history(histories, k=10),
        )
    # The concrete class can load its own bundle too.
    assert type(type(fitted).load(path)) is type(fitted)


def test_config_round_trip(model_name: str, fitted: Recommender) -> None:
    config = fitted.get_config()
    assert json.loads(json.dumps(config)) == config
    rebuilt = type(fitted).from_config(config)
    assert rebuilt.get_config() == config
    assert not rebuilt.is_fitted
    assert create_model(model_name, config).get_config() == config


# ---------------------------------------------------------------------- 6. determinism
def test_deterministic_under_seed(
    model_name: str, model_cls: type[Recommender], planted: Planted
) -> None:
    data = planted.for_model(model_cls)
    first = make_model(model_name, random_state=3).fit(data)
    second = make_model(model_name, random_state=3).fit(data)
    users, items = planted.user_ids, some_items(planted)
    pd.testing.assert_frame_equal(first.recommend(users, k=10), second.recommend(users, k=10))
    pd.testing.assert_frame_equal(first.similar_items(items, k=5), second.similar_items(items, k=5))


def test_refit_resets_state(
    model_name: str, model_cls: type[Recommender], planted: Planted
) -> None:
    data = planted.for_model(model_cls)
    half = data.subset(np.arange(data.n_interactions) % 2 == 0)
    refitted = make_model(model_name).fit(data).fit(half)
    fresh = make_model(model_name).fit(half)
    users = some_users(planted)
    pd.testing.assert_frame_equal(refitted.recommend(users, k=10), fresh.recommend(users, k=10))


# ---------------------------------------------------------------------- 7. errors
def test_not_fitted_errors(model_name: str, planted: Planted, tmp_path: Path) -> None:
    model = make_model(model_name)
    assert not model.is_fitted
    user, item = planted.user_ids[0], planted.item_ids[0]
    with pytest.raises(NotFittedError):
        model.recommend([user])
    with pytest.raises(NotFittedError):
        model.similar_items([item])
    with pytest.raises(NotFittedError):
        model.recommend_from_history([[item]])
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "never")


def test_unknown_ids(fitted: Recommender, planted: Planted) -> None:
    with pytest.raises(UnknownIdError):
        fitted.recommend([planted.user_ids[0], "no-such-user"])
    with pytest.raises(UnknownIdError):
        fitted.similar_items(["no-such-item"])


def test_invalid_config(model_name: str) -> None:
    with pytest.raises(ConfigError):
        create_model(model_name, {"no_such_parameter": 1})


def test_item_features_required(
    model_name: str, model_cls: type[Recommender], planted: Planted
) -> None:
    if not model_cls.requires_item_features:
        pytest.skip("model does not need item features")
    with pytest.raises(ConfigError):
        make_model(model_name).fit(planted.dataset)


# ---------------------------------------------------------------------- 8. histories
def test_recommend_from_history(model_name: str, fitted: Recommender, planted: Planted) -> None:
    histories = cluster_histories(planted)
    if not fitted.supports_history:
        with pytest.raises(ConfigError):
            fitted.recommend_from_history(histories, k=10)
        return
    recs = fitted.recommend_from_history(histories, k=10)
    assert list(recs.columns) == list(C.RECOMMENDATION_COLUMNS)
    assert pd.unique(recs[C.USER_ID]).tolist() == list(histories)
    assert recs.groupby(C.USER_ID).size().eq(10).all()
    for key, rows in recs.groupby(C.USER_ID):
        assert not set(histories[key]) & set(rows[C.ITEM_ID])
    if model_name in POPULARITY_MODELS:
        assert_popular_unseen(recs, 10, planted, {k: set(v) for k, v in histories.items()})
        return
    session_cluster = {key: int(key.rsplit("-", 1)[1]) for key in histories}
    share = cluster_share(recs, session_cluster, planted)
    assert share >= 0.8, f"only {share:.0%} of history-based recommendations in the cluster"


def test_history_ignores_unknown_items(fitted: Recommender, planted: Planted) -> None:
    if not fitted.supports_history:
        pytest.skip("model does not score histories")
    history = cluster_histories(planted)["session-1"]
    plain = fitted.recommend_from_history({"s": history}, k=10)
    noisy = fitted.recommend_from_history({"s": [*history, "no-such-item"]}, k=10)
    pd.testing.assert_frame_equal(plain, noisy)
    with pytest.raises(UnknownIdError):
        fitted.recommend_from_history({"s": [*history, "no-such-item"]}, on_unknown="raise")


# ---------------------------------------------------------------------- 9. similar items
def test_similar_items(model_name: str, fitted: Recommender, planted: Planted) -> None:
    items = some_items(planted)
    similar = fitted.similar_items(items, k=5)
    assert list(similar.columns) == SIMILAR_COLUMNS
    assert similar.groupby(C.ITEM_ID).size().eq(5).all()
    assert not (similar[C.ITEM_ID] == similar["similar_item_id"]).any()
    for _, rows in similar.groupby(C.ITEM_ID):
        assert rows[C.RANK].tolist() == list(range(1, 6))
        assert (np.diff(rows[C.SCORE].to_numpy()) <= 0).all()
    if model_name in POPULARITY_MODELS:
        return
    share = cluster_share(similar, planted.item_cluster, planted)
    if model_name in CHANCE_MODELS:
        assert share <= 0.5, f"{share:.0%} of random similar items share the cluster"
        return
    assert share >= 0.8, f"only {share:.0%} of similar items share the item's cluster"
