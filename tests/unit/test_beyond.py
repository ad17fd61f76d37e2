"""Hand-worked tests for digirec.evaluation.beyond.

Expected values are worked out in the comments as exact fractions, never by calling the code
under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from digirec.evaluation import beyond
from digirec.evaluation.beyond import (
    average_recommended_popularity,
    catalog_coverage,
    compute_beyond_metrics,
    exposure_share,
    gini_exposure,
    intra_list_diversity,
    item_popularity,
    novelty,
    popularity_lift,
)
from digirec.evaluation.metrics import truth_from_lists

NAN = math.nan

# ---------------------------------------------------------------------------------------------
# Worked example: 7 items, 4 train users, 4 recommendation rows of width K = 3.
#
#   train:  u0 {0, 1}   u1 {0, 2}   u2 {0, 3}   u3 {0, 1, 5}
#   pop  :  item 0 1 2 3 4 5 6
#                4 2 1 1 0 1 0        (distinct users per item), n_users = 4
#
#   reco :  u0 [0, 1, 2]
#           u1 [0, 3, -1]             (short list)
#           u2 [1, 4, 5]              (item 4 has pop 0)
#           u3 [-1, -1, -1]           (empty list)
# ---------------------------------------------------------------------------------------------
N_ITEMS = 7
N_USERS = 4
TRAIN = truth_from_lists([[0, 1], [0, 2], [0, 3], [0, 1, 5]], N_ITEMS)
POP = np.array([4, 2, 1, 1, 0, 1, 0])
RECO = np.array([[0, 1, 2], [0, 3, -1], [1, 4, 5], [-1, -1, -1]])
CATEGORIES = np.array([0, 0, 1, 1, 2, -1, 2])


def assert_per_user(actual: np.ndarray, expected: list[float]) -> None:
    assert actual.dtype == np.float64
    assert actual.shape == (len(expected),)
    np.testing.assert_allclose(actual, np.array(expected), rtol=0, atol=1e-15)


# ------------------------------------------------------------------ popularity


def test_item_popularity_worked_example() -> None:
    popularity = item_popularity(TRAIN)
    assert popularity.dtype == np.int64
    np.testing.assert_array_equal(popularity, POP)


def test_item_popularity_counts_distinct_users_only() -> None:
    # (0, 1) stored twice (values 1 and 3) counts once; (2, 0) is an explicit zero: not counted.
    # item 0: nobody; item 1: users 0 and 1; item 2: user 2 (value 2 is not a count).
    train = sp.coo_matrix(
        (
            np.array([1.0, 3.0, 1.0, 0.0, 2.0]),
            (np.array([0, 0, 1, 2, 2]), np.array([1, 1, 1, 0, 2])),
        ),
        shape=(3, 3),
    )
    np.testing.assert_array_equal(item_popularity(train), [0, 2, 1])


# ------------------------------------------------------------------ coverage


def test_catalog_coverage() -> None:
    # k=1: {0, 1} -> 2/7;  k=2: {0, 1, 3, 4} -> 4/7;  k=3: {0, 1, 2, 3, 4, 5} -> 6/7.
    assert catalog_coverage(RECO, N_ITEMS, 1) == pytest.approx(2 / 7, abs=1e-15)
    assert catalog_coverage(RECO, N_ITEMS, 2) == pytest.approx(4 / 7, abs=1e-15)
    assert catalog_coverage(RECO, N_ITEMS, 3) == pytest.approx(6 / 7, abs=1e-15)


def test_catalog_coverage_padding_is_not_an_item() -> None:
    # If -1 were counted it would add one "item" (or mark item 6, the last one, via -1 indexing).
    assert catalog_coverage(np.full((2, 2), -1), 3, 2) == 0.0
    assert catalog_coverage(np.array([[0, -1]]), 3, 2) == pytest.approx(1 / 3, abs=1e-15)


def test_catalog_coverage_rejects_out_of_range_items() -> None:
    # RECO holds item 5, so a catalogue of 5 items is too small.
    with pytest.raises(ValueError, match="only 5 items"):
        catalog_coverage(RECO, 5, 3)


# ------------------------------------------------------------------ novelty and ARP


def test_novelty_worked_example() -> None:
    # -log2(pop/4): item0 -log2(1) = 0, item1 -log2(1/2) = 1, items 2, 3, 5 -log2(1/4) = 2,
    # item 4 (pop 0 -> 1) also 2.
    # k=3: u0 (0 + 1 + 2)/3 = 1; u1 (0 + 2)/2 = 1 (mean over 2 filled slots, not 3);
    #      u2 (1 + 2 + 2)/3 = 5/3; u3 empty -> NaN.
    assert_per_user(novelty(RECO, POP, N_USERS, 3), [1, 1, 5 / 3, NAN])
    # k=1: u0 0, u1 0, u2 1.
    assert_per_user(novelty(RECO, POP, N_USERS, 1), [0, 0, 1, NAN])


def test_novelty_zero_popularity_is_finite() -> None:
    # Unclipped, item 4 would give -log2(0) = inf.
    values = novelty(np.array([[4]]), POP, N_USERS, 1)
    assert_per_user(values, [2])


def test_novelty_rejects_popularity_above_n_users() -> None:
    with pytest.raises(ValueError, match="n_users"):
        novelty(RECO, POP, 3, 3)


def test_arp_worked_example() -> None:
    # k=3: u0 (4 + 2 + 1)/3 = 7/3; u1 (4 + 1)/2 = 5/2; u2 (2 + 0 + 1)/3 = 1; u3 NaN.
    assert_per_user(average_recommended_popularity(RECO, POP, 3), [7 / 3, 5 / 2, 1, NAN])
    # k=1: 4, 4, 2.
    assert_per_user(average_recommended_popularity(RECO, POP, 1), [4, 4, 2, NAN])


@pytest.mark.parametrize("bad", [np.array([1.0, -1.0]), np.array([[1.0, 2.0]]), [1.0, np.inf]])
def test_popularity_must_be_finite_non_negative_1d(bad: object) -> None:
    with pytest.raises(ValueError, match="popularity"):
        average_recommended_popularity(np.array([[0]]), bad, 1)  # type: ignore[arg-type]


def test_arp_rejects_items_outside_popularity() -> None:
    with pytest.raises(ValueError, match="only 3 items"):
        average_recommended_popularity(np.array([[3]]), [1, 1, 1], 1)


# ------------------------------------------------------------------ Gini


def test_gini_worked_example_k3() -> None:
    # Exposure counts at k=3: item0 2, item1 2, items 2-5 once each, item6 0. Total 8.
    # Sorted: [0, 1, 1, 1, 1, 2, 2], weights 2i - n - 1 = [-6, -4, -2, 0, 2, 4, 6]
    # Σ = -4 - 2 + 0 + 2 + 8 + 12 = 16  ->  G = 16 / (7 * 8) = 2/7.
    # Check by mean absolute difference: one 0, four 1s, two 2s -> Σ_{i<j} |c_i - c_j| =
    # (0 vs 1) 4*1 + (0 vs 2) 2*2 + (1 vs 2) 8*1 = 16, G = 2 * 16 / (2 * 7 * 8) = 2/7.
    assert gini_exposure(RECO, N_ITEMS, 3) == pytest.approx(2 / 7, abs=1e-15)


def test_gini_worked_example_k1() -> None:
    # k=1: item0 twice (u0, u1), item1 once (u2). Sorted [0, 0, 0, 0, 0, 1, 2], total 3.
    # Σ (2i - n - 1) c = 4 * 1 + 6 * 2 = 16  ->  G = 16 / (7 * 3) = 16/21.
    assert gini_exposure(RECO, N_ITEMS, 1) == pytest.approx(16 / 21, abs=1e-15)


def test_gini_uniform_exposure_is_zero() -> None:
    assert gini_exposure(np.array([[0, 1], [2, 3]]), 4, 2) == pytest.approx(0.0, abs=1e-15)
    # Uniform twice over, with padding that must not count.
    reco = np.array([[0, 1, -1], [2, 3, -1], [1, 0, -1], [3, 2, -1]])
    assert gini_exposure(reco, 4, 3) == pytest.approx(0.0, abs=1e-15)


def test_gini_single_item_always_recommended() -> None:
    # 5 items, every user gets item 2 only: counts [0, 0, 0, 0, n] -> G = (n - 1)/n = 4/5
    # (weights for the last sorted position: 2*5 - 5 - 1 = 4, so 4 * n / (5 * n)).
    reco = np.full((6, 1), 2)
    assert gini_exposure(reco, 5, 1) == pytest.approx(4 / 5, abs=1e-15)


def test_gini_items_never_recommended_count() -> None:
    # Same lists, bigger catalogue -> more inequality: [1, 1] in 2 items is 0, in 4 items
    # sorted [0, 0, 1, 1]: (-3*0 - 1*0 + 1*1 + 3*1) / (4 * 2) = 4/8 = 1/2.
    reco = np.array([[0], [1]])
    assert gini_exposure(reco, 2, 1) == pytest.approx(0.0, abs=1e-15)
    assert gini_exposure(reco, 4, 1) == pytest.approx(1 / 2, abs=1e-15)


def test_gini_without_any_recommendation_is_nan() -> None:
    assert math.isnan(gini_exposure(np.full((2, 2), -1), 3, 2))


# ------------------------------------------------------------------ intra-list diversity


def test_category_diversity_worked_example() -> None:
    # categories: item 0 1 2 3 4 5 6 -> 0 0 1 1 2 -1 2
    # k=3: u0 cats [0, 0, 1]: pairs (0,0) same, (0,1) diff, (0,1) diff -> 2/3
    #      u1 cats [0, 1]: one pair, different -> 1
    #      u2 cats [0, 2, -1]: pairs with the unknown are left out; (0, 2) different -> 1/1
    #      u3 empty -> NaN
    assert_per_user(intra_list_diversity(RECO, 3, item_categories=CATEGORIES), [2 / 3, 1, 1, NAN])
    # k=2: u0 [0, 0] -> 0; u1 [0, 1] -> 1; u2 [0, 2] -> 1.
    assert_per_user(intra_list_diversity(RECO, 2, item_categories=CATEGORIES), [0, 1, 1, NAN])


def test_category_diversity_unknown_is_left_out_not_different() -> None:
    # [0, 1, 5] has cats [0, 0, -1]: only the pair (0, 0) is comparable -> 0.
    # Counting the unknown as "different" would give 2/3 instead.
    reco = np.array([[0, 1, 5], [5, 6, -1]])
    # Second row: [-1, 2] -> no comparable pair -> NaN.
    assert_per_user(intra_list_diversity(reco, 3, item_categories=CATEGORIES), [0, NAN])


def test_diversity_at_k1_is_undefined() -> None:
    values = intra_list_diversity(RECO, 1, item_categories=CATEGORIES)
    assert np.isnan(values).all()


VECTORS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0], [0.0, 0.0], [-3.0, 0.0]])


def test_vector_diversity_worked_example() -> None:
    # v0=(1,0) v1=(0,1) v2=(1,1) v3=(2,0) v4=(0,0) v5=(-3,0)
    # [0, 1, 2]: 1 - cos = 1 - 0 = 1;  1 - 1/√2;  1 - 1/√2  -> (3 - √2)/3 = 1 - √2/3
    # [0, 3]   : parallel -> 0
    # [0, 4]   : zero vector has no direction -> no pair -> NaN
    # [0, 1, 4]: only (0, 1) -> 1
    # [0, 5]   : opposite -> 1 - (-1) = 2
    reco = np.array([[0, 1, 2], [0, 3, -1], [0, 4, -1], [0, 1, 4], [0, 5, -1]])
    assert_per_user(
        intra_list_diversity(reco, 3, item_vectors=VECTORS),
        [1 - math.sqrt(2) / 3, 0, NAN, 1, 2],
    )


def test_vector_diversity_is_the_same_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(30, 4))
    reco = np.stack([rng.permutation(30)[:5] for _ in range(50)])
    whole = intra_list_diversity(reco, 5, item_vectors=vectors)
    # A budget of 40 floats -> 2 users per chunk -> 25 chunks.
    monkeypatch.setattr(beyond, "_GATHER_BUDGET", 40)
    chunked = intra_list_diversity(reco, 5, item_vectors=vectors)
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    "kwargs", [{}, {"item_categories": CATEGORIES, "item_vectors": np.ones((7, 2))}]
)
def test_diversity_needs_exactly_one_item_description(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        intra_list_diversity(RECO, 2, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "categories", [np.array([0, -2, 1, 1, 1, 1, 1]), np.array([0.0, 1.0, 2, 3, 4, 5, 6])]
)
def test_diversity_rejects_bad_category_codes(categories: np.ndarray) -> None:
    with pytest.raises(ValueError, match="categor"):
        intra_list_diversity(RECO, 2, item_categories=categories)


# ------------------------------------------------------------------ popularity lift


def test_popularity_lift_worked_example() -> None:
    # Mean popularity of own train items: u0 {0,1} (4+2)/2 = 3; u1 {0,2} 5/2; u2 {0,3} 5/2;
    # u3 {0,1,5} 7/3.  ARP@3 (see test_arp_worked_example): 7/3, 5/2, 1, NaN.
    # lift: u0 (7/3)/3 = 7/9; u1 1; u2 1/(5/2) = 2/5; u3 NaN (empty list).
    assert_per_user(popularity_lift(RECO, POP, TRAIN, 3), [7 / 9, 1, 2 / 5, NAN])


def test_popularity_lift_undefined_history() -> None:
    # u0 has no train items; u1 only item 4 (pop 0) -> both NaN. u2 history {1} (pop 2),
    # reco [0] (pop 4) -> 2.
    train = truth_from_lists([[], [4], [1]], N_ITEMS)
    reco = np.array([[0], [0], [0]])
    assert_per_user(popularity_lift(reco, POP, train, 1), [NAN, NAN, 2])


def test_popularity_lift_counts_each_history_item_once() -> None:
    # A weighted/duplicated train matrix must give the same means as the binary one.
    weighted = TRAIN.copy()
    weighted.data = weighted.data * 5.0
    assert_per_user(popularity_lift(RECO, POP, weighted, 3), [7 / 9, 1, 2 / 5, NAN])


def test_popularity_lift_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="expected"):
        popularity_lift(RECO[:3], POP, TRAIN, 3)


# ------------------------------------------------------------------ exposure share


def test_exposure_share_worked_example() -> None:
    # groups: item 0 1 2 3 4 5 6 -> 0 0 1 1 1 2 3
    # k=3 filled slots: u0 0,1,2 -> g 0,0,1; u1 0,3 -> 0,1; u2 1,4,5 -> 0,1,2. 8 slots.
    # g0: 4/8 = 1/2; g1: 3/8; g2: 1/8; g3 never shown: 0.
    groups = np.array([0, 0, 1, 1, 1, 2, 3])
    shares = exposure_share(RECO, groups, 3)
    assert list(shares) == [0, 1, 2, 3]
    assert all(type(key) is int for key in shares)
    assert shares == pytest.approx({0: 1 / 2, 1: 3 / 8, 2: 1 / 8, 3: 0.0}, abs=1e-15)
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-15)


def test_exposure_share_unknown_group_is_a_group() -> None:
    # groups [-1, 5, 5]; slots: item 0 (-1), item 1 (5), item 2 (5) -> -1: 1/3, 5: 2/3.
    shares = exposure_share(np.array([[0, 1], [2, -1]]), np.array([-1, 5, 5]), 2)
    assert shares == pytest.approx({-1: 1 / 3, 5: 2 / 3}, abs=1e-15)


def test_exposure_share_without_slots_is_nan() -> None:
    shares = exposure_share(np.full((1, 2), -1), np.array([0, 1]), 2)
    assert list(shares) == [0, 1]
    assert all(math.isnan(value) for value in shares.values())


# ------------------------------------------------------------------ aggregate


def test_compute_beyond_metrics_worked_example() -> None:
    # coverage 6/7; novelty mean of (1, 1, 5/3) = 11/9 (u3 excluded);
    # arp mean of (7/3, 5/2, 1) = (14 + 15 + 6)/6/3 = 35/18; gini 2/7;
    # diversity mean of (2/3, 1, 1) = 8/9.
    result = compute_beyond_metrics(
        RECO, 3, n_items=N_ITEMS, popularity=POP, n_users=N_USERS, item_categories=CATEGORIES
    )
    expected = {
        "coverage@3": 6 / 7,
        "novelty@3": 11 / 9,
        "arp@3": 35 / 18,
        "gini@3": 2 / 7,
        "diversity@3": 8 / 9,
    }
    assert set(result) == set(expected)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-15), key


def test_compute_beyond_metrics_without_categories() -> None:
    result = compute_beyond_metrics(RECO, 1, n_items=N_ITEMS, popularity=POP, n_users=N_USERS)
    # k=1: coverage 2/7; novelty (0 + 0 + 1)/3 = 1/3; arp (4 + 4 + 2)/3 = 10/3; gini 16/21.
    assert result == pytest.approx(
        {"coverage@1": 2 / 7, "novelty@1": 1 / 3, "arp@1": 10 / 3, "gini@1": 16 / 21},
        abs=1e-15,
    )


def test_compute_beyond_metrics_undefined_diversity_is_nan_without_warning() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = compute_beyond_metrics(
            RECO, 1, n_items=N_ITEMS, popularity=POP, n_users=N_USERS, item_categories=CATEGORIES
        )
    assert math.isnan(result["diversity@1"])


def test_compute_beyond_metrics_checks_lengths() -> None:
    with pytest.raises(ValueError, match="n_items"):
        compute_beyond_metrics(RECO, 3, n_items=8, popularity=POP, n_users=N_USERS)
    with pytest.raises(ValueError, match="item_categories"):
        compute_beyond_metrics(
            RECO, 3, n_items=7, popularity=POP, n_users=N_USERS, item_categories=CATEGORIES[:6]
        )
