r"""Beyond-accuracy metrics as pure functions: coverage, novelty, diversity, popularity bias.

``reco`` follows the convention of :mod:`digirec.evaluation.metrics`: an integer array
``(n_users, K)`` of item indices in rank order, ``-1`` for padding, read up to the cut-off ``k``.
Padding slots are empty: they are skipped by every metric here (a list of 3 items at ``k = 5``
is a list of 3 items). An item repeated inside one top-k list raises :class:`ValueError`.

Per-user functions return ``float64`` arrays of shape ``(n_users,)`` with ``NaN`` where the value
is undefined (an empty list, a list without a comparable pair, a user without train items); the
aggregate in :func:`compute_beyond_metrics` averages over the defined users only and is ``NaN``
when no user has a defined value.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from digirec.evaluation.metrics import (
    PAD,
    FloatArray,
    SparseMatrix,
    _as_reco,
    _binary_csr,
    _mean_defined,
    _safe_divide,
    _top_k,
)

__all__ = [
    "UNKNOWN_CATEGORY",
    "average_recommended_popularity",
    "catalog_coverage",
    "compute_beyond_metrics",
    "exposure_share",
    "gini_exposure",
    "intra_list_diversity",
    "item_popularity",
    "novelty",
    "popularity_lift",
]

#: Category code meaning "unknown" in :func:`intra_list_diversity`.
UNKNOWN_CATEGORY = -1

# Upper bound on the number of floats gathered at once in the vector diversity (about 32 MiB).
_GATHER_BUDGET = 1 << 22


def _check_positive(value: int, name: str) -> int:
    value_int = operator.index(value)
    if value_int < 1:
        raise ValueError(f"{name} must be >= 1, got {value_int}")
    return value_int


def _as_popularity(popularity: ArrayLike) -> FloatArray:
    pop = np.asarray(popularity, dtype=np.float64)
    if pop.ndim != 1:
        raise ValueError(f"popularity must be 1-D (n_items,), got shape {pop.shape}")
    if pop.size and (not np.isfinite(pop).all() or pop.min() < 0):
        raise ValueError("popularity must be finite and >= 0")
    return pop


def _list_mean(per_item: FloatArray, top: NDArray[np.int64]) -> FloatArray:
    """Mean of ``per_item`` over the filled slots of each row; ``NaN`` for an empty row."""
    filled = top != PAD
    # Index with 0 in padding slots only to keep the gather in bounds; those values are zeroed.
    gathered = np.where(filled, per_item[np.where(filled, top, 0)], 0.0)
    return _safe_divide(gathered.sum(axis=1), filled.sum(axis=1))


def catalog_coverage(reco: ArrayLike, n_items: int, k: int) -> float:
    r"""Share of the catalogue that appears in at least one top-k list.

    .. math:: \text{coverage}@k = \frac{|\bigcup_u \text{top}_k(u)|}{n_\text{items}}

    Parameters
    ----------
    reco:
        ``(n_users, K)`` item indices, ``-1`` for padding.
    n_items:
        Catalogue size (the denominator), ``>= 1``.
    k:
        Cut-off, ``1 <= k <= K``.

    Returns
    -------
    float
        In ``[0, 1]``.
    """
    n_items = _check_positive(n_items, "n_items")
    top, _ = _top_k(reco, k, n_items=n_items)
    shown = np.zeros(n_items, dtype=bool)
    shown[top[top != PAD]] = True
    return float(shown.sum() / n_items)


def item_popularity(train: SparseMatrix) -> NDArray[np.int64]:
    r"""Number of distinct users who interacted with each item.

    .. math:: \text{pop}(i) = |\{u : \text{train}[u, i] \ne 0\}|

    Repeated ``(u, i)`` entries count once and explicitly stored zeros not at all, so the value
    does not depend on how the interaction matrix was weighted.

    Parameters
    ----------
    train:
        Sparse users x items interaction matrix.

    Returns
    -------
    numpy.ndarray
        int64 array of shape ``(n_items,)``.
    """
    csr = _binary_csr(train, "train")
    return np.bincount(csr.indices, minlength=csr.shape[1]).astype(np.int64)


def novelty(reco: ArrayLike, popularity: ArrayLike, n_users: int, k: int) -> FloatArray:
    r"""Mean self-information of the recommended items, per user.

    .. math:: \text{novelty}@k(u) = \frac{1}{|L_u|} \sum_{i \in L_u}
              -\log_2 \frac{\max(\text{pop}(i), 1)}{n_\text{users}}

    with :math:`L_u` the filled slots of the top-k list. An item nobody interacted with
    (``pop = 0``) is treated as ``pop = 1``: its information is then the largest possible finite
    value, :math:`\log_2 n_\text{users}`, instead of infinity, which would swamp every average.

    Parameters
    ----------
    reco:
        ``(n_users_reco, K)`` item indices, ``-1`` for padding.
    popularity:
        ``(n_items,)`` number of users per item, e.g. from :func:`item_popularity`.
    n_users:
        Number of users the popularity was counted over; every ``pop(i) <= n_users``.
    k:
        Cut-off.

    Returns
    -------
    numpy.ndarray
        float64 ``(n_users_reco,)``, ``>= 0``; ``NaN`` for an empty list.
    """
    n_users = _check_positive(n_users, "n_users")
    pop = _as_popularity(popularity)
    top, _ = _top_k(reco, k, n_items=pop.size)
    if pop.size and pop.max() > n_users:
        raise ValueError(f"popularity exceeds n_users={n_users}: it is not a count of users")
    information = -np.log2(np.maximum(pop, 1.0) / n_users)
    return _list_mean(information, top)


def average_recommended_popularity(reco: ArrayLike, popularity: ArrayLike, k: int) -> FloatArray:
    r"""Average popularity of the recommended items (ARP), per user.

    .. math:: ARP@k(u) = \frac{1}{|L_u|} \sum_{i \in L_u} \text{pop}(i)

    with :math:`L_u` the filled slots of the top-k list; ``NaN`` for an empty list.
    """
    pop = _as_popularity(popularity)
    top, _ = _top_k(reco, k, n_items=pop.size)
    return _list_mean(pop, top)


def gini_exposure(reco: ArrayLike, n_items: int, k: int) -> float:
    r"""Gini coefficient of item exposure in the top-k lists.

    With :math:`c_{(1)} \le \dots \le c_{(n)}` the sorted number of top-k slots that each of the
    :math:`n = n_\text{items}` catalogue items fills (never-recommended items count with 0):

    .. math:: G@k = \frac{\sum_{i=1}^{n} (2i - n - 1)\, c_{(i)}}{n \sum_{i=1}^{n} c_{(i)}}

    ``0`` when every item is shown equally often; ``(n - 1) / n`` when a single item takes every
    slot. ``NaN`` when no slot is filled (exposure of nothing has no inequality).
    """
    n_items = _check_positive(n_items, "n_items")
    top, _ = _top_k(reco, k, n_items=n_items)
    counts = np.bincount(top[top != PAD], minlength=n_items).astype(np.float64)
    total = counts.sum()
    if total == 0:
        return float("nan")
    ranks = np.arange(1, n_items + 1, dtype=np.float64)
    return float(((2.0 * ranks - n_items - 1.0) @ np.sort(counts)) / (n_items * total))


def _category_diversity(top: NDArray[np.int64], categories: NDArray[np.int64]) -> FloatArray:
    k = top.shape[1]
    cats = np.where(top != PAD, categories[np.where(top != PAD, top, 0)], UNKNOWN_CATEGORY)
    known = cats != UNKNOWN_CATEGORY
    different = np.zeros(top.shape[0], dtype=np.float64)
    n_pairs = np.zeros(top.shape[0], dtype=np.float64)
    # A loop over the k(k-1)/2 slot pairs, vectorised over users.
    for j in range(k):
        for m in range(j + 1, k):
            comparable = known[:, j] & known[:, m]
            n_pairs += comparable
            different += comparable & (cats[:, j] != cats[:, m])
    return _safe_divide(different, n_pairs)


def _vector_diversity(top: NDArray[np.int64], vectors: NDArray[np.float64]) -> FloatArray:
    n_users, k = top.shape
    norms = np.linalg.norm(vectors, axis=1)
    has_direction = norms > 0
    unit = np.divide(vectors, norms[:, None], out=np.zeros_like(vectors), where=norms[:, None] > 0)
    usable = (top != PAD) & has_direction[np.where(top != PAD, top, 0)]
    safe_top = np.where(usable, top, 0)
    upper = np.triu(np.ones((k, k), dtype=bool), 1)

    dissimilarity = np.zeros(n_users, dtype=np.float64)
    n_pairs = np.zeros(n_users, dtype=np.float64)
    # Chunks over users keep the (chunk, k, d) gather bounded on large evaluations.
    chunk = max(1, _GATHER_BUDGET // max(1, k * vectors.shape[1]))
    for start in range(0, n_users, chunk):
        stop = min(start + chunk, n_users)
        gathered = unit[safe_top[start:stop]]
        cosine = np.einsum("ukd,uld->ukl", gathered, gathered)
        pair_ok = usable[start:stop, :, None] & usable[start:stop, None, :] & upper
        # Rounding can push 1 - cos of parallel vectors a hair below 0; the true value is in [0, 2].
        dissim = np.clip(1.0 - cosine, 0.0, 2.0)
        dissimilarity[start:stop] = np.where(pair_ok, dissim, 0.0).sum(axis=(1, 2))
        n_pairs[start:stop] = pair_ok.sum(axis=(1, 2))
    return _safe_divide(dissimilarity, n_pairs)


def intra_list_diversity(
    reco: ArrayLike,
    k: int,
    *,
    item_categories: ArrayLike | None = None,
    item_vectors: ArrayLike | None = None,
) -> FloatArray:
    r"""Mean pairwise dissimilarity inside each top-k list.

    .. math:: ILD@k(u) = \frac{1}{|P_u|} \sum_{(i, j) \in P_u} d(i, j)

    with :math:`P_u` the unordered pairs of filled slots of the top-k list that can be compared
    and

    * with ``item_categories``: :math:`d(i, j) = [c_i \ne c_j]`, the share of pairs in different
      categories. A pair involving an unknown category (code ``-1``) is **left out** of
      :math:`P_u` rather than counted as different: counting it would reward a model for
      recommending items with missing metadata.
    * with ``item_vectors``: :math:`d(i, j) = 1 - \cos(v_i, v_j)`, in ``[0, 2]``. A pair involving
      an all-zero vector (no direction, cosine undefined) is left out of :math:`P_u`.

    Parameters
    ----------
    reco:
        ``(n_users, K)`` item indices, ``-1`` for padding.
    k:
        Cut-off.
    item_categories:
        ``(n_items,)`` integer category codes, ``-1`` for unknown.
    item_vectors:
        ``(n_items, d)`` item vectors (need not be normalised).

    Returns
    -------
    numpy.ndarray
        float64 ``(n_users,)``; ``NaN`` where :math:`P_u` is empty (fewer than two comparable
        items, hence always at ``k = 1``).

    Raises
    ------
    ValueError
        Unless exactly one of ``item_categories`` and ``item_vectors`` is given, or on bad shapes.
    """
    if (item_categories is None) == (item_vectors is None):
        raise ValueError("give exactly one of item_categories and item_vectors")
    if item_categories is not None:
        categories = np.asarray(item_categories)
        if categories.ndim != 1 or (categories.size and categories.dtype.kind not in "iu"):
            raise ValueError("item_categories must be a 1-D array of integer codes")
        categories = categories.astype(np.int64, copy=False)
        if categories.size and categories.min() < UNKNOWN_CATEGORY:
            raise ValueError(f"category codes must be >= 0, or {UNKNOWN_CATEGORY} for unknown")
        top, _ = _top_k(reco, k, n_items=categories.size)
        return _category_diversity(top, categories)
    vectors = np.asarray(item_vectors, dtype=np.float64)
    if vectors.ndim != 2:
        raise ValueError(f"item_vectors must be 2-D (n_items, d), got shape {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise ValueError("item_vectors must be finite")
    top, _ = _top_k(reco, k, n_items=vectors.shape[0])
    return _vector_diversity(top, vectors)


def popularity_lift(
    reco: ArrayLike, popularity: ArrayLike, train_user_items: SparseMatrix, k: int
) -> FloatArray:
    r"""Popularity of what is recommended relative to what the user consumed, per user.

    .. math:: \text{lift}@k(u) = \frac{ARP@k(u)}{\frac{1}{|H_u|} \sum_{i \in H_u} \text{pop}(i)}

    with :math:`H_u` the distinct train items of ``u``. Above 1 the recommender pushes the user
    towards more popular items than they chose themselves (popularity bias), below 1 towards the
    long tail. ``NaN`` for an empty list, a user without train items, or train items of
    popularity 0 (ratio undefined).

    Parameters
    ----------
    reco:
        ``(n_users, K)`` item indices, ``-1`` for padding.
    popularity:
        ``(n_items,)`` item popularity.
    train_user_items:
        Sparse ``(n_users, n_items)`` train interactions, same user rows as ``reco``.
    k:
        Cut-off.
    """
    pop = _as_popularity(popularity)
    history = _binary_csr(train_user_items, "train_user_items")
    n_rows = _as_reco(reco).shape[0]
    if history.shape != (n_rows, pop.size):
        raise ValueError(
            f"train_user_items has shape {history.shape}, expected (n_users, n_items) = "
            f"({n_rows}, {pop.size})"
        )
    arp = average_recommended_popularity(reco, pop, k)
    n_history = np.diff(history.indptr)
    history_mean = _safe_divide(np.asarray(history @ pop, dtype=np.float64), n_history)
    # A zero mean would give inf; the ratio is meaningless there, so it is NaN like other gaps.
    history_mean[history_mean == 0] = np.nan
    return arp / history_mean


def exposure_share(reco: ArrayLike, item_groups: ArrayLike, k: int) -> dict[int, float]:
    r"""Share of all filled top-k slots that goes to each item group (e.g. brand codes).

    .. math:: \text{share}_g = \frac{|\{(u, j) : j < k,\ g(\text{reco}[u, j]) = g\}|}
              {|\{(u, j) : j < k,\ \text{reco}[u, j] \ne -1\}|}

    Parameters
    ----------
    reco:
        ``(n_users, K)`` item indices, ``-1`` for padding.
    item_groups:
        ``(n_items,)`` integer group code of each item. Every code is a group, ``-1`` included
        (typically "unknown brand").
    k:
        Cut-off.

    Returns
    -------
    dict[int, float]
        Every code present in ``item_groups``, in increasing order, with its share; groups never
        shown get ``0.0`` so that an excluded brand is visible. Shares sum to 1; all are ``NaN``
        when no slot is filled.
    """
    groups = np.asarray(item_groups)
    if groups.ndim != 1 or (groups.size and groups.dtype.kind not in "iu"):
        raise ValueError("item_groups must be a 1-D array of integer codes")
    top, _ = _top_k(reco, k, n_items=groups.size)
    codes, group_of_item = np.unique(groups, return_inverse=True)
    slot_groups = group_of_item[top[top != PAD]]
    counts = np.bincount(slot_groups, minlength=codes.size).astype(np.float64)
    total = counts.sum()
    shares = counts / total if total else np.full(codes.size, np.nan)
    return {int(code): float(share) for code, share in zip(codes, shares, strict=True)}


def compute_beyond_metrics(
    reco: ArrayLike,
    k: int,
    *,
    n_items: int,
    popularity: ArrayLike,
    n_users: int,
    item_categories: ArrayLike | None = None,
) -> dict[str, float]:
    r"""Aggregate the beyond-accuracy metrics at one cut-off.

    Per-user metrics (novelty, ARP, diversity) are averaged over the users where they are
    defined (see each function); the value is ``NaN`` when no user qualifies.

    Parameters
    ----------
    reco:
        ``(n_users_reco, K)`` item indices, ``-1`` for padding.
    k:
        Cut-off.
    n_items:
        Catalogue size; ``popularity`` must have this length.
    popularity:
        ``(n_items,)`` number of distinct train users per item.
    n_users:
        Number of users the popularity was counted over.
    item_categories:
        Optional ``(n_items,)`` category codes; adds ``diversity@k``.

    Returns
    -------
    dict[str, float]
        ``coverage@k`` (:func:`catalog_coverage`), ``novelty@k`` (:func:`novelty`), ``arp@k``
        (:func:`average_recommended_popularity`), ``gini@k`` (:func:`gini_exposure`) and, with
        categories, ``diversity@k`` (:func:`intra_list_diversity`).
    """
    pop = _as_popularity(popularity)
    if pop.size != n_items:
        raise ValueError(f"popularity has {pop.size} entries but n_items={n_items}")
    results = {
        f"coverage@{k}": catalog_coverage(reco, n_items, k),
        f"novelty@{k}": _mean_defined(novelty(reco, pop, n_users, k)),
        f"arp@{k}": _mean_defined(average_recommended_popularity(reco, pop, k)),
        f"gini@{k}": gini_exposure(reco, n_items, k),
    }
    if item_categories is not None:
        categories: NDArray[Any] = np.asarray(item_categories)
        if categories.shape != (n_items,):
            raise ValueError(f"item_categories must have shape ({n_items},)")
        results[f"diversity@{k}"] = _mean_defined(
            intra_list_diversity(reco, k, item_categories=categories)
        )
    return results
