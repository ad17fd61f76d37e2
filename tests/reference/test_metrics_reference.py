"""Vectorised metrics against deliberately naive pure-Python references, plus invariants.

The reference implementations below loop over users and slots with plain lists, sets and
``math``; they are written from the formulas, not from the vectorised code, and some use a
different algorithm on purpose (Gini by mean absolute difference, not by sorted weights). Random
cases use fixed seeds and cover several shapes, short lists, empty lists, padding in the middle of
a row and users without relevant items.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp

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

ATOL = 1e-12
NAN = float("nan")

# ============================================================================================
# Naive references: one user at a time, plain Python.
# ============================================================================================

Row = list[int]


def ref_hits(row: Row, relevant: set[int], k: int) -> list[bool]:
    return [item != -1 and item in relevant for item in row[:k]]


def ref_precision(row: Row, relevant: set[int], k: int) -> float:
    if not relevant:
        return NAN
    return sum(ref_hits(row, relevant, k)) / k


def ref_recall(row: Row, relevant: set[int], k: int) -> float:
    if not relevant:
        return NAN
    return sum(ref_hits(row, relevant, k)) / len(relevant)


def ref_ndcg(row: Row, relevant: set[int], k: int) -> float:
    if not relevant:
        return NAN
    dcg = 0.0
    for rank, hit in enumerate(ref_hits(row, relevant, k)):
        if hit:
            dcg += 1.0 / math.log2(rank + 2)
    idcg = 0.0
    for rank in range(min(len(relevant), k)):
        idcg += 1.0 / math.log2(rank + 2)
    return dcg / idcg


def ref_mrr(row: Row, relevant: set[int], k: int) -> float:
    if not relevant:
        return NAN
    for rank, hit in enumerate(ref_hits(row, relevant, k)):
        if hit:
            return 1.0 / (rank + 1)
    return 0.0


def ref_hit_rate(row: Row, relevant: set[int], k: int) -> float:
    if not relevant:
        return NAN
    return 1.0 if any(ref_hits(row, relevant, k)) else 0.0


def ref_average_precision(row: Row, relevant: set[int], k: int) -> float:
    if not relevant:
        return NAN
    n_hits = 0
    total = 0.0
    for rank, hit in enumerate(ref_hits(row, relevant, k)):
        if hit:
            n_hits += 1
            total += n_hits / (rank + 1)
    return total / min(len(relevant), k)


REFERENCES = {
    "precision": ref_precision,
    "recall": ref_recall,
    "ndcg": ref_ndcg,
    "mrr": ref_mrr,
    "hit_rate": ref_hit_rate,
    "map": ref_average_precision,
}


def ref_filled(row: Row, k: int) -> list[int]:
    return [item for item in row[:k] if item != -1]


def ref_mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else NAN


def ref_coverage(reco: list[Row], n_items: int, k: int) -> float:
    shown = set()
    for row in reco:
        shown.update(ref_filled(row, k))
    return len(shown) / n_items


def ref_popularity(dense: list[list[float]]) -> list[int]:
    n_items = len(dense[0]) if dense else 0
    return [sum(1 for user_row in dense if user_row[item] != 0) for item in range(n_items)]


def ref_novelty(row: Row, pop: list[int], n_users: int, k: int) -> float:
    return ref_mean([-math.log2(max(pop[item], 1) / n_users) for item in ref_filled(row, k)])


def ref_arp(row: Row, pop: list[int], k: int) -> float:
    return ref_mean([float(pop[item]) for item in ref_filled(row, k)])


def ref_gini(reco: list[Row], n_items: int, k: int) -> float:
    # Mean-absolute-difference form: G = Σ_i Σ_j |c_i - c_j| / (2 n² mean(c)).
    counts = [0] * n_items
    for row in reco:
        for item in ref_filled(row, k):
            counts[item] += 1
    total = sum(counts)
    if total == 0:
        return NAN
    abs_diff = sum(abs(a - b) for a in counts for b in counts)
    return abs_diff / (2 * n_items * n_items * (total / n_items))


def ref_category_diversity(row: Row, categories: list[int], k: int) -> float:
    items = ref_filled(row, k)
    values = []
    for a in range(len(items)):
        for b in range(a + 1, len(items)):
            ca, cb = categories[items[a]], categories[items[b]]
            if ca == -1 or cb == -1:
                continue
            values.append(1.0 if ca != cb else 0.0)
    return ref_mean(values)


def ref_vector_diversity(row: Row, vectors: list[list[float]], k: int) -> float:
    items = ref_filled(row, k)
    values = []
    for a in range(len(items)):
        for b in range(a + 1, len(items)):
            va, vb = vectors[items[a]], vectors[items[b]]
            na = math.sqrt(sum(x * x for x in va))
            nb = math.sqrt(sum(x * x for x in vb))
            if na == 0 or nb == 0:
                continue
            cosine = sum(x * y for x, y in zip(va, vb, strict=True)) / (na * nb)
            values.append(1.0 - cosine)
    return ref_mean(values)


def ref_lift(row: Row, history: set[int], pop: list[int], k: int) -> float:
    arp = ref_arp(row, pop, k)
    if not history:
        return NAN
    history_mean = sum(pop[item] for item in history) / len(history)
    if history_mean == 0 or math.isnan(arp):
        return NAN
    return arp / history_mean


def ref_exposure(reco: list[Row], groups: list[int], k: int) -> dict[int, float]:
    counter: Counter[int] = Counter()
    for row in reco:
        for item in ref_filled(row, k):
            counter[groups[item]] += 1
    total = sum(counter.values())
    return {g: (counter[g] / total if total else NAN) for g in sorted(set(groups))}


# ============================================================================================
# Random cases
# ============================================================================================


@dataclass
class Case:
    reco: np.ndarray
    truth_lists: list[list[int]]
    n_items: int
    train_dense: np.ndarray  # (n_users, n_items), weighted, with some explicit zeros

    @property
    def reco_lists(self) -> list[Row]:
        return self.reco.tolist()

    @property
    def truth_sets(self) -> list[set[int]]:
        return [set(items) for items in self.truth_lists]

    @property
    def truth(self) -> sp.csr_matrix:
        # Built through LIL, independently of truth_from_lists.
        lil = sp.lil_matrix((len(self.truth_lists), self.n_items))
        for user, items in enumerate(self.truth_lists):
            for item in items:
                lil[user, item] = 1.0
        return lil.tocsr()


def make_case(seed: int, n_users: int, n_items: int, width: int) -> Case:
    rng = np.random.default_rng(seed)
    reco = np.full((n_users, width), -1, dtype=np.int64)
    for user in range(n_users):
        length = int(rng.integers(0, min(width, n_items) + 1))
        reco[user, :length] = rng.choice(n_items, size=length, replace=False)
        if rng.random() < 0.2:
            # Padding in the middle: the slots keep their ranks.
            reco[user] = rng.permutation(reco[user])
    truth_lists = []
    for user in range(n_users):
        if rng.random() < 0.15:
            truth_lists.append([])  # user without relevant items -> NaN
            continue
        listed = [int(i) for i in reco[user] if i != -1]
        n_from_list = int(rng.integers(0, len(listed) + 1))
        from_list = list(rng.choice(listed, size=n_from_list, replace=False)) if listed else []
        extra = list(rng.choice(n_items, size=int(rng.integers(0, 4)), replace=True))
        items = sorted({int(i) for i in from_list + extra})
        # Repeats in the input list must count once.
        truth_lists.append(items + items[:1])
    train = rng.random((n_users, n_items)) < 0.3
    weights = rng.integers(1, 5, size=(n_users, n_items)).astype(np.float64)
    return Case(reco, truth_lists, n_items, np.where(train, weights, 0.0))


SHAPES = [
    # (n_users, n_items, K)
    (1, 1, 1),
    (3, 2, 3),
    (7, 5, 5),
    (40, 25, 10),
    (200, 60, 20),
    (60, 500, 30),
]
SEEDS = [0, 1, 2]
CASES = [
    pytest.param(seed, *shape, id=f"seed{seed}-{shape[0]}x{shape[1]}-K{shape[2]}")
    for shape in SHAPES
    for seed in SEEDS
]


def cutoffs(width: int) -> list[int]:
    return sorted({1, max(1, width // 2), width})


def assert_matches(actual: np.ndarray, expected: list[float]) -> None:
    assert actual.dtype == np.float64
    expected_arr = np.array(expected, dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected_arr))
    np.testing.assert_allclose(actual, expected_arr, rtol=0, atol=ATOL)


# ============================================================================================
# Ranking metrics vs reference
# ============================================================================================


@pytest.mark.parametrize(("seed", "n_users", "n_items", "width"), CASES)
def test_truth_from_lists_matches_naive_dense(
    seed: int, n_users: int, n_items: int, width: int
) -> None:
    case = make_case(seed, n_users, n_items, width)
    dense = np.zeros((n_users, n_items))
    for user, items in enumerate(case.truth_lists):
        for item in items:
            dense[user, item] = 1.0
    np.testing.assert_array_equal(truth_from_lists(case.truth_lists, n_items).toarray(), dense)


@pytest.mark.parametrize(("seed", "n_users", "n_items", "width"), CASES)
def test_hits_matrix_matches_reference(seed: int, n_users: int, n_items: int, width: int) -> None:
    case = make_case(seed, n_users, n_items, width)
    for k in cutoffs(width):
        expected = [
            ref_hits(row, t, k) for row, t in zip(case.reco_lists, case.truth_sets, strict=True)
        ]
        np.testing.assert_array_equal(
            hits_matrix(case.reco, case.truth, k), np.array(expected, dtype=bool).reshape(-1, k)
        )


@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize(("seed", "n_users", "n_items", "width"), CASES)
def test_ranking_metric_matches_reference(
    name: str, seed: int, n_users: int, n_items: int, width: int
) -> None:
    case = make_case(seed, n_users, n_items, width)
    metric, reference = RANKING_METRICS[name], REFERENCES[name]
    for k in cutoffs(width):
        expected = [
            reference(row, t, k) for row, t in zip(case.reco_lists, case.truth_sets, strict=True)
        ]
        assert_matches(metric(case.reco, case.truth, k), expected)


@pytest.mark.parametrize(("seed", "n_users", "n_items", "width"), CASES)
def test_compute_ranking_metrics_matches_reference(
    seed: int, n_users: int, n_items: int, width: int
) -> None:
    case = make_case(seed, n_users, n_items, width)
    ks = cutoffs(width)
    result = compute_ranking_metrics(case.reco, case.truth, ks=ks, metrics=list(REFERENCES))
    assert len(result) == len(ks) * len(REFERENCES)
    for k in ks:
        for name, reference in REFERENCES.items():
            per_user = [
                reference(row, t, k)
                for row, t in zip(case.reco_lists, case.truth_sets, strict=True)
                if t  # users without truth are excluded
            ]
            expected = ref_mean(per_user)
            actual = result[f"{name}@{k}"]
            if math.isnan(expected):
                assert math.isnan(actual)
            else:
                assert actual == pytest.approx(expected, rel=0, abs=ATOL)


@pytest.mark.parametrize("seed", SEEDS)
def test_rmse_mae_match_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for size in (1, 2, 17, 300):
        y_true = rng.uniform(1, 5, size)
        y_pred = rng.normal(3, 1, size)
        squared = sum((a - b) ** 2 for a, b in zip(y_true.tolist(), y_pred.tolist(), strict=True))
        absolute = sum(abs(a - b) for a, b in zip(y_true.tolist(), y_pred.tolist(), strict=True))
        assert rmse(y_true, y_pred) == pytest.approx(math.sqrt(squared / size), rel=0, abs=ATOL)
        assert mae(y_true, y_pred) == pytest.approx(absolute / size, rel=0, abs=ATOL)


# ============================================================================================
# Beyond-accuracy metrics vs reference
# ============================================================================================


@pytest.mark.parametrize(("seed", "n_users", "n_items", "width"), CASES)
def test_beyond_metrics_match_reference(seed: int, n_users: int, n_items: int, width: int) -> None:
    case = make_case(seed, n_users, n_items, width)
    rng = np.random.default_rng(seed + 1000)
    train = sp.csr_matrix(case.train_dense)
    pop = ref_popularity(case.train_dense.tolist())
    np.testing.assert_array_equal(item_popularity(train), pop)
    categories = rng.integers(-1, 4, size=n_items)
    vectors = rng.normal(size=(n_items, 3))
    vectors[rng.random(n_items) < 0.1] = 0.0  # some items without a direction
    groups = rng.integers(-1, 3, size=n_items)
    history = [set(np.flatnonzero(user_row).tolist()) for user_row in case.train_dense]
    reco = case.reco_lists

    for k in cutoffs(width):
        assert catalog_coverage(case.reco, n_items, k) == pytest.approx(
            ref_coverage(reco, n_items, k), rel=0, abs=ATOL
        )
        assert_matches(
            novelty(case.reco, pop, n_users, k), [ref_novelty(r, pop, n_users, k) for r in reco]
        )
        assert_matches(
            average_recommended_popularity(case.reco, pop, k), [ref_arp(r, pop, k) for r in reco]
        )
        gini, gini_ref = gini_exposure(case.reco, n_items, k), ref_gini(reco, n_items, k)
        assert (math.isnan(gini) and math.isnan(gini_ref)) or gini == pytest.approx(
            gini_ref, rel=0, abs=ATOL
        )
        assert_matches(
            intra_list_diversity(case.reco, k, item_categories=categories),
            [ref_category_diversity(r, categories.tolist(), k) for r in reco],
        )
        assert_matches(
            intra_list_diversity(case.reco, k, item_vectors=vectors),
            [ref_vector_diversity(r, vectors.tolist(), k) for r in reco],
        )
        assert_matches(
            popularity_lift(case.reco, pop, train, k),
            [ref_lift(r, h, pop, k) for r, h in zip(reco, history, strict=True)],
        )
        shares, shares_ref = exposure_share(case.reco, groups, k), ref_exposure(reco, groups, k)
        assert list(shares) == list(shares_ref)
        np.testing.assert_allclose(
            list(shares.values()), list(shares_ref.values()), rtol=0, atol=ATOL
        )


@pytest.mark.parametrize(("seed", "n_users", "n_items", "width"), CASES)
def test_compute_beyond_metrics_matches_reference(
    seed: int, n_users: int, n_items: int, width: int
) -> None:
    case = make_case(seed, n_users, n_items, width)
    pop = ref_popularity(case.train_dense.tolist())
    categories = np.random.default_rng(seed).integers(-1, 3, size=n_items)
    reco = case.reco_lists
    k = width
    result = compute_beyond_metrics(
        case.reco, k, n_items=n_items, popularity=pop, n_users=n_users, item_categories=categories
    )

    def defined_mean(values: list[float]) -> float:
        return ref_mean([v for v in values if not math.isnan(v)])

    expected = {
        f"coverage@{k}": ref_coverage(reco, n_items, k),
        f"novelty@{k}": defined_mean([ref_novelty(r, pop, n_users, k) for r in reco]),
        f"arp@{k}": defined_mean([ref_arp(r, pop, k) for r in reco]),
        f"gini@{k}": ref_gini(reco, n_items, k),
        f"diversity@{k}": defined_mean(
            [ref_category_diversity(r, categories.tolist(), k) for r in reco]
        ),
    }
    assert set(result) == set(expected)
    for key, value in expected.items():
        if math.isnan(value):
            assert math.isnan(result[key]), key
        else:
            assert result[key] == pytest.approx(value, rel=0, abs=ATOL), key


# ============================================================================================
# Invariants on random data
# ============================================================================================


@pytest.mark.parametrize(("seed", "n_users", "n_items", "width"), CASES)
def test_ranking_invariants(seed: int, n_users: int, n_items: int, width: int) -> None:
    case = make_case(seed, n_users, n_items, width)
    truth = case.truth
    has_truth = np.array([bool(t) for t in case.truth_sets])
    previous_recall = np.zeros(n_users)
    previous_hit = np.zeros(n_users)
    for k in range(1, width + 1):
        values = {name: fn(case.reco, truth, k) for name, fn in RANKING_METRICS.items()}
        for name, per_user in values.items():
            # NaN exactly for users without truth, [0, 1] elsewhere.
            np.testing.assert_array_equal(np.isnan(per_user), ~has_truth, err_msg=name)
            defined = per_user[has_truth]
            assert ((defined >= 0) & (defined <= 1 + 1e-15)).all(), name
        # Precision * k counts hits: an integer.
        hits = values["precision"][has_truth] * k
        np.testing.assert_allclose(hits, np.round(hits), rtol=0, atol=1e-9)
        # The first hit's reciprocal rank is at most 1 and only non-zero with a hit.
        assert (values["mrr"][has_truth] <= values["hit_rate"][has_truth]).all()
        assert ((values["mrr"] > 0) == (values["hit_rate"] > 0))[has_truth].all()
        # Recall and hit rate never drop when the cut-off grows.
        assert (values["recall"][has_truth] >= previous_recall[has_truth] - 1e-15).all()
        assert (values["hit_rate"][has_truth] >= previous_hit[has_truth]).all()
        previous_recall, previous_hit = values["recall"], values["hit_rate"]


@pytest.mark.parametrize("seed", SEEDS)
def test_perfect_lists_score_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_users, n_items, width = 30, 40, 8
    truth_lists = [
        rng.choice(n_items, size=int(rng.integers(1, 12)), replace=False).tolist()
        for _ in range(n_users)
    ]
    reco = np.full((n_users, width), -1)
    for user, items in enumerate(truth_lists):
        # All relevant items first (as many as fit), then irrelevant ones.
        others = [i for i in rng.permutation(n_items).tolist() if i not in items]
        row = (rng.permutation(items).tolist() + others)[:width]
        reco[user] = row
    truth = truth_from_lists(truth_lists, n_items)
    for k in range(1, width + 1):
        np.testing.assert_allclose(ndcg_at_k(reco, truth, k), 1.0, rtol=0, atol=1e-15)
        np.testing.assert_allclose(average_precision_at_k(reco, truth, k), 1.0, rtol=0, atol=1e-15)
        np.testing.assert_allclose(mrr_at_k(reco, truth, k), 1.0, rtol=0, atol=0)
        np.testing.assert_allclose(hit_rate_at_k(reco, truth, k), 1.0, rtol=0, atol=0)
        sizes = np.array([len(items) for items in truth_lists])
        np.testing.assert_allclose(
            recall_at_k(reco, truth, k), np.minimum(sizes, k) / sizes, rtol=0, atol=1e-15
        )
        np.testing.assert_allclose(
            precision_at_k(reco, truth, k), np.minimum(sizes, k) / k, rtol=0, atol=1e-15
        )


@pytest.mark.parametrize("seed", SEEDS)
def test_relevant_first_order_maximises_ndcg(seed: int) -> None:
    # A list sorted relevant-first is optimal; any other order of the same items scores <= it.
    case = make_case(seed, 50, 30, 10)
    truth = case.truth
    reco = case.reco.copy()
    hits = hits_matrix(reco, truth, 10)
    order = np.argsort(~hits, axis=1, kind="stable")  # relevant slots first
    best = np.take_along_axis(reco, order, axis=1)
    shuffled = np.stack([np.random.default_rng(seed).permutation(row) for row in reco])
    ndcg_best, ndcg_other = ndcg_at_k(best, truth, 10), ndcg_at_k(shuffled, truth, 10)
    defined = ~np.isnan(ndcg_best)
    assert (ndcg_best[defined] >= ndcg_other[defined] - 1e-15).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_metrics_follow_a_joint_permutation_of_users(seed: int) -> None:
    case = make_case(seed, 40, 25, 10)
    perm = np.random.default_rng(seed).permutation(40)
    truth = case.truth
    for fn in RANKING_METRICS.values():
        base = fn(case.reco, truth, 7)
        permuted = fn(case.reco[perm], truth[perm], 7)
        np.testing.assert_array_equal(permuted, base[perm])


@pytest.mark.parametrize(("seed", "n_users", "n_items", "width"), CASES)
def test_beyond_invariants(seed: int, n_users: int, n_items: int, width: int) -> None:
    case = make_case(seed, n_users, n_items, width)
    rng = np.random.default_rng(seed)
    for k in cutoffs(width):
        assert 0.0 <= catalog_coverage(case.reco, n_items, k) <= 1.0
        gini = gini_exposure(case.reco, n_items, k)
        assert math.isnan(gini) or 0.0 <= gini <= (n_items - 1) / n_items + 1e-15
        div = intra_list_diversity(case.reco, k, item_categories=rng.integers(-1, 3, n_items))
        div = div[~np.isnan(div)]
        assert ((div >= 0) & (div <= 1)).all()
        vec = intra_list_diversity(case.reco, k, item_vectors=rng.normal(size=(n_items, 4)))
        vec = vec[~np.isnan(vec)]
        assert ((vec >= 0) & (vec <= 2)).all()
        shares = exposure_share(case.reco, rng.integers(0, 4, n_items), k)
        values = np.array(list(shares.values()))
        if not np.isnan(values).all():
            assert values.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("n_items", [1, 2, 5, 50])
def test_gini_extremes(n_items: int) -> None:
    # Uniform exposure (every item shown to every user, in rotated order) -> 0.
    n_users = 6
    reco = np.array([np.roll(np.arange(n_items), u) for u in range(n_users)])
    assert gini_exposure(reco, n_items, n_items) == pytest.approx(0.0, abs=1e-12)
    # One item takes every slot -> (n - 1)/n, the maximum for n items.
    single = np.full((n_users, 1), n_items - 1)
    assert gini_exposure(single, n_items, 1) == pytest.approx((n_items - 1) / n_items, abs=1e-12)
