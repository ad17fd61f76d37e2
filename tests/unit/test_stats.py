"""Bootstrap intervals and paired comparisons (digirec.evaluation.stats) against hand
computations, a slow reference loop and the normal approximation on planted samples."""

from __future__ import annotations

import numpy as np
import pytest

from digirec.evaluation import stats
from digirec.evaluation.metrics import compute_ranking_metrics, truth_from_lists
from digirec.evaluation.stats import (
    UserSample,
    best_baseline,
    bootstrap_means,
    compare_with_baseline,
    confidence_intervals,
    paired_differences,
    percentile_interval,
    user_sample,
    verdict,
)


def _sample(values: dict[str, list[float]], reco: np.ndarray | None = None) -> UserSample:
    n = len(next(iter(values.values())))
    return UserSample(
        users=np.arange(n, dtype=np.int64),
        values={k: np.asarray(v, dtype=np.float64) for k, v in values.items()},
        reco=np.zeros((n, 1), dtype=np.int64) if reco is None else reco,
        n_items=10,
    )


def _reference_means(values: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """The documented draws, one at a time, with a Python mean (slow reference)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(values), size=(n_resamples, len(values)))
    return np.array([sum(values[j] for j in row) / len(row) for row in draws])


def test_exact_values_on_a_tiny_sample_match_the_reference_loop() -> None:
    values = np.array([0.0, 1.0, 0.5, 0.25, 0.0])
    got = bootstrap_means(values, n_resamples=57, random_state=3)
    np.testing.assert_allclose(got, _reference_means(values, 57, 3), rtol=0, atol=1e-15)
    lo, hi = percentile_interval(got)
    ref = np.sort(_reference_means(values, 57, 3))
    # numpy's default (linear) quantile, by hand: position q * (n - 1) between order statistics.
    pos = 0.025 * 56
    expected_lo = ref[int(pos)] + (pos - int(pos)) * (ref[int(pos) + 1] - ref[int(pos)])
    assert lo == pytest.approx(expected_lo, abs=1e-15)
    pos = 0.975 * 56
    expected_hi = ref[int(pos)] + (pos - int(pos)) * (ref[int(pos) + 1] - ref[int(pos)])
    assert hi == pytest.approx(expected_hi, abs=1e-15)


def test_blocks_of_draws_give_the_same_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.random.default_rng(1).random(300)
    whole = bootstrap_means(values, n_resamples=200, random_state=7)
    monkeypatch.setattr(stats, "_BLOCK_BYTES", 8 * 300 * 3)  # 3 draws per block
    monkeypatch.setattr(stats, "_CACHE", {})  # regenerate, in small blocks
    # The same draws; only the summation order inside the matrix products may differ.
    np.testing.assert_allclose(
        bootstrap_means(values, n_resamples=200, random_state=7), whole, rtol=1e-12, atol=0
    )
    monkeypatch.setattr(stats, "_CACHE_BYTES", 0)  # too large to keep: generated per call
    np.testing.assert_allclose(
        bootstrap_means(values, n_resamples=200, random_state=7), whole, rtol=1e-12, atol=0
    )


def test_hand_cases() -> None:
    # One user, or a constant: every draw has the same mean.
    assert confidence_intervals(_sample({"ndcg@10": [0.3]}), ["ndcg@10"]) == {"ndcg@10": [0.3, 0.3]}
    const = confidence_intervals(_sample({"ndcg@10": [0.2] * 50}), ["ndcg@10"])
    assert const["ndcg@10"] == pytest.approx([0.2, 0.2], abs=1e-12)
    # Two users with 0 and 1: a draw's mean is 0, 1/2 or 1 with probabilities 1/4, 1/2, 1/4,
    # so the 2.5% and 97.5% quantiles of 1000 draws are 0 and 1.
    ci = confidence_intervals(_sample({"hit@1": [0.0, 1.0]}), ["hit@1"])["hit@1"]
    assert ci == [0.0, 1.0]
    means = bootstrap_means(np.array([0.0, 1.0]))
    assert set(np.unique(means)) <= {0.0, 0.5, 1.0}
    assert np.mean(means == 0.5) == pytest.approx(0.5, abs=0.05)


def test_nan_users_are_left_out_of_each_draw() -> None:
    with_nan = bootstrap_means(np.array([1.0, np.nan, 1.0]), n_resamples=100)
    assert np.all((with_nan == 1.0) | np.isnan(with_nan))  # a draw of only the NaN user is NaN
    assert percentile_interval(with_nan) == [1.0, 1.0]


def test_normal_approximation_on_a_large_planted_sample() -> None:
    rng = np.random.default_rng(11)
    values = (rng.random(20_000) < 0.1).astype(np.float64)
    lo, hi = confidence_intervals(_sample({"hit@10": list(values)}), ["hit@10"])["hit@10"]
    p = values.mean()
    half = 1.96 * np.sqrt(p * (1 - p) / len(values))
    assert (lo + hi) / 2 == pytest.approx(p, abs=0.1 * half)
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.1)


def test_interval_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(5)
    hits = 0
    n_trials = 200
    for t in range(n_trials):
        values = rng.exponential(0.1, size=400)  # skewed, like NDCG values; true mean 0.1
        lo, hi = percentile_interval(bootstrap_means(values, n_resamples=400, random_state=t))
        hits += lo <= 0.1 <= hi
    # Binomial(200, 0.95): sd 3.1 hits; 0.88..0.99 is more than 3 sd either side.
    assert 0.88 <= hits / n_trials <= 0.99


def test_paired_difference_of_a_shifted_copy_is_exact() -> None:
    rng = np.random.default_rng(2)
    a = rng.random(500)
    b = a + 0.01
    diff = paired_differences(_sample({"ndcg@10": list(b)}), _sample({"ndcg@10": list(a)}))
    assert diff["ndcg@10"]["diff"] == pytest.approx(0.01, abs=1e-12)
    assert diff["ndcg@10"]["ci95"] == pytest.approx([0.01, 0.01], abs=1e-12)
    assert verdict(diff["ndcg@10"]["ci95"]) == "better"


def test_pairing_finds_a_small_effect_the_separate_intervals_miss() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    base = rng.random(n)  # per-user difficulty, shared by both models
    a = base + rng.normal(0, 0.02, n)
    b = base + 0.01 + rng.normal(0, 0.02, n)
    ci_a = confidence_intervals(_sample({"m@1": list(a)}), ["m@1"])["m@1"]
    ci_b = confidence_intervals(_sample({"m@1": list(b)}), ["m@1"])["m@1"]
    assert ci_a[1] > ci_b[0]  # the separate intervals overlap
    paired = paired_differences(_sample({"m@1": list(b)}), _sample({"m@1": list(a)}), ["m@1"])[
        "m@1"
    ]
    delta = b - a
    assert paired["diff"] == pytest.approx(delta.mean(), abs=1e-12)
    half = 1.96 * delta.std(ddof=1) / np.sqrt(n)
    assert (paired["ci95"][1] - paired["ci95"][0]) / 2 == pytest.approx(half, rel=0.1)
    assert verdict(paired["ci95"]) == "better"
    assert verdict([-0.1, 0.2]) == "tie"
    assert verdict([-0.2, -0.1]) == "worse"


def test_paired_needs_the_same_users() -> None:
    a = _sample({"m@1": [0.0, 1.0]})
    b = UserSample(
        users=np.array([0, 2]), values={"m@1": np.array([0.0, 1.0])}, reco=a.reco, n_items=10
    )
    with pytest.raises(ValueError, match="same users"):
        paired_differences(a, b, ["m@1"])


def test_coverage_draws_match_a_set_based_reference() -> None:
    reco = np.array([[0, 1], [0, 2], [3, -1], [1, 2]], dtype=np.int64)
    sample = UserSample(users=np.arange(4), values={}, reco=reco, n_items=6)
    got = stats._bootstrap_coverage(reco, 6, 2, n_resamples=300, random_state=4)
    rng = np.random.default_rng(4)
    draws = rng.integers(0, 4, size=(300, 4))
    ref = [len({int(i) for u in row for i in reco[u] if i >= 0}) / 6 for row in draws]
    np.testing.assert_allclose(got, ref)
    ci = confidence_intervals(sample, ["coverage@2"])["coverage@2"]
    assert ci == percentile_interval(np.asarray(ref))
    # Point value: items {0, 1, 2, 3} of 6.
    other = UserSample(users=np.arange(4), values={}, reco=np.zeros_like(reco), n_items=6)
    diff = paired_differences(sample, other, ["coverage@2"])["coverage@2"]
    assert diff["diff"] == pytest.approx(4 / 6 - 1 / 6)


def test_user_sample_means_equal_the_reported_metrics() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items = 60, 30
    reco = np.array([rng.permutation(n_items)[:20] for _ in range(n_users)])
    truth = truth_from_lists(
        [list(rng.choice(n_items, 2, replace=False)) for _ in range(n_users)], n_items
    )
    sample = user_sample(np.arange(n_users), reco, truth, ks=(10, 20), n_items=n_items)
    means = compute_ranking_metrics(reco, truth, ks=(10, 20))
    for key in ("ndcg@10", "recall@10", "ndcg@20", "recall@20", "mrr@20"):
        assert float(np.mean(sample.values[key])) == pytest.approx(means[key], abs=1e-12)


def test_best_baseline_is_chosen_on_validation_and_only_among_baselines() -> None:
    results = [
        {"model": "ease", "valid": {"ndcg@10": 0.10}, "test": {"ndcg@10": 0.05}},
        {"model": "als", "valid": {"ndcg@10": 0.09}, "test": {"ndcg@10": 0.20}},
        {"model": "sasrec", "valid": {"ndcg@10": 0.50}, "test": {"ndcg@10": 0.50}},
    ]
    assert best_baseline(results) == "ease"
    assert best_baseline([results[2]]) is None
    tie = [
        {"model": "als", "valid": {"ndcg@10": 0.1}},
        {"model": "ease", "valid": {"ndcg@10": 0.1}},
    ]
    assert best_baseline(tie) == "ease"  # ties: the first in BASELINE_MODELS order


def test_compare_with_baseline_writes_the_documented_keys() -> None:
    rng = np.random.default_rng(9)
    a, b = rng.random(100), rng.random(100)
    results = [
        {"model": "ease", "valid": {"ndcg@10": 0.2}},
        {"model": "hybrid", "valid": {"ndcg@10": 0.3}},
    ]
    samples = {"ease": _sample({"ndcg@10": list(a)}), "hybrid": _sample({"ndcg@10": list(b)})}
    assert compare_with_baseline(results, samples, ["ndcg@10"]) == "ease"
    hybrid = results[1]
    assert set(hybrid["test_ci95"]) == {"ndcg@10"}
    assert hybrid["vs_best_baseline"]["baseline"] == "ease"
    assert hybrid["vs_best_baseline"]["ndcg@10"]["diff"] == pytest.approx(b.mean() - a.mean())
    assert results[0]["vs_best_baseline"]["ndcg@10"] == {"diff": 0.0, "ci95": [0.0, 0.0]}
