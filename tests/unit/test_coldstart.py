"""Cold-start protocols: the held-out masks, the slices and planted cases worked by hand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.split import cold_items, cold_users
from digirec.evaluation.coldstart import (
    cold_start_markdown,
    history_split,
    run_cold_items,
    run_cold_users,
    score_history_slice,
)
from digirec.exceptions import ConfigError
from digirec.models import registry
from digirec.models.base import FloatMatrix, IdxArray, Recommender
from digirec.models.registry import create_model

N_SEGMENTS, ITEMS_PER_SEGMENT, USERS_PER_SEGMENT = 12, 5, 4


def segmented() -> Dataset:
    """12 categories x 5 items; 4 users per category, each buys all 5 items of it (shuffled).

    Users carry their category as the attribute ``segment``. 60 items, 48 users, 240 rows.
    """
    rng = np.random.default_rng(7)
    items = pd.DataFrame(
        {
            C.ITEM_ID: [f"c{s}i{j}" for s in range(N_SEGMENTS) for j in range(ITEMS_PER_SEGMENT)],
            C.CATEGORY: [f"cat{s}" for s in range(N_SEGMENTS) for _ in range(ITEMS_PER_SEGMENT)],
        }
    )
    users = pd.DataFrame(
        {
            C.USER_ID: [f"c{s}u{j}" for s in range(N_SEGMENTS) for j in range(USERS_PER_SEGMENT)],
            "segment": [f"cat{s}" for s in range(N_SEGMENTS) for _ in range(USERS_PER_SEGMENT)],
        }
    )
    rows = []
    for s in range(N_SEGMENTS):
        for j in range(USERS_PER_SEGMENT):
            for t, i in enumerate(rng.permutation(ITEMS_PER_SEGMENT)):
                rows.append((f"c{s}u{j}", f"c{s}i{i}", float(1000 * s + 100 * j + t)))
    frame = pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP])
    return Dataset.from_interactions(frame, items=items, users=users, name="segmented")


class ContentModel(Recommender):
    """A content-aware stand-in: an item scores the share of its category in the user's history,
    or, for a user without history, 1 when its category is the user's ``segment`` attribute.

    It scores cold items exactly like warm ones (it never looks at item popularity).
    """

    name: ClassVar[str] = "content_fake"
    supports_history: ClassVar[bool] = True
    supports_cold_items: ClassVar[bool] = True
    requires_item_features: ClassVar[bool] = True

    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        del valid
        categories = dataset.item_column(C.CATEGORY)
        assert categories is not None and dataset.users is not None
        names, codes = np.unique(categories.astype(str), return_inverse=True)
        self.onehot_ = sp.csr_matrix(
            (np.ones(len(codes), dtype=np.float32), (np.arange(len(codes)), codes)),
            shape=(len(codes), len(names)),
        )
        segment = dataset.users["segment"].astype(str).to_numpy()
        self.user_segment_ = np.searchsorted(names, segment)

    def _from_matrix(self, history: sp.csr_matrix) -> FloatMatrix:
        share = np.asarray((history @ self.onehot_).todense(), dtype=np.float32)
        share /= np.maximum(share.sum(axis=1, keepdims=True), 1.0)
        return np.asarray(share @ self.onehot_.T.toarray(), dtype=np.float32)

    def _score_users(self, user_idx: IdxArray) -> FloatMatrix:
        scores = self._from_matrix(self.seen_[user_idx])
        empty = np.diff(self.seen_[user_idx].indptr) == 0
        segment_scores = self.onehot_[:, self.user_segment_[user_idx]].T.toarray()
        scores[empty] = segment_scores[empty]
        return scores

    def _score_histories(self, histories: sp.csr_matrix) -> FloatMatrix:
        return self._from_matrix(histories)


class AttributesOnlyModel(ContentModel):
    """The same scores, but without ``recommend_from_history`` (exercises the fallback)."""

    name: ClassVar[str] = "attributes_fake"
    supports_history: ClassVar[bool] = False


@pytest.fixture(autouse=True)
def fake_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    models = {
        **registry._MODELS,
        ContentModel.name: f"{__name__}:ContentModel",
        AttributesOnlyModel.name: f"{__name__}:AttributesOnlyModel",
    }
    monkeypatch.setattr(registry, "_MODELS", models)
    yield


# ---------------------------------------------------------------------------------- masks
@pytest.mark.parametrize(("n_items", "expected"), [(60, 6), (25, 3), (15, 2), (4, 1)])
def test_cold_item_count_is_the_rounded_fraction(n_items: int, expected: int) -> None:
    frame = pd.DataFrame(
        {
            C.USER_ID: [f"u{i % 3}" for i in range(n_items)],
            C.ITEM_ID: [f"i{i}" for i in range(n_items)],
        }
    )
    split = cold_items(Dataset.from_interactions(frame), 0.1, random_state=0)
    # 2.5 -> 3 and 1.5 -> 2: halves round up; 0.4 -> at least one item.
    assert len(split.held_out) == expected


def test_cold_items_hold_out_every_interaction_of_the_drawn_items() -> None:
    ds = segmented()
    split = cold_items(ds, 0.1, random_state=3)
    assert len(split.held_out) == 6 and np.all(np.diff(split.held_out) > 0)
    held = np.isin(ds.item_idx, split.held_out)
    np.testing.assert_array_equal(split.mask, held)
    train = ds.subset(~split.mask).user_item_matrix(binary=True)
    # No training interaction touches a cold item, and the catalogue rows are all still there.
    assert train[:, split.held_out].nnz == 0
    assert ds.subset(~split.mask).n_items == ds.n_items
    assert split.mask.sum() == 6 * USERS_PER_SEGMENT
    again = cold_items(ds, 0.1, random_state=3)
    np.testing.assert_array_equal(again.held_out, split.held_out)
    other = cold_items(ds, 0.1, random_state=4)
    assert not np.array_equal(other.held_out, split.held_out)


def test_validation_draw_stays_within_the_warm_rows() -> None:
    ds = segmented()
    test = cold_items(ds, 0.1, random_state=3)
    valid = cold_items(ds, 0.1, random_state=4, within=~test.mask)
    assert len(valid.held_out) == 5  # round(0.1 * 54) = 5
    assert not np.intersect1d(valid.held_out, test.held_out).size
    assert not (valid.mask & test.mask).any()
    np.testing.assert_array_equal(valid.mask, np.isin(ds.item_idx, valid.held_out))


def test_cold_users_hold_out_whole_users() -> None:
    ds = segmented()
    split = cold_users(ds, 0.1, random_state=1)
    assert len(split.held_out) == 5  # round(4.8)
    np.testing.assert_array_equal(split.mask, np.isin(ds.user_idx, split.held_out))
    train = ds.subset(~split.mask).user_item_matrix(binary=True)
    assert train[split.held_out].nnz == 0
    assert ds.subset(~split.mask).n_users == ds.n_users  # still in the map (attributes)
    np.testing.assert_array_equal(cold_users(ds, 0.1, 1).held_out, split.held_out)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_bad_fraction_is_an_error(fraction: float) -> None:
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        cold_items(segmented(), fraction)


def test_history_split_gives_all_but_the_last_event() -> None:
    rows = [("a", f"i{t}", float(t)) for t in range(5)]
    rows += [("b", "i0", 0.0), ("c", "i1", 0.0), ("c", "i2", 1.0)]
    ds = Dataset.from_interactions(pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP]))
    history, targets = history_split(ds, np.ones(ds.n_interactions, dtype=bool))
    given = ds.interactions[history]
    found = ds.interactions[targets]
    user = ds.user_map.to_internal(["a"])[0]
    # a: 5 -> 4 given (the earliest), 1 target; b: 1 -> given, no target; c: 2 -> 1 + 1.
    a_items = ds.item_map.to_external(given[given[C.USER_IDX] == user][C.ITEM_IDX]).tolist()
    assert a_items == ["i0", "i1", "i2", "i3"]
    assert ds.item_map.to_external(found[found[C.USER_IDX] == user][C.ITEM_IDX]).tolist() == ["i4"]
    assert history.sum() == 4 + 1 + 1 and targets.sum() == 1 + 0 + 1
    assert set(ds.user_map.to_external(found[C.USER_IDX].unique())) == {"a", "c"}


# ---------------------------------------------------------------------------------- protocols
def test_cold_items_planted_content_model_finds_every_cold_item_and_pop_none() -> None:
    ds = segmented()
    doc = run_cold_items(ds, ["content_fake", "pop"], ks=(10, 20), random_state=3)
    assert doc["protocol"] == "cold-items"
    split = cold_items(ds, 0.1, random_state=3)
    assert doc["split"]["n_test"] == int(split.mask.sum()) == 24
    assert doc["split"]["n_cold_items"] == 6 and doc["split"]["n_valid_cold_items"] == 5
    n_users = len(np.unique(ds.user_idx[split.mask]))
    content, pop = doc["results"]
    for result in (content, pop):
        sliced = result["cold_items"]
        # Every target is scored: all held-out rows, all their users.
        assert sliced["n_targets"] == 24 and sliced["n_users"] == n_users
        assert sliced["n_users_evaluated"] == n_users
        assert result["test"] == {
            k: v for k, v in sliced.items() if k not in ("n_users", "n_targets")
        }
    # A user has seen every warm item of its category, so its unseen same-category items are
    # exactly its cold targets, and they score 1 against 0 for everything else.
    assert content["cold_items"]["ndcg@10"] == pytest.approx(1.0)
    assert content["cold_items"]["recall@10"] == pytest.approx(1.0)
    assert content["cold_items"]["hit_rate@10"] == pytest.approx(1.0)
    assert content["supports_cold_items"] is True
    # Popularity gives a cold item 0 while every other unseen item (>= 50) has >= 1 buyer.
    assert pop["cold_items"]["recall@20"] == 0.0 and pop["cold_items"]["ndcg@10"] == 0.0
    assert pop["supports_cold_items"] is False
    md = cold_start_markdown(doc)
    assert "#### Cold items ranked among **all** items" in md and "| content_fake |" in md
    assert "24 targets" in md and "held-out items only" in md


def test_cold_items_views_baselines_and_paired_differences() -> None:
    ds = segmented()
    doc = run_cold_items(
        ds, ["content_fake", "random", "contentknn"], random_state=3, cold_candidates="cold"
    )
    assert doc["cold_candidates"] == "cold"
    content, chance, knn = doc["results"]
    for result in doc["results"]:
        # The flag picks the headline view; both views are in the document.
        assert result["test"] == result["views"]["cold"]["test"]
        assert set(result["views"]) == {"all", "cold"}
    # Six cold items: ranked among themselves, all six fit in a top 10 whatever the order, so
    # chance has recall@10 = 1 in the cold view -- but not among all 60 items.
    assert chance["views"]["cold"]["test"]["recall@10"] == pytest.approx(1.0)
    assert chance["views"]["all"]["test"]["recall@10"] < 0.5
    assert 0.0 < chance["views"]["cold"]["test"]["ndcg@10"] < 1.0
    # Content finds every target in both views (category = the user's history's category);
    # contentknn reads the same category column and does as well.
    for model in (content, knn):
        for view in ("all", "cold"):
            assert model["views"][view]["test"]["ndcg@10"] == pytest.approx(1.0)
    # Paired difference = difference of the means (same users), interval above 0.
    for view in ("all", "cold"):
        paired = content["views"][view]["vs_baselines"]["random"]["ndcg@10"]
        expected = (
            content["views"][view]["test"]["ndcg@10"] - chance["views"][view]["test"]["ndcg@10"]
        )
        assert paired["diff"] == pytest.approx(expected)
        lo, hi = paired["ci95"]
        assert 0.0 < lo <= paired["diff"] <= hi
        lo, hi = content["views"][view]["test_ci95"]["ndcg@10"]
        assert lo == hi == pytest.approx(1.0)  # every user at 1: no spread
    assert set(content["vs_baselines"]) == {"random", "contentknn"}
    assert set(chance["vs_baselines"]) == {"contentknn"}  # never against itself
    md = cold_start_markdown(doc)
    assert "Δ ndcg@10 vs random" in md and "**better**" in md and "(headline)" in md
    with pytest.raises(ConfigError, match="cold_candidates"):
        run_cold_items(ds, ["random"], cold_candidates="warm")


def test_cold_items_tunes_on_validation_cold_items_only() -> None:
    ds = segmented()
    doc = run_cold_items(ds, ["ease"], grids={"ease": {"lambda": [1.0, 100.0]}}, random_state=3)
    (ease,) = doc["results"]
    assert len(ease["tuning"]) == 2
    assert ease["params"]["lambda"] == ease["tuning"][0]["params"]["lambda"]
    # The same seed gives the same document (up to timings).
    again = run_cold_items(ds, ["ease"], grids={"ease": {"lambda": [1.0, 100.0]}}, random_state=3)
    assert again["results"][0]["test"] == ease["test"]


def test_cold_users_slices_on_a_planted_case() -> None:
    ds = segmented()
    doc = run_cold_users(
        ds, ["content_fake", "attributes_fake", "pop"], random_state=1, ks=(1, 10, 20)
    )
    assert doc["protocol"] == "cold-users"
    assert doc["split"]["n_cold_users"] == 5 and doc["split"]["n_test"] == 25
    # Each cold user has 5 interactions: 4 given, the last one is the target.
    assert doc["split"]["n_history"] == 20 and doc["split"]["n_targets"] == 5
    content, attributes, pop = doc["results"]
    for result in (content, attributes, pop):
        assert result["cold_users"]["n_users"] == 5 and result["cold_users"]["n_targets"] == 5
        sliced = result["cold_users_attributes"]
        assert sliced["n_users"] == 5 and sliced["n_targets"] == 25
        assert result["test"] == result["cold_users"]
    # History: the remaining item of the given category comes first.
    assert content["cold_users"]["ndcg@10"] == pytest.approx(1.0)
    # Fallback (no history API): the user's attribute ranks its category first, and the 4 given
    # items are excluded, so the one target is at the top.
    assert attributes["supports_history"] is False
    assert attributes["cold_users"]["recall@1"] == pytest.approx(1.0)
    # Attributes slice: all 5 items of the user's segment first.
    assert content["cold_users_attributes"]["recall@10"] == pytest.approx(1.0)
    assert content["cold_users_attributes"]["ndcg@10"] == pytest.approx(1.0)
    # Popularity cannot tell the segments apart: 5 of ~58 candidate items at best.
    assert pop["cold_users"]["ndcg@10"] < 0.5
    # Validation users (round(0.1 * 43) = 4) come from the warm users; the parts partition.
    assert doc["split"]["n_valid_cold_users"] == 4 and doc["split"]["n_valid"] == 20
    assert doc["split"]["n_train"] + 20 + 25 == ds.n_interactions
    md = cold_start_markdown(doc)
    assert "attributes only" in md and "| attributes_fake |" in md


def test_history_slice_excludes_the_given_items() -> None:
    ds = segmented()
    split = cold_users(ds, 0.1, random_state=1)
    model = create_model("attributes_fake").fit(ds.subset(~split.mask))
    history, targets = history_split(ds, split.mask)
    metrics = score_history_slice(model, ds, history, targets, ks=(1,))
    # Without excluding the 4 given items, the top 1 would mostly be a given item (a miss).
    assert metrics["precision@1"] == pytest.approx(1.0)
    with_api = create_model("content_fake").fit(ds.subset(~split.mask))
    assert score_history_slice(with_api, ds, history, targets, ks=(1,))["precision@1"] == 1.0
