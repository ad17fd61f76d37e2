"""Uncertainty of benchmark figures: bootstrap intervals over users and paired comparisons.

Every protocol scores a set of users, so every reported mean is an estimate with sampling noise.
This module turns the ranked lists of one evaluation into per-user values
(:func:`user_sample`) and from them computes

- a percentile bootstrap interval per metric (:func:`confidence_intervals`): users are drawn with
  replacement ``n_resamples`` times and the metric is recomputed on each draw;
- a paired comparison of two models on the same users (:func:`paired_differences`): the mean
  per-user difference and the percentile bootstrap interval of that difference, with the same
  user draws for both models, so that the users both models find easy or hard cancel out;
- the best single baseline of a benchmark, chosen on validation (:func:`best_baseline`), and
  the ``vs_best_baseline`` entry of every result (:func:`compare_with_baseline`).

A model is called *better* than another only when the paired interval excludes 0
(:func:`verdict`).

The draws depend only on ``(n_users, n_resamples, random_state)``: every model of a benchmark is
resampled with the same user draws, and a rerun gives the same intervals. Draw ``b`` picks users
``rng.integers(0, n, size=(n_resamples, n))[b]`` with ``rng = np.random.default_rng(seed)``; the
draws are generated in blocks of rows (the same stream) to bound memory.

Catalogue coverage is not a mean over users: asked for explicitly, each draw recomputes it from
the drawn users' lists (an item counts when at least one drawn user has it in the top ``k``).
Such replicates are biased low (a draw repeats users), so coverage is not in the default
:data:`CI_METRICS`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from digirec.evaluation.metrics import PAD, RANKING_METRICS

__all__ = [
    "BASELINE_MODELS",
    "CI_METRICS",
    "CONFIDENCE",
    "N_RESAMPLES",
    "RANDOM_STATE",
    "UserSample",
    "best_baseline",
    "bootstrap_means",
    "compare_with_baseline",
    "confidence_intervals",
    "paired_differences",
    "percentile_interval",
    "user_sample",
    "verdict",
]

#: Resamples of every bootstrap (the Monte Carlo error of a 95% percentile bound is then well
#: below the third significant digit of the interval width).
N_RESAMPLES = 1000
#: Two-sided level of every interval.
CONFIDENCE = 0.95
#: Seed of the user draws (fixed: reruns and models share the draws).
RANDOM_STATE = 0
#: The single models a benchmark compares everything with (the best of them on validation).
BASELINE_MODELS: tuple[str, ...] = ("pop", "itemknn", "ease", "als")
#: Metrics that get intervals and paired differences by default: the accuracy metrics of the
#: table. Catalogue coverage is left out: it is not a mean over users, and a bootstrap draw
#: holds only about 63% distinct users, so its replicates sit systematically below the
#: full-sample value (on Office the point difference fell outside its own percentile interval).
#: Coverage can still be asked for explicitly, with that caveat.
CI_METRICS: tuple[str, ...] = ("ndcg@10", "recall@10", "ndcg@20", "recall@20", "mrr@20")
#: Bytes of one block of draws (``block x n_users`` int64 draws, then float64 counts).
_BLOCK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class UserSample:
    """Per-user values of one evaluation: what the bootstrap resamples.

    Attributes
    ----------
    users:
        Internal indices of the evaluated users, in evaluation order. Two samples can be
        paired only when their ``users`` are equal.
    values:
        Metric key (``"ndcg@10"``) -> per-user value aligned with ``users`` (``NaN`` where the
        metric is undefined, e.g. a user without a target).
    reco:
        The ranked lists ``(n_users, K)`` (for coverage; ``PAD`` marks an empty slot).
    n_items:
        Catalogue size (the denominator of coverage).
    """

    users: NDArray[np.int64]
    values: dict[str, NDArray[np.float64]]
    reco: NDArray[np.int64] = field(repr=False)
    n_items: int

    @property
    def n_users(self) -> int:
        return len(self.users)


def user_sample(
    users: NDArray[np.int64],
    reco: NDArray[np.int64],
    truth_rows: sp.csr_matrix,
    *,
    ks: Sequence[int],
    n_items: int,
    metrics: Sequence[str] = ("ndcg", "recall", "mrr"),
) -> UserSample:
    """Per-user metric values of ranked lists against the matching rows of the relevance matrix.

    Parameters
    ----------
    users:
        The users of the rows of ``reco`` and ``truth_rows``.
    reco:
        Ranked item indices, one row per user (as from ``Recommender.recommend_idx``).
    truth_rows:
        Binary relevance, one row per user.
    ks:
        Cut-offs; keys are ``"{metric}@{k}"``.
    metrics:
        Names from :data:`digirec.evaluation.metrics.RANKING_METRICS`.
    """
    reco = np.asarray(reco, dtype=np.int64)
    if reco.shape[0] != len(users) or truth_rows.shape[0] != len(users):
        raise ValueError(
            f"users ({len(users)}), reco ({reco.shape[0]}) and truth ({truth_rows.shape[0]}) "
            "must have one row per user"
        )
    values: dict[str, NDArray[np.float64]] = {}
    for k in ks:
        kk = min(int(k), reco.shape[1])
        for name in metrics:
            values[f"{name}@{k}"] = np.asarray(
                RANKING_METRICS[name](reco, truth_rows, kk), dtype=np.float64
            )
    return UserSample(
        users=np.asarray(users, dtype=np.int64), values=values, reco=reco, n_items=int(n_items)
    )


def _generate_counts(n: int, n_resamples: int, random_state: int) -> Iterator[NDArray[np.float64]]:
    """The bootstrap draws as multiplicities: blocks of rows ``(b, n)``, entry ``[d, u]`` the
    number of times draw ``d`` picked user ``u``.

    Draw ``d`` picks the users ``rng.integers(0, n, size=(n_resamples, n))[d]``; generating the
    rows block by block reads the same stream, so the block size never changes the draws.
    """
    rng = np.random.default_rng(random_state)
    block = max(1, min(n_resamples, _BLOCK_BYTES // (8 * max(n, 1))))
    done = 0
    while done < n_resamples:
        size = min(block, n_resamples - done)
        draws = rng.integers(0, n, size=(size, n))
        offsets = (np.arange(size, dtype=np.int64) * n)[:, None]
        counts = np.bincount((draws + offsets).ravel(), minlength=size * n)
        yield counts.reshape(size, n).astype(np.float64)
        done += size


#: The multiplicities of the last draws, kept while they fit in ``_CACHE_BYTES``: every model
#: of a benchmark is resampled with the same draws, so they are generated once per run.
_CACHE: dict[tuple[int, int, int], list[NDArray[np.float64]]] = {}
_CACHE_BYTES = 256 * 2**20


def _draw_blocks(n: int, n_resamples: int, random_state: int) -> Iterator[NDArray[np.float64]]:
    """The multiplicity blocks of :func:`_generate_counts` (float64, for matrix products),
    from the cache when the same draws were made last."""
    key = (n, n_resamples, random_state)
    blocks = _CACHE.get(key)
    if blocks is None:
        if 8 * n * n_resamples > _CACHE_BYTES:
            yield from _generate_counts(n, n_resamples, random_state)
            return
        _CACHE.clear()
        blocks = list(_generate_counts(n, n_resamples, random_state))
        _CACHE[key] = blocks
    yield from blocks


def _bootstrap_columns(
    values: NDArray[np.float64], n_resamples: int, random_state: int
) -> NDArray[np.float64]:
    """Per-draw means of each column of ``values`` ``(n, m)`` -> ``(n_resamples, m)``; a NaN
    entry is left out of its column's mean (a draw of only NaN users gives NaN)."""
    n, m = values.shape
    if n == 0:
        return np.full((n_resamples, m), np.nan)
    defined = (~np.isnan(values)).astype(np.float64)
    filled = np.where(defined > 0, values, 0.0)
    out = np.empty((n_resamples, m), dtype=np.float64)
    start = 0
    for weights in _draw_blocks(n, n_resamples, random_state):
        counts = weights @ defined
        sums = weights @ filled
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + len(weights)] = np.where(counts > 0, sums / counts, np.nan)
        start += len(weights)
    return out


def bootstrap_means(
    values: NDArray[np.float64],
    *,
    n_resamples: int = N_RESAMPLES,
    random_state: int = RANDOM_STATE,
) -> NDArray[np.float64]:
    """The mean of ``values`` on each bootstrap draw (``NaN`` entries are left out of a mean).

    The draws are over all positions of ``values``, so two arrays of the same length are
    resampled with the same users: pass a difference of per-user values for a paired bootstrap.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    return _bootstrap_columns(values, n_resamples, random_state)[:, 0]


def _coverage_incidence(reco: NDArray[np.int64], n_items: int, k: int) -> sp.csr_matrix:
    """users x items incidence of the top-``k`` lists (``PAD`` slots left out)."""
    n = reco.shape[0]
    top = reco[:, :k]
    rows = np.repeat(np.arange(n), top.shape[1])
    cols = top.ravel()
    keep = (cols != PAD) & (cols >= 0)
    return sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float64), (rows[keep], cols[keep])),
        shape=(n, n_items),
    )


def _bootstrap_coverage(
    reco: NDArray[np.int64],
    n_items: int,
    k: int,
    *,
    n_resamples: int,
    random_state: int,
) -> NDArray[np.float64]:
    """Catalogue coverage@k on each bootstrap draw (same draws as :func:`bootstrap_means`): an
    item counts when at least one drawn user has it in the top ``k``."""
    # The users of each recommended item, grouped by item (CSC of the users x items incidence).
    by_item = _coverage_incidence(reco, n_items, k).tocsc()
    starts = by_item.indptr[:-1][np.diff(by_item.indptr) > 0]
    users = by_item.indices
    out = np.empty(n_resamples, dtype=np.float64)
    start = 0
    for weights in _draw_blocks(reco.shape[0], n_resamples, random_state):
        if not len(users):
            out[start : start + len(weights)] = 0.0
        else:
            picked = (weights > 0)[:, users]  # draw x (item, user) pairs, grouped by item
            covered = np.logical_or.reduceat(picked, starts, axis=1)  # draw x covered items
            out[start : start + len(weights)] = covered.sum(axis=1) / max(n_items, 1)
        start += len(weights)
    return out


def percentile_interval(
    replicates: NDArray[np.float64], confidence: float = CONFIDENCE
) -> list[float]:
    """The two-sided percentile interval ``[lo, hi]`` of bootstrap replicates."""
    alpha = (1.0 - confidence) / 2.0
    defined = replicates[~np.isnan(replicates)]
    if not defined.size:
        return [float("nan"), float("nan")]
    lo, hi = np.quantile(defined, [alpha, 1.0 - alpha])
    return [float(lo), float(hi)]


def _is_coverage(metric: str) -> bool:
    name, _, k = metric.partition("@")
    return name == "coverage" and k.isdigit()


def _available(sample: UserSample, metrics: Sequence[str]) -> list[str]:
    return [m for m in metrics if m in sample.values or _is_coverage(m)]


def _replicates(
    sample: UserSample, metrics: Sequence[str], *, n_resamples: int, random_state: int
) -> dict[str, NDArray[np.float64]]:
    """Bootstrap replicates of each of ``metrics`` (one pass over the draws for all per-user
    metrics, one per coverage cut-off)."""
    means = [m for m in metrics if m in sample.values]
    out: dict[str, NDArray[np.float64]] = {}
    if means:
        stacked = np.column_stack([sample.values[m] for m in means])
        columns = _bootstrap_columns(stacked, n_resamples, random_state)
        out.update({m: columns[:, j] for j, m in enumerate(means)})
    for metric in metrics:
        if metric in out:
            continue
        if not _is_coverage(metric):
            raise KeyError(f"no per-user values for {metric!r}; have {sorted(sample.values)}")
        out[metric] = _bootstrap_coverage(
            sample.reco, sample.n_items, int(metric.partition("@")[2]),
            n_resamples=n_resamples, random_state=random_state,
        )  # fmt: skip
    return out


def confidence_intervals(
    sample: UserSample,
    metrics: Sequence[str] = CI_METRICS,
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    random_state: int = RANDOM_STATE,
    replicates: Mapping[str, NDArray[np.float64]] | None = None,
) -> dict[str, list[float]]:
    """``{metric: [lo, hi]}``: percentile bootstrap intervals over users (the ``test_ci95``
    entry). Metrics the sample cannot compute are left out. ``replicates`` (from an earlier
    call with the same draws) saves recomputing them."""
    wanted = _available(sample, metrics)
    reps = dict(replicates or {})
    missing = [m for m in wanted if m not in reps]
    if missing:
        reps.update(
            _replicates(sample, missing, n_resamples=n_resamples, random_state=random_state)
        )
    return {m: percentile_interval(reps[m], confidence) for m in wanted}


def paired_differences(
    sample: UserSample,
    baseline: UserSample,
    metrics: Sequence[str] = CI_METRICS,
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    random_state: int = RANDOM_STATE,
    replicates: tuple[Mapping[str, NDArray[np.float64]], Mapping[str, NDArray[np.float64]]]
    | None = None,
) -> dict[str, dict[str, Any]]:
    """``{metric: {"diff": d, "ci95": [lo, hi]}}`` of ``sample`` minus ``baseline``.

    Both samples must be evaluations of the same users (same order). ``diff`` is the metric of
    ``sample`` minus that of ``baseline`` on all users; the interval resamples users and
    recomputes the difference on each draw, with the same draws for both models. A user counts
    when both models have a defined value. ``replicates`` (both samples' replicates from the
    same draws) saves recomputing them.
    """
    if not np.array_equal(sample.users, baseline.users):
        raise ValueError("a paired comparison needs both models evaluated on the same users")
    wanted = [m for m in _available(sample, metrics) if m in _available(baseline, [m])]
    mine, theirs = (dict(r) for r in replicates) if replicates else ({}, {})
    out: dict[str, dict[str, Any]] = {}
    for metric in wanted:
        if metric in sample.values:
            a, b = sample.values[metric], baseline.values[metric]
            both = ~(np.isnan(a) | np.isnan(b))
            delta = np.where(both, a - b, np.nan)
            diff = float(np.mean(delta[both])) if both.any() else float("nan")
            if both.all() and metric in mine and metric in theirs:
                # Same draws, no undefined user: the mean of the differences on a draw is the
                # difference of the means on that draw.
                reps = mine[metric] - theirs[metric]
            else:
                reps = bootstrap_means(delta, n_resamples=n_resamples, random_state=random_state)
        else:
            for have, who in ((mine, sample), (theirs, baseline)):
                if metric not in have:
                    have.update(
                        _replicates(
                            who, [metric], n_resamples=n_resamples, random_state=random_state
                        )
                    )
            reps = mine[metric] - theirs[metric]
            diff = float(_point(sample, metric) - _point(baseline, metric))
        out[metric] = {"diff": diff, "ci95": percentile_interval(reps, confidence)}
    return out


def _point(sample: UserSample, metric: str) -> float:
    """The metric on all users of the sample (no resampling)."""
    if metric in sample.values:
        return float(np.nanmean(sample.values[metric]))
    k = int(metric.partition("@")[2])
    top = sample.reco[:, :k].ravel()
    top = top[(top != PAD) & (top >= 0)]
    return float(len(np.unique(top)) / max(sample.n_items, 1))


def verdict(interval: Sequence[float]) -> str:
    """``"better"`` / ``"worse"`` when a paired interval excludes 0, else ``"tie"``."""
    lo, hi = float(interval[0]), float(interval[1])
    if lo > 0:
        return "better"
    if hi < 0:
        return "worse"
    return "tie"


def best_baseline(
    results: Sequence[Mapping[str, Any]],
    *,
    metric: str = "ndcg@10",
    candidates: Sequence[str] = BASELINE_MODELS,
) -> str | None:
    """The baseline with the best **validation** ``metric`` among the results (ties: the first
    in ``candidates`` order); ``None`` when the benchmark ran none of them.

    Chosen on validation, never test, so the comparison itself is not tuned on test.
    """
    best: tuple[float, int, str] | None = None
    for r in results:
        name = str(r["model"])
        if name not in candidates:
            continue
        value = r.get("valid", {}).get(metric)
        if value is None or np.isnan(value):
            continue
        key = (float(value), -candidates.index(name), name)
        if best is None or key > best:
            best = key
    return None if best is None else best[2]


def compare_with_baseline(
    results: list[dict[str, Any]],
    samples: Mapping[str, UserSample],
    metrics: Sequence[str] = CI_METRICS,
    *,
    selection_metric: str = "ndcg@10",
    n_resamples: int = N_RESAMPLES,
    random_state: int = RANDOM_STATE,
) -> str | None:
    """Add ``test_ci95`` and ``vs_best_baseline`` to every result (in place).

    ``samples`` maps a result's ``model`` to its test :class:`UserSample`. Returns the chosen
    baseline (``None`` when no baseline was run: then ``vs_best_baseline`` is absent).
    """
    # One pass over the draws per model; the intervals and the paired differences reuse it.
    reps: dict[str, dict[str, NDArray[np.float64]]] = {}
    for r in results:
        name = str(r["model"])
        sample = samples.get(name)
        if sample is None:
            continue
        reps[name] = _replicates(
            sample, _available(sample, metrics), n_resamples=n_resamples,
            random_state=random_state,
        )  # fmt: skip
        r["test_ci95"] = confidence_intervals(sample, metrics, replicates=reps[name])
    chosen = best_baseline(results, metric=selection_metric)
    if chosen is None or chosen not in samples:
        return None
    reference = samples[chosen]
    for r in results:
        name = str(r["model"])
        sample = samples.get(name)
        if sample is None:
            continue
        r["vs_best_baseline"] = {
            "baseline": chosen,
            **paired_differences(
                sample, reference, metrics, n_resamples=n_resamples, random_state=random_state,
                replicates=(reps[name], reps[chosen]),
            ),
        }  # fmt: skip
    return chosen
