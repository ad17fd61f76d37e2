"""Hand-worked tests for digirec.evaluation.metrics.

Every expected value below is derived in the comments as an exact fraction (or an exact
expression in log2), never by calling the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from digirec.evaluation.metrics import (
    RANKING_METRICS,
    average_precision_at_k,
    compute_ranking_metrics,
    hit_rate_at_k,
    hits_matrix,
    mae,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    rmse,
    truth_from_lists,
)

NAN = math.nan
LOG2_3 = math.log2(3)

# ---------------------------------------------------------------------------------------------
# The worked example used by most tests: 4 users, 6 items, lists of width K = 4.
#
#   user  reco            truth       hits@4           |T_u|
#   u0    [0, 1, 2, 3]    {1, 3}      [F, T, F, T]     2
#   u1    [4, 5, -1, -1]  {0}         [F, F, F, F]     1   (padding, no hit)
#   u2    [1, 0, 3, 2]    {}          [F, F, F, F]     0   -> NaN everywhere, excluded
#   u3    [2, 5, 4, -1]   {2, 4, 0}   [T, F, T, F]     3   (3 items in a list of width 4)
# ---------------------------------------------------------------------------------------------
RECO = np.array([[0, 1, 2, 3], [4, 5, -1, -1], [1, 0, 3, 2], [2, 5, 4, -1]])
TRUTH_LISTS = [[1, 3], [0], [], [2, 4, 0]]
N_ITEMS = 6


@pytest.fixture
def truth() -> sp.csr_matrix:
    return truth_from_lists(TRUTH_LISTS, N_ITEMS)


def assert_per_user(actual: np.ndarray, expected: list[float]) -> None:
    assert actual.dtype == np.float64
    assert actual.shape == (len(expected),)
    np.testing.assert_allclose(actual, np.array(expected), rtol=0, atol=1e-15)


# ------------------------------------------------------------------ truth_from_lists


def test_truth_from_lists_dense_form_and_binary_values() -> None:
    truth = truth_from_lists([[1, 3], [], [0, 0, 2]], 4)
    assert isinstance(truth, sp.csr_matrix)
    assert truth.shape == (3, 4)
    # The repeated 0 of user 2 must stay 1, not become 2.
    np.testing.assert_array_equal(truth.toarray(), [[0, 1, 0, 1], [0, 0, 0, 0], [1, 0, 1, 0]])
    assert truth.nnz == 4


def test_truth_from_lists_all_empty() -> None:
    truth = truth_from_lists([[], []], 3)
    assert truth.shape == (2, 3)
    assert truth.nnz == 0


@pytest.mark.parametrize("bad", [[[4]], [[-1]]])
def test_truth_from_lists_rejects_out_of_range(bad: list[list[int]]) -> None:
    with pytest.raises(ValueError, match="outside"):
        truth_from_lists(bad, 4)


# ------------------------------------------------------------------ hits_matrix


def test_hits_matrix_worked_example(truth: sp.csr_matrix) -> None:
    hits = hits_matrix(RECO, truth, 4)
    assert hits.dtype == np.bool_
    np.testing.assert_array_equal(
        hits,
        [[0, 1, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0], [1, 0, 1, 0]],
    )
    # At k = 2 only the first two columns are read.
    np.testing.assert_array_equal(hits_matrix(RECO, truth, 2), [[0, 1], [0, 0], [0, 0], [1, 0]])


def test_padding_never_hits_even_if_last_item_is_relevant() -> None:
    # -1 used as a column index would read the last item (5) in numpy/scipy indexing, and as a
    # key user * n_items - 1 it would read the previous user's last item; both must be a miss.
    truth = truth_from_lists([[5], [5]], 6)
    reco = np.array([[-1, -1], [-1, 5]])
    np.testing.assert_array_equal(hits_matrix(reco, truth, 2), [[0, 0], [0, 1]])


def test_hits_matrix_ignores_values_but_drops_explicit_zeros() -> None:
    # truth[0, 1] = 7.5 (relevant, value ignored), truth[0, 2] stored as an explicit 0 (not
    # relevant), truth[1, 0] = -1 (nonzero -> relevant).
    truth = sp.csr_matrix(
        (np.array([7.5, 0.0, -1.0]), np.array([1, 2, 0]), np.array([0, 2, 3])), shape=(2, 3)
    )
    assert truth.nnz == 3
    reco = np.array([[2, 1, 0], [0, 1, 2]])
    np.testing.assert_array_equal(hits_matrix(reco, truth, 3), [[0, 1, 0], [1, 0, 0]])
    assert truth.nnz == 3  # the caller's matrix is untouched


def test_hits_matrix_accepts_unsorted_duplicated_coo_input() -> None:
    # Duplicates (0, 2) twice and unsorted columns: canonicalised internally.
    truth = sp.coo_matrix(
        (np.ones(4), (np.array([0, 0, 0, 1]), np.array([2, 0, 2, 1]))), shape=(2, 3)
    )
    reco = np.array([[1, 2, 0], [0, 2, 1]])
    np.testing.assert_array_equal(hits_matrix(reco, truth, 3), [[0, 1, 1], [0, 0, 1]])


def test_hits_matrix_accepts_sparse_array() -> None:
    truth = sp.csr_array(truth_from_lists([[1]], 3))
    np.testing.assert_array_equal(hits_matrix(np.array([[1, 0]]), truth, 2), [[1, 0]])


def test_hits_matrix_no_users() -> None:
    truth = truth_from_lists([], 4)
    hits = hits_matrix(np.zeros((0, 3), dtype=np.int64), truth, 2)
    assert hits.shape == (0, 2)


# ------------------------------------------------------------------ input validation


@pytest.mark.parametrize("k", [0, -1, 5])
def test_k_out_of_range_raises(truth: sp.csr_matrix, k: int) -> None:
    with pytest.raises(ValueError, match="k"):
        precision_at_k(RECO, truth, k)


@pytest.mark.parametrize("k", [2.0, True, "2"])
def test_k_must_be_an_integer(truth: sp.csr_matrix, k: object) -> None:
    with pytest.raises(ValueError, match="integer"):
        ndcg_at_k(RECO, truth, k)  # type: ignore[arg-type]


def test_numpy_integer_k_is_accepted(truth: sp.csr_matrix) -> None:
    assert_per_user(precision_at_k(RECO, truth, np.int64(2)), [1 / 2, 0, NAN, 1 / 2])


@pytest.mark.parametrize(
    ("reco", "match"),
    [
        (np.array([[0, -2]]), "padding"),
        (np.array([[0, 6]]), "only 6 items"),
        (np.array([[0.0, 1.0]]), "integer"),
        (np.array([0, 1]), "2-D"),
        (np.array([[0, 1], [2, 3]]), "user rows"),
        (np.array([[3, 1, 3]]), "repeats"),
    ],
)
def test_bad_reco_raises(reco: np.ndarray, match: str) -> None:
    truth = truth_from_lists([[1]], 6)
    with pytest.raises(ValueError, match=match):
        hits_matrix(reco, truth, reco.shape[-1])


def test_repeat_beyond_k_is_not_checked() -> None:
    # Only the first k columns are a top-k list; a repeat at position k is outside it.
    truth = truth_from_lists([[3]], 6)
    assert_per_user(precision_at_k(np.array([[3, 1, 3]]), truth, 2), [1 / 2])


def test_repeated_padding_is_allowed() -> None:
    truth = truth_from_lists([[1]], 3)
    assert_per_user(recall_at_k(np.array([[-1, 1, -1, -1]]), truth, 4), [1.0])


def test_dense_truth_is_rejected() -> None:
    with pytest.raises(TypeError, match="sparse"):
        hits_matrix(np.array([[0]]), np.array([[1.0]]), 1)  # type: ignore[arg-type]


# ------------------------------------------------------------------ per-user metrics, k = 2


def test_precision(truth: sp.csr_matrix) -> None:
    # k=2: u0 1 hit / 2, u1 0/2, u2 NaN, u3 1/2.
    assert_per_user(precision_at_k(RECO, truth, 2), [1 / 2, 0, NAN, 1 / 2])
    # k=4: u0 2/4; u3 has 3 items but the denominator stays k: 2/4 (padding = a miss).
    assert_per_user(precision_at_k(RECO, truth, 4), [1 / 2, 0, NAN, 1 / 2])


def test_recall(truth: sp.csr_matrix) -> None:
    # k=2: u0 1/|{1,3}| = 1/2, u1 0/1, u3 1/|{2,4,0}| = 1/3.
    assert_per_user(recall_at_k(RECO, truth, 2), [1 / 2, 0, NAN, 1 / 3])
    # k=4: u0 2/2, u3 2/3.
    assert_per_user(recall_at_k(RECO, truth, 4), [1, 0, NAN, 2 / 3])


def test_ndcg_k2(truth: sp.csr_matrix) -> None:
    # u0: hit at rank 1 -> DCG = 1/log2(3); IDCG over min(2,2)=2 slots = 1 + 1/log2(3)
    #     NDCG = (1/log2 3) / (1 + 1/log2 3) = 1 / (log2 3 + 1) = 1 / log2 6.
    # u3: hit at rank 0 -> DCG = 1; IDCG over min(3,2)=2 slots = 1 + 1/log2(3)
    #     NDCG = 1 / (1 + 1/log2 3) = log2 3 / log2 6.
    expected = [1 / math.log2(6), 0, NAN, LOG2_3 / math.log2(6)]
    assert_per_user(ndcg_at_k(RECO, truth, 2), expected)


def test_ndcg_k4(truth: sp.csr_matrix) -> None:
    # u0: hits at ranks 1, 3 -> DCG = 1/log2 3 + 1/log2 5; IDCG (2 slots) = 1 + 1/log2 3.
    # u3: hits at ranks 0, 2 -> DCG = 1 + 1/log2 4 = 3/2; IDCG (3 slots) = 1 + 1/log2 3 + 1/2.
    u0 = (1 / LOG2_3 + 1 / math.log2(5)) / (1 + 1 / LOG2_3)
    u3 = (3 / 2) / (3 / 2 + 1 / LOG2_3)
    assert_per_user(ndcg_at_k(RECO, truth, 4), [u0, 0, NAN, u3])


def test_mrr(truth: sp.csr_matrix) -> None:
    # First hit: u0 at rank 1 -> 1/2; u1 none -> 0; u3 at rank 0 -> 1.
    assert_per_user(mrr_at_k(RECO, truth, 2), [1 / 2, 0, NAN, 1])
    assert_per_user(mrr_at_k(RECO, truth, 4), [1 / 2, 0, NAN, 1])
    # At k=1 u0's hit (rank 1) is cut off.
    assert_per_user(mrr_at_k(RECO, truth, 1), [0, 0, NAN, 1])


def test_hit_rate(truth: sp.csr_matrix) -> None:
    assert_per_user(hit_rate_at_k(RECO, truth, 2), [1, 0, NAN, 1])
    assert_per_user(hit_rate_at_k(RECO, truth, 1), [0, 0, NAN, 1])


def test_average_precision(truth: sp.csr_matrix) -> None:
    # k=2: u0 hit at j=1: P@2 = 1/2, divided by min(2, 2) = 2 -> 1/4.
    #      u3 hit at j=0: P@1 = 1,   divided by min(3, 2) = 2 -> 1/2.
    assert_per_user(average_precision_at_k(RECO, truth, 2), [1 / 4, 0, NAN, 1 / 2])
    # k=4: u0 hits at j=1 (P@2 = 1/2), j=3 (P@4 = 2/4): (1/2 + 1/2) / min(2, 4) = 1/2.
    #      u3 hits at j=0 (P@1 = 1), j=2 (P@3 = 2/3): (1 + 2/3) / min(3, 4) = 5/9.
    assert_per_user(average_precision_at_k(RECO, truth, 4), [1 / 2, 0, NAN, 5 / 9])


def test_single_target_at_rank_two() -> None:
    # One relevant item (7) at 0-based rank 2 of [5, 3, 7]:
    # NDCG = 1/log2(4) = 1/2, RR = 1/3, AP = P@3 / min(1, 3) = 1/3, recall 1, precision 1/3.
    reco = np.array([[5, 3, 7]])
    truth = truth_from_lists([[7]], 8)
    assert_per_user(ndcg_at_k(reco, truth, 3), [1 / 2])
    assert_per_user(mrr_at_k(reco, truth, 3), [1 / 3])
    assert_per_user(average_precision_at_k(reco, truth, 3), [1 / 3])
    assert_per_user(recall_at_k(reco, truth, 3), [1])
    assert_per_user(precision_at_k(reco, truth, 3), [1 / 3])
    assert_per_user(hit_rate_at_k(reco, truth, 3), [1])


def test_single_target_ndcg_for_every_rank() -> None:
    # The same target at rank r = 0..4 -> NDCG = 1/log2(r + 2): 1, 1/log2 3, 1/2, 1/log2 5, ...
    reco = np.array([[9, 1, 2, 3, 4], [1, 9, 2, 3, 4], [1, 2, 9, 3, 4], [1, 2, 3, 9, 4]])
    truth = truth_from_lists([[9]] * 4, 10)
    expected = [1, 1 / LOG2_3, 1 / 2, 1 / math.log2(5)]
    assert_per_user(ndcg_at_k(reco, truth, 5), expected)


def test_perfect_list_scores_one_and_idcg_uses_min_truth_k() -> None:
    # u0: 3 relevant items all in the top 3 of a 3-wide list.
    # u1: 5 relevant items, k = 3 -> the ideal list has only 3 slots: a full top-3 is perfect,
    #     NDCG = 1 and AP = (1 + 1 + 1)/min(5, 3) = 1, though recall = 3/5.
    reco = np.array([[2, 0, 1], [4, 3, 2]])
    truth = truth_from_lists([[0, 1, 2], [0, 1, 2, 3, 4]], 5)
    assert_per_user(ndcg_at_k(reco, truth, 3), [1, 1])
    assert_per_user(average_precision_at_k(reco, truth, 3), [1, 1])
    assert_per_user(recall_at_k(reco, truth, 3), [1, 3 / 5])


def test_no_hits_at_all() -> None:
    reco = np.array([[0, 1], [1, 0]])
    truth = truth_from_lists([[2], [3]], 4)
    for metric in RANKING_METRICS.values():
        assert_per_user(metric(reco, truth, 2), [0, 0])


def test_all_padding_list() -> None:
    reco = np.full((1, 3), -1)
    truth = truth_from_lists([[0]], 2)
    for metric in RANKING_METRICS.values():
        assert_per_user(metric(reco, truth, 3), [0])


# ------------------------------------------------------------------ registry and aggregate


def test_ranking_metrics_registry() -> None:
    assert set(RANKING_METRICS) == {"precision", "recall", "ndcg", "mrr", "hit_rate", "map"}
    assert RANKING_METRICS["ndcg"] is ndcg_at_k
    assert RANKING_METRICS["map"] is average_precision_at_k


def test_compute_ranking_metrics_worked_example(truth: sp.csr_matrix) -> None:
    result = compute_ranking_metrics(RECO, truth, ks=(2, 4))
    # Averages over u0, u1, u3 (u2 has no truth and is excluded; including it as 0 would give
    # 3/4 of each value).
    # k=2: precision (1/2 + 0 + 1/2)/3 = 1/3
    #      recall    (1/2 + 0 + 1/3)/3 = 5/18
    #      ndcg      (1/log2 6 + 0 + log2 3/log2 6)/3 = (log2 6 / log2 6)/3 = 1/3
    #      mrr       (1/2 + 0 + 1)/3 = 1/2
    #      hit_rate  (1 + 0 + 1)/3 = 2/3
    #      map       (1/4 + 0 + 1/2)/3 = 1/4
    # k=4: precision (1/2 + 0 + 1/2)/3 = 1/3
    #      recall    (1 + 0 + 2/3)/3 = 5/9
    #      mrr 1/2, hit_rate 2/3
    #      map       (1/2 + 0 + 5/9)/3 = 19/54
    #      ndcg      (u0 + 0 + u3)/3 with u0, u3 as in test_ndcg_k4
    ndcg4_u0 = (1 / LOG2_3 + 1 / math.log2(5)) / (1 + 1 / LOG2_3)
    ndcg4_u3 = (3 / 2) / (3 / 2 + 1 / LOG2_3)
    expected = {
        "ndcg@2": 1 / 3,
        "recall@2": 5 / 18,
        "precision@2": 1 / 3,
        "mrr@2": 1 / 2,
        "hit_rate@2": 2 / 3,
        "map@2": 1 / 4,
        "ndcg@4": (ndcg4_u0 + ndcg4_u3) / 3,
        "recall@4": 5 / 9,
        "precision@4": 1 / 3,
        "mrr@4": 1 / 2,
        "hit_rate@4": 2 / 3,
        "map@4": 19 / 54,
    }
    # Key order: by k, then by the metrics argument.
    assert list(result) == list(expected)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-15), key


def test_compute_ranking_metrics_subset_and_order(truth: sp.csr_matrix) -> None:
    result = compute_ranking_metrics(RECO, truth, ks=[4, 1], metrics=["mrr", "recall"])
    # k=1: mrr (0 + 0 + 1)/3 = 1/3; recall (0 + 0 + 1/3)/3 = 1/9.
    assert list(result) == ["mrr@4", "recall@4", "mrr@1", "recall@1"]
    assert result["mrr@1"] == pytest.approx(1 / 3, abs=1e-15)
    assert result["recall@1"] == pytest.approx(1 / 9, abs=1e-15)


def test_compute_ranking_metrics_equals_mean_of_per_user_functions(truth: sp.csr_matrix) -> None:
    result = compute_ranking_metrics(RECO, truth, ks=(3,))
    for name, metric in RANKING_METRICS.items():
        per_user = metric(RECO, truth, 3)
        assert result[f"{name}@3"] == pytest.approx(np.nanmean(per_user), abs=1e-15)


def test_compute_ranking_metrics_without_any_truth_is_nan() -> None:
    truth = truth_from_lists([[], []], 3)
    result = compute_ranking_metrics(np.array([[0, 1], [1, 2]]), truth, ks=(2,))
    assert len(result) == 6
    assert all(math.isnan(value) for value in result.values())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metrics": ("ndcg", "NDCG")}, "unknown metric"),
        ({"metrics": ()}, "at least one"),
        ({"ks": ()}, "at least one"),
        ({"ks": (2, 5)}, "exceeds"),
    ],
)
def test_compute_ranking_metrics_rejects_bad_arguments(
    truth: sp.csr_matrix, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        compute_ranking_metrics(RECO, truth, **kwargs)  # type: ignore[arg-type]


def test_compute_ranking_metrics_default_ks_need_wide_lists(truth: sp.csr_matrix) -> None:
    # Defaults are (10, 20); a 4-wide list cannot be cut at 10.
    with pytest.raises(ValueError, match="exceeds"):
        compute_ranking_metrics(RECO, truth)
    wide = np.full((4, 20), -1)
    wide[:, :4] = RECO
    result = compute_ranking_metrics(wide, truth)
    assert set(result) == {
        f"{name}@{k}"
        for k in (10, 20)
        for name in ("ndcg", "recall", "precision", "mrr", "hit_rate", "map")
    }
    # Padding beyond 4 adds no hit, so recall@20 equals recall@4 = 5/9, precision drops to
    # (2/20 + 0 + 2/20)/3 = 1/15.
    assert result["recall@20"] == pytest.approx(5 / 9, abs=1e-15)
    assert result["precision@20"] == pytest.approx(1 / 15, abs=1e-15)


# ------------------------------------------------------------------ rating metrics


def test_rmse_and_mae_worked() -> None:
    # errors = [1, 0, 2, -4]: MAE = (1 + 0 + 2 + 4)/4 = 7/4; RMSE = sqrt((1 + 0 + 4 + 16)/4)
    y_true = [1.0, 2.0, 3.0, 4.0]
    y_pred = np.array([2.0, 2.0, 5.0, 0.0])
    assert mae(y_true, y_pred) == pytest.approx(7 / 4, abs=1e-15)
    assert rmse(y_true, y_pred) == pytest.approx(math.sqrt(21) / 2, abs=1e-15)
    assert isinstance(rmse(y_true, y_pred), float)


def test_rmse_mae_are_zero_for_exact_predictions() -> None:
    assert rmse([3, 4], [3, 4]) == 0.0
    assert mae([3, 4], [3, 4]) == 0.0


@pytest.mark.parametrize("fn", [rmse, mae])
@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [
        ([1.0, 2.0], [1.0], "mismatch"),
        ([], [], "empty"),
        ([[1.0]], [[1.0]], "1-D"),
    ],
)
def test_rating_metrics_reject_bad_input(
    fn: object, y_true: list[float], y_pred: list[float], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        fn(y_true, y_pred)  # type: ignore[operator]
