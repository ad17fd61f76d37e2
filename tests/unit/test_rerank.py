"""Diversity / exposure re-ranking: hand-checked small cases and the effect on a real model.

The synthetic-shop test measures what the knobs do to an EASE model's lists (intra-list
category diversity, average recommended popularity, catalogue coverage); the numbers are
printed with ``pytest -s``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from digirec.data.dataset import Dataset
from digirec.data.synth import SynthConfig, generate_shop
from digirec.evaluation.beyond import (
    average_recommended_popularity,
    catalog_coverage,
    intra_list_diversity,
    item_popularity,
)
from digirec.exceptions import ConfigError
from digirec.models.registry import create_model
from digirec.serving.rerank import long_tail_scores, rerank

#          item: 0    1    2    3    4    5
CATS = np.array(["a", "a", "a", "b", "b", "c"], dtype=object)
BRANDS = np.array(["x", "y", "x", "x", "y", None], dtype=object)
POP = np.array([100, 50, 10, 5, 1, 0])


def test_zero_knobs_are_the_identity() -> None:
    items = np.array([4, 2, 0, 5, 1])
    scores = np.array([0.9, 0.8, 0.8, 0.3, 0.1], dtype=np.float32)
    out_items, out_scores = rerank(
        items, scores, 3, item_categories=CATS, item_brands=BRANDS, item_popularity=POP
    )
    np.testing.assert_array_equal(out_items, [4, 2, 0])
    np.testing.assert_array_equal(out_scores, scores[:3])
    # Batches and padding too.
    batch = np.array([[4, 2, 0, -1], [1, 3, -1, -1]])
    batch_scores = np.array([[3, 2, 1, np.nan], [5, 4, np.nan, np.nan]], dtype=np.float32)
    got, got_scores = rerank(batch, batch_scores, 3)
    np.testing.assert_array_equal(got, [[4, 2, 0], [1, 3, -1]])
    assert np.isnan(got_scores[1, 2])


def test_diversity_breaks_category_runs() -> None:
    # Relevance order 0, 1, 2 (all category a), then 3 (b) and 5 (c).
    items = np.array([0, 1, 2, 3, 5])
    scores = np.array([1.0, 0.95, 0.9, 0.5, 0.4], dtype=np.float32)
    # Relevance scaled to [0, 1]: 1, 0.9167, 0.8333, 0.1667, 0. With δ = 0.5, after item 0
    # (a): item 1 -> 0.5*0.9167 - 0.5*1 < item 3 -> 0.5*0.1667 - 0, so a new category wins.
    got, got_scores = rerank(items, scores, 3, item_categories=CATS, diversity=0.5)
    np.testing.assert_array_equal(got, [0, 3, 5])
    np.testing.assert_array_equal(got_scores, scores[[0, 3, 4]])  # original scores kept
    # A small δ only reorders when relevance is close: 0.9*0.9167 - 0.1 > 0.9*0.1667.
    got, _ = rerank(items, scores, 3, item_categories=CATS, diversity=0.1)
    np.testing.assert_array_equal(got, [0, 1, 2])


def test_brand_counts_half_when_both_attributes_given() -> None:
    # After item 0 (a, x): item 2 (a, x) shares both -> sim 1; item 1 (a, y) -> 0.5;
    # item 3 (b, x) -> 0.5; item 4 (b, y) -> 0.
    items = np.array([0, 2, 1, 3, 4])
    scores = np.array([1.0, 1.0, 1.0, 1.0, 1.0], dtype=np.float32)
    got, _ = rerank(items, scores, 2, item_categories=CATS, item_brands=BRANDS, diversity=0.5)
    np.testing.assert_array_equal(got, [0, 4])


def test_exposure_favours_the_long_tail() -> None:
    items = np.array([0, 1, 2, 5])
    scores = np.array([1.0, 0.99, 0.98, 0.97], dtype=np.float32)
    got, _ = rerank(items, scores, 2, item_popularity=POP, exposure=1.0)
    # Item 5 was never seen (tail term 1): it jumps to the top.
    assert got[0] == 5
    tail = long_tail_scores(POP)
    assert tail[5] == 1.0 and tail[0] == 0.0 and np.all(np.diff(tail) >= 0)
    with_brands = long_tail_scores(POP, BRANDS)
    # Item 5 has no brand: its own term only; brand y (51) is less exposed than x (115).
    assert with_brands[5] == 1.0 and with_brands[1] > tail[1] * 0.5


def test_validation() -> None:
    items, scores = np.array([0, 1]), np.array([1.0, 0.5])
    with pytest.raises(ConfigError):
        rerank(items, scores, 2, diversity=0.5)  # no attributes
    with pytest.raises(ConfigError):
        rerank(items, scores, 2, exposure=0.5)  # no popularity
    with pytest.raises(ConfigError):
        rerank(items, scores, 2, item_categories=CATS, diversity=1.5)
    with pytest.raises(ConfigError):
        rerank(items, scores[:1], 2)
    with pytest.raises(ConfigError):
        rerank(items, scores, 0)


@pytest.fixture(scope="module")
def ease_lists() -> dict[str, object]:
    raw = generate_shop(SynthConfig(n_users=800, n_items=300, random_state=3))
    dataset = Dataset.from_raw(raw)
    model = create_model("ease", {"lambda": 200.0}).fit(dataset)
    users = np.arange(dataset.n_users)
    candidates, scores = model.recommend_idx(users, 50)
    cats = dataset.item_codes("category")
    brands = dataset.item_codes("brand")
    return {
        "candidates": candidates,
        "scores": scores,
        "cats": cats,
        "brands": brands,
        "pop": item_popularity(model.seen_),
        "n_items": dataset.n_items,
    }


def _measure(lists: dict, diversity: float, exposure: float) -> dict[str, float]:
    top, _ = rerank(
        lists["candidates"],
        lists["scores"],
        10,
        item_categories=lists["cats"],
        item_brands=lists["brands"],
        item_popularity=lists["pop"],
        diversity=diversity,
        exposure=exposure,
    )
    return {
        "ild": float(np.nanmean(intra_list_diversity(top, 10, item_categories=lists["cats"]))),
        "arp": float(np.nanmean(average_recommended_popularity(top, lists["pop"], 10))),
        "coverage": catalog_coverage(top, lists["n_items"], 10),
    }


def test_knobs_move_beyond_accuracy_metrics_on_the_synthetic_shop(ease_lists: dict) -> None:
    plain = _measure(ease_lists, 0.0, 0.0)
    diverse = [_measure(ease_lists, d, 0.0) for d in (0.2, 0.4, 0.6)]
    exposed = [_measure(ease_lists, 0.0, e) for e in (0.3, 0.6, 1.0)]
    print("\nEASE top-10 from 50 candidates, 800 users x 300 items")
    print(f"  plain          {plain}")
    for d, m in zip((0.2, 0.4, 0.6), diverse, strict=True):
        print(f"  diversity={d}  {m}")
    for e, m in zip((0.3, 0.6, 1.0), exposed, strict=True):
        print(f"  exposure={e}   {m}")
    ild = [plain["ild"]] + [m["ild"] for m in diverse]
    assert all(b > a for a, b in itertools.pairwise(ild)), ild
    arp = [plain["arp"]] + [m["arp"] for m in exposed]
    assert all(b < a for a, b in itertools.pairwise(arp)), arp
    cov = [plain["coverage"]] + [m["coverage"] for m in exposed]
    assert cov[-1] > cov[0]
