"""Issue 9: evaluation that cannot be misused, ids that keep their type, strings as one id."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import digirec
from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.split import leave_one_out
from digirec.evaluation.evaluate import calc_metrics, evaluate_model
from digirec.exceptions import ConfigError
from digirec.models.registry import create_model


def planted(n_users: int = 30, int_ids: bool = False) -> pd.DataFrame:
    """Two segments of 8 items; each user sees 5 items of their segment in time order."""
    rng = np.random.default_rng(3)
    rows = []
    for u in range(n_users):
        base = 0 if u % 2 == 0 else 8
        for t, i in enumerate(rng.choice(8, size=5, replace=False)):
            rows.append((u if int_ids else f"u{u}", base + i if int_ids else f"i{base + i}", t))
    return pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP])


def test_evaluate_model_refuses_a_separately_built_holdout() -> None:
    df = planted()
    last = df.groupby(C.USER_ID)[C.TIMESTAMP].transform("max") == df[C.TIMESTAMP]
    train = Dataset.from_interactions(df[~last])
    # Built on its own, the test frame numbers users and items in another order.
    test = Dataset.from_interactions(df[last])
    model = create_model("itemknn").fit(train)
    with pytest.raises(ConfigError, match="id map differs"):
        evaluate_model(model, test)


def test_calc_metrics_by_hand() -> None:
    reco = pd.DataFrame(
        {
            C.USER_ID: ["a", "a", "a", "b", "b", "c"],
            C.ITEM_ID: ["x", "y", "z", "y", "x", "x"],
            C.RANK: [1, 2, 3, 2, 1, 1],
        }
    )
    test = pd.DataFrame({C.USER_ID: ["a", "b", "d"], C.ITEM_ID: ["y", "z", "x"]})
    m = calc_metrics(reco, test, ks=[2])
    # a: hit at rank 2 -> ndcg 1/log2(3); b: no hit; d: no list (counts 0); c is not in test.
    assert m["recall@2"] == pytest.approx(1 / 3)
    assert m["ndcg@2"] == pytest.approx((1 / np.log2(3)) / 3)
    assert m["mrr@2"] == pytest.approx(0.5 / 3)
    assert m["n_users_evaluated"] == 3
    # Scores instead of ranks give the same order.
    by_score = reco.drop(columns=[C.RANK]).assign(**{C.SCORE: [3.0, 2.0, 1.0, 1.0, 2.0, 1.0]})
    assert calc_metrics(by_score, test, ks=[2]) == m


def test_calc_metrics_agrees_with_evaluate_model_and_split_positions_index_the_frame() -> None:
    df = planted().sample(frac=1.0, random_state=0).reset_index(drop=True)  # not time-sorted
    ds = Dataset.from_interactions(df)
    split = leave_one_out(ds)
    # Positions in the caller's frame: each user's latest row (computed with pandas alone).
    latest = df.sort_values(C.TIMESTAMP, kind="stable").groupby(C.USER_ID).tail(1)
    pos = split.positions(ds)
    assert pos["test"].tolist() == sorted(latest.index.tolist())
    test_df = df.iloc[pos["test"]]
    model = create_model("itemknn").fit(ds.subset(split.train | split.valid))
    ref = evaluate_model(model, ds.subset(split.test), ks=[5, 10])
    frame = model.recommend(test_df[C.USER_ID].tolist(), k=10)
    got = calc_metrics(frame, test_df, ks=[5, 10])
    for key in ("ndcg@5", "recall@10", "mrr@10", "ndcg@10"):
        assert got[key] == pytest.approx(ref[key]), key


def test_int_ids_come_back_as_ints_and_survive_save_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    df = planted(int_ids=True)
    ds = Dataset.from_interactions(df)
    model = create_model("itemknn").fit(ds)
    recs = model.recommend([0, 1], k=3)
    assert recs[C.USER_ID].dtype.kind == "i" and recs[C.ITEM_ID].dtype.kind == "i"
    merged = recs.merge(df[[C.USER_ID]].drop_duplicates(), on=C.USER_ID)  # no dtype clash
    assert len(merged) == len(recs)
    model.save(tmp_path / "m")
    loaded = digirec.Recommender.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.recommend([0, 1], k=3), recs)
    assert loaded.similar_items([3], k=2)[C.ITEM_ID].tolist() == [3, 3]


def test_a_bare_string_is_one_id_never_characters() -> None:
    df = planted()
    df.loc[len(df)] = ["u22", "i3", 99]
    ds = Dataset.from_interactions(df)
    model = create_model("itemknn").fit(ds)
    one = model.recommend("u22", k=3)
    assert set(one[C.USER_ID]) == {"u22"}
    pd.testing.assert_frame_equal(one, model.recommend(["u22"], k=3))
    assert set(model.similar_items("i3", k=2)[C.ITEM_ID]) == {"i3"}
    with pytest.raises(TypeError, match="list of ids"):
        model.recommend(None, k=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="one string"):
        model.recommend_from_history("i3", k=3)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(
        model.recommend_from_history({"s": "i3"}, k=3),
        model.recommend_from_history({"s": ["i3"]}, k=3),
    )


def test_items_without_interactions_are_named() -> None:
    df = planted()
    items = pd.DataFrame({C.ITEM_ID: [*sorted(set(df[C.ITEM_ID])), "cold"]})
    ds = Dataset.from_interactions(df, items=items, include_catalog_items=True)
    model = create_model("itemknn").fit(ds)
    with pytest.raises(digirec.DigirecError, match="'cold'"):
        model.similar_items(["cold"])
    with pytest.warns(UserWarning, match="'cold'"):
        model.recommend_from_history({"s": ["i1", "cold"]}, k=3)
    with pytest.raises(ConfigError, match="'cold'"):
        model.recommend_from_history({"s": ["i1", "cold"]}, k=3, on_unknown="raise")
    # Popularity answers every item with the popular list, by design: no error.
    assert len(create_model("pop").fit(ds).similar_items(["cold"], k=2)) == 2


def test_calc_metrics_is_public() -> None:
    assert digirec.calc_metrics is calc_metrics
