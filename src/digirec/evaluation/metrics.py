"""Ranking and rating metrics as pure functions.

Every ranking metric is a function of ``(reco, truth, k)`` that returns one value per user:

``reco``
    Integer array of shape ``(n_users, K)``; row ``u`` holds the recommended ``item_idx`` in rank
    order, padded with ``-1`` (:data:`PAD`) where a list is shorter than ``K``. A metric at cut-off
    ``k`` reads the first ``k`` columns only, so ``1 <= k <= K``. A padding slot is an empty slot:
    it never hits, it still counts in the ``k`` of precision, and it may appear anywhere in a row.
    An item repeated inside one top-k list raises :class:`ValueError`: a repeat would be counted
    twice (recall above 1), and a model that repeats items is broken, so it fails loudly.
``truth``
    Sparse ``(n_users, n_items)`` matrix; a stored nonzero entry (after summing duplicates) marks
    a relevant item. Values are ignored: relevance is binary.

Users without any relevant item get ``NaN`` from every per-user ranking metric, so that
:func:`compute_ranking_metrics` averages over users with at least one relevant item only. An
average over no user at all is ``NaN`` too (an empty mean), never a warning or a silent ``0``.

Ranks are 0-based in the formulas below: the first slot is ``rank = 0``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "PAD",
    "RANKING_METRICS",
    "average_precision_at_k",
    "compute_ranking_metrics",
    "hit_rate_at_k",
    "hits_matrix",
    "mae",
    "mrr_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
    "rmse",
    "truth_from_lists",
]

#: Padding value of ``reco`` for lists shorter than ``K``.
PAD = -1

IntArray: TypeAlias = NDArray[np.integer[Any]]
FloatArray: TypeAlias = NDArray[np.float64]
BoolArray: TypeAlias = NDArray[np.bool_]
#: Any scipy sparse matrix or array; converted to CSR internally.
SparseMatrix: TypeAlias = sp.spmatrix | sp.sparray
#: Signature shared by every per-user ranking metric.
RankingMetric: TypeAlias = Callable[[IntArray, SparseMatrix, int], FloatArray]


# --------------------------------------------------------------------------------------------
# Validation helpers (shared with beyond.py)
# --------------------------------------------------------------------------------------------


def _check_k(k: int, n_cols: int) -> int:
    """Return ``k`` as a plain int after checking ``1 <= k <= n_cols``."""
    # bool is an int subclass; `k=True` is always a caller bug, never a cut-off of 1.
    if isinstance(k, bool | np.bool_):
        raise ValueError(f"k must be an integer, got {k!r}")
    try:
        k_int = operator.index(k)
    except TypeError as exc:
        raise ValueError(f"k must be an integer, got {k!r}") from exc
    if k_int < 1:
        raise ValueError(f"k must be >= 1, got {k_int}")
    if k_int > n_cols:
        raise ValueError(f"k={k_int} exceeds the recommendation list width K={n_cols}")
    return k_int


def _as_reco(reco: ArrayLike) -> NDArray[np.int64]:
    """Return ``reco`` as a 2-D int64 array, rejecting floats and bools."""
    arr = np.asarray(reco)
    if arr.ndim != 2:
        raise ValueError(f"reco must be 2-D (n_users, K), got shape {arr.shape}")
    # Float item indices usually mean a score matrix was passed by mistake.
    if arr.dtype.kind not in "iu":
        raise ValueError(f"reco must hold integer item indices, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _top_k(reco: ArrayLike, k: int, n_items: int | None = None) -> tuple[NDArray[np.int64], int]:
    """Validate ``reco`` and return its first ``k`` columns and ``k`` as a plain int.

    Checks: 2-D integer array, ``1 <= k <= K``, entries ``>= -1`` and ``< n_items`` (when given),
    no item repeated inside one top-k list.
    """
    arr = _as_reco(reco)
    k_int = _check_k(k, arr.shape[1])
    top = arr[:, :k_int]
    if top.size:
        if top.min() < PAD:
            raise ValueError(f"reco entries must be item indices >= 0 or {PAD} for padding")
        if n_items is not None and top.max() >= n_items:
            raise ValueError(
                f"reco holds item index {int(top.max())} but there are only {n_items} items"
            )
        # Sorting each row puts repeats next to each other; padding may repeat freely.
        ordered = np.sort(top, axis=1)
        repeated = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] != PAD)
        if repeated.any():
            user = int(np.flatnonzero(repeated.any(axis=1))[0])
            raise ValueError(f"user row {user} repeats an item inside its top-{k_int} list")
    return top, k_int


def _binary_csr(matrix: SparseMatrix, name: str) -> sp.csr_matrix:
    """Return a canonical binary CSR copy: duplicates summed, zeros dropped, data set to 1."""
    if not sp.issparse(matrix):
        raise TypeError(f"{name} must be a scipy sparse matrix, got {type(matrix).__name__}")
    # Copy so the caller's matrix is never modified in place.
    csr = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    # After sum_duplicates the column indices are sorted per row, which hits_matrix relies on.
    csr.sum_duplicates()
    csr.eliminate_zeros()
    csr.data[:] = 1.0
    return csr


def _hits_and_counts(
    reco: ArrayLike, truth: SparseMatrix, k: int
) -> tuple[BoolArray, NDArray[np.int64], int]:
    """Return the hits matrix, the number of relevant items per user and ``k``."""
    truth_csr = _binary_csr(truth, "truth")
    arr = _as_reco(reco)
    n_users, n_items = truth_csr.shape
    if arr.shape[0] != n_users:
        raise ValueError(f"reco has {arr.shape[0]} user rows but truth has {n_users}")
    top, k_int = _top_k(arr, k, n_items=n_items)

    # Encode each (user, item) pair as one int64 key user * n_items + item. The CSR of a canonical
    # matrix lists its keys in increasing order, so membership is one binary search per slot.
    n_relevant = np.diff(truth_csr.indptr).astype(np.int64)
    truth_keys = np.repeat(
        np.arange(n_users, dtype=np.int64), n_relevant
    ) * n_items + truth_csr.indices.astype(np.int64)
    reco_keys = np.arange(n_users, dtype=np.int64)[:, None] * n_items + top
    if truth_keys.size == 0:
        return np.zeros(top.shape, dtype=bool), n_relevant, k_int
    pos = np.searchsorted(truth_keys, reco_keys)
    # pos == len(truth_keys) means "larger than every key"; clip only to read safely.
    found = truth_keys[np.minimum(pos, truth_keys.size - 1)] == reco_keys
    # Padding must be masked explicitly: -1 would otherwise encode the previous user's last item.
    hits = found & (top != PAD)
    return hits, n_relevant, k_int


def _mask_no_truth(values: FloatArray, n_relevant: NDArray[np.int64]) -> FloatArray:
    values[n_relevant == 0] = np.nan
    return values


def _safe_divide(num: FloatArray, den: NDArray[Any]) -> FloatArray:
    """``num / den`` with ``NaN`` where ``den == 0`` and no runtime warning."""
    out = np.full(num.shape, np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _discounts(k: int) -> FloatArray:
    """Return ``1 / log2(rank + 2)`` for ``rank = 0 .. k-1``."""
    return 1.0 / np.log2(np.arange(k, dtype=np.float64) + 2.0)


# --------------------------------------------------------------------------------------------
# Kernels on a hits matrix (shared by the public functions and the aggregator)
# --------------------------------------------------------------------------------------------


def _precision(hits: BoolArray, n_relevant: NDArray[np.int64]) -> FloatArray:
    # Divide by k, not by the list length: an empty slot is a missed opportunity.
    values = hits.sum(axis=1, dtype=np.float64) / hits.shape[1]
    return _mask_no_truth(values, n_relevant)


def _recall(hits: BoolArray, n_relevant: NDArray[np.int64]) -> FloatArray:
    return _safe_divide(hits.sum(axis=1, dtype=np.float64), n_relevant)


def _ndcg(hits: BoolArray, n_relevant: NDArray[np.int64]) -> FloatArray:
    k = hits.shape[1]
    discounts = _discounts(k)
    dcg = hits.astype(np.float64) @ discounts
    # The ideal list puts min(|truth_u|, k) relevant items in the first slots, so its DCG is the
    # sum of the first n_ideal discounts: entry n_ideal of [0, cumsum]. Users without truth get
    # IDCG = 0, which _safe_divide turns into NaN.
    ideal_cum = np.concatenate(([0.0], np.cumsum(discounts)))
    idcg = ideal_cum[np.minimum(n_relevant, k)]
    return _safe_divide(dcg, idcg)


def _mrr(hits: BoolArray, n_relevant: NDArray[np.int64]) -> FloatArray:
    any_hit = hits.any(axis=1)
    # argmax returns the first True; for rows without a hit it returns 0, masked by any_hit.
    first = hits.argmax(axis=1)
    values: FloatArray = np.where(any_hit, 1.0 / (first + 1.0), 0.0)
    return _mask_no_truth(values, n_relevant)


def _hit_rate(hits: BoolArray, n_relevant: NDArray[np.int64]) -> FloatArray:
    values = np.asarray(hits.any(axis=1), dtype=np.float64)
    return _mask_no_truth(values, n_relevant)


def _average_precision(hits: BoolArray, n_relevant: NDArray[np.int64]) -> FloatArray:
    k = hits.shape[1]
    hits_f = hits.astype(np.float64)
    precision_at = np.cumsum(hits_f, axis=1) / np.arange(1, k + 1, dtype=np.float64)
    summed = (precision_at * hits_f).sum(axis=1)
    # Normalise by min(|truth_u|, k) so a list that cannot hold every relevant item can still
    # reach 1 (the usual MAP@k convention).
    return _safe_divide(summed, np.minimum(n_relevant, k))


_KERNELS: dict[str, Callable[[BoolArray, NDArray[np.int64]], FloatArray]] = {
    "precision": _precision,
    "recall": _recall,
    "ndcg": _ndcg,
    "mrr": _mrr,
    "hit_rate": _hit_rate,
    "map": _average_precision,
}


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def truth_from_lists(lists: Sequence[Sequence[int]], n_items: int) -> sp.csr_matrix:
    """Build a binary relevance matrix from per-user lists of relevant item indices.

    Parameters
    ----------
    lists:
        ``lists[u]`` holds the relevant ``item_idx`` of user ``u``; may be empty. Repeats count
        once.
    n_items:
        Number of columns (catalogue size).

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(len(lists), n_items)``, float64, with ``truth[u, i] = 1`` iff ``i in lists[u]``.

    Raises
    ------
    ValueError
        If ``n_items < 0`` or an index falls outside ``[0, n_items)``.
    """
    n_items = operator.index(n_items)
    if n_items < 0:
        raise ValueError(f"n_items must be >= 0, got {n_items}")
    lengths = np.fromiter((len(items) for items in lists), dtype=np.int64, count=len(lists))
    cols = (
        np.concatenate([np.asarray(items, dtype=np.int64).reshape(-1) for items in lists])
        if lengths.sum()
        else np.zeros(0, dtype=np.int64)
    )
    if cols.size and (cols.min() < 0 or cols.max() >= n_items):
        bad = int(cols[(cols < 0) | (cols >= n_items)][0])
        raise ValueError(f"item index {bad} is outside [0, {n_items})")
    rows = np.repeat(np.arange(len(lists), dtype=np.int64), lengths)
    truth = sp.csr_matrix(
        (np.ones(cols.size, dtype=np.float64), (rows, cols)), shape=(len(lists), n_items)
    )
    # The COO constructor sums repeats into 2, 3 ...; relevance is binary, so reset to 1.
    truth.sum_duplicates()
    truth.data[:] = 1.0
    return truth


def hits_matrix(reco: ArrayLike, truth: SparseMatrix, k: int) -> BoolArray:
    r"""Mark which of the top-k slots hold a relevant item.

    .. math:: \text{hits}[u, j] = [\,\text{reco}[u, j] \ne -1 \;\wedge\;
              \text{truth}[u, \text{reco}[u, j]] \ne 0\,], \quad 0 \le j < k

    Parameters
    ----------
    reco:
        ``(n_users, K)`` integer item indices in rank order, ``-1`` for padding.
    truth:
        ``(n_users, n_items)`` sparse relevance matrix; stored nonzeros are relevant.
    k:
        Cut-off, ``1 <= k <= K``.

    Returns
    -------
    numpy.ndarray
        Boolean array of shape ``(n_users, k)``.

    Raises
    ------
    ValueError
        On a bad ``k``, mismatched user counts, out-of-range indices or a repeated item.
    TypeError
        If ``truth`` is not a scipy sparse matrix.
    """
    return _hits_and_counts(reco, truth, k)[0]


def precision_at_k(reco: ArrayLike, truth: SparseMatrix, k: int) -> FloatArray:
    r"""Precision@k per user.

    .. math:: P@k(u) = \frac{1}{k} \sum_{j<k} \text{hits}[u, j]

    The denominator is ``k`` even when the list holds fewer items (padding counts as a miss).
    ``NaN`` for users without a relevant item.
    """
    hits, n_relevant, _ = _hits_and_counts(reco, truth, k)
    return _precision(hits, n_relevant)


def recall_at_k(reco: ArrayLike, truth: SparseMatrix, k: int) -> FloatArray:
    r"""Recall@k per user.

    .. math:: R@k(u) = \frac{\sum_{j<k} \text{hits}[u, j]}{|T_u|}

    with :math:`T_u` the relevant items of ``u``. ``NaN`` when :math:`|T_u| = 0`.
    """
    hits, n_relevant, _ = _hits_and_counts(reco, truth, k)
    return _recall(hits, n_relevant)


def ndcg_at_k(reco: ArrayLike, truth: SparseMatrix, k: int) -> FloatArray:
    r"""NDCG@k per user with binary gains.

    .. math::
        DCG@k(u) = \sum_{j<k} \frac{\text{hits}[u, j]}{\log_2(j + 2)}, \qquad
        IDCG@k(u) = \sum_{j < \min(|T_u|, k)} \frac{1}{\log_2(j + 2)}, \qquad
        NDCG@k(u) = \frac{DCG@k(u)}{IDCG@k(u)}

    With one relevant item at 0-based rank ``r < k`` this is :math:`1/\log_2(r + 2)`.
    ``NaN`` when :math:`|T_u| = 0`.
    """
    hits, n_relevant, _ = _hits_and_counts(reco, truth, k)
    return _ndcg(hits, n_relevant)


def mrr_at_k(reco: ArrayLike, truth: SparseMatrix, k: int) -> FloatArray:
    r"""Reciprocal rank of the first hit in the top k, per user.

    .. math:: RR@k(u) = \frac{1}{r_u + 1}, \quad r_u = \min\{j < k : \text{hits}[u, j]\}

    ``0`` when no relevant item is in the top k; ``NaN`` when :math:`|T_u| = 0`.
    Averaging over users gives MRR@k.
    """
    hits, n_relevant, _ = _hits_and_counts(reco, truth, k)
    return _mrr(hits, n_relevant)


def hit_rate_at_k(reco: ArrayLike, truth: SparseMatrix, k: int) -> FloatArray:
    r"""Hit indicator per user.

    .. math:: HR@k(u) = [\exists\, j < k : \text{hits}[u, j]]

    ``NaN`` when :math:`|T_u| = 0`.
    """
    hits, n_relevant, _ = _hits_and_counts(reco, truth, k)
    return _hit_rate(hits, n_relevant)


def average_precision_at_k(reco: ArrayLike, truth: SparseMatrix, k: int) -> FloatArray:
    r"""Average precision@k per user (its mean over users is MAP@k).

    .. math:: AP@k(u) = \frac{1}{\min(|T_u|, k)}
              \sum_{j<k} \text{hits}[u, j] \cdot P@(j + 1)(u)

    ``NaN`` when :math:`|T_u| = 0`.
    """
    hits, n_relevant, _ = _hits_and_counts(reco, truth, k)
    return _average_precision(hits, n_relevant)


#: Lower-case metric name -> per-user function ``f(reco, truth, k)``.
RANKING_METRICS: Mapping[str, RankingMetric] = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "mrr": mrr_at_k,
    "hit_rate": hit_rate_at_k,
    "map": average_precision_at_k,
}


def _mean_defined(values: FloatArray) -> float:
    """Mean over the non-NaN entries; ``NaN`` (without a warning) when there is none."""
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else float("nan")


def compute_ranking_metrics(
    reco: ArrayLike,
    truth: SparseMatrix,
    ks: Iterable[int] = (10, 20),
    metrics: Iterable[str] = ("ndcg", "recall", "precision", "mrr", "hit_rate", "map"),
) -> dict[str, float]:
    r"""Average several ranking metrics at several cut-offs.

    .. math:: M@k = \frac{1}{|U^+|} \sum_{u \in U^+} M@k(u), \qquad
              U^+ = \{u : |T_u| \ge 1\}

    Parameters
    ----------
    reco, truth:
        See :func:`hits_matrix`.
    ks:
        Cut-offs, each ``1 <= k <= K``.
    metrics:
        Names from :data:`RANKING_METRICS`.

    Returns
    -------
    dict[str, float]
        Keys ``"{name}@{k}"`` (e.g. ``"ndcg@10"``), ordered by ``k`` then by ``metrics``. A value
        is ``NaN`` when no user has a relevant item.

    Raises
    ------
    ValueError
        On an unknown metric name, an empty ``ks`` or ``metrics``, or any input error of
        :func:`hits_matrix`.
    """
    names = list(metrics)
    unknown = [name for name in names if name not in _KERNELS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {sorted(_KERNELS)}")
    if not names:
        raise ValueError("metrics must name at least one metric")
    n_cols = _as_reco(reco).shape[1]
    cutoffs = [_check_k(k, n_cols) for k in ks]
    if not cutoffs:
        raise ValueError("ks must hold at least one cut-off")

    # One lookup at the largest cut-off serves every k: hits at k are its first k columns.
    hits, n_relevant, _ = _hits_and_counts(reco, truth, max(cutoffs))
    results: dict[str, float] = {}
    for k in cutoffs:
        hits_k = hits[:, :k]
        for name in names:
            results[f"{name}@{k}"] = _mean_defined(_KERNELS[name](hits_k, n_relevant))
    return results


def _rating_arrays(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[FloatArray, FloatArray]:
    true_arr = np.asarray(y_true, dtype=np.float64)
    pred_arr = np.asarray(y_pred, dtype=np.float64)
    if true_arr.ndim != 1 or pred_arr.ndim != 1:
        raise ValueError(
            f"y_true and y_pred must be 1-D, got shapes {true_arr.shape} and {pred_arr.shape}"
        )
    if true_arr.shape != pred_arr.shape:
        raise ValueError(f"shape mismatch: y_true {true_arr.shape} vs y_pred {pred_arr.shape}")
    if true_arr.size == 0:
        raise ValueError("y_true and y_pred are empty")
    return true_arr, pred_arr


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    r"""Root mean squared error.

    .. math:: RMSE = \sqrt{\frac{1}{n} \sum_i (y_i - \hat y_i)^2}

    Raises
    ------
    ValueError
        If the inputs are not 1-D, differ in shape, or are empty.
    """
    true_arr, pred_arr = _rating_arrays(y_true, y_pred)
    return float(np.sqrt(np.mean((true_arr - pred_arr) ** 2)))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    r"""Mean absolute error.

    .. math:: MAE = \frac{1}{n} \sum_i |y_i - \hat y_i|

    Raises
    ------
    ValueError
        If the inputs are not 1-D, differ in shape, or are empty.
    """
    true_arr, pred_arr = _rating_arrays(y_true, y_pred)
    return float(np.mean(np.abs(true_arr - pred_arr)))
