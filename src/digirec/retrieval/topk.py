"""Exact top-k selection with a deterministic, unbiased tie-break.

Items with equal scores are ordered by a fixed random permutation of the items (never by item id,
which would favour items that happen to come first in a file). Items whose score is ``-inf`` are
never returned (that is how filters are applied); lists are padded with ``-1`` instead.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def tie_break_ranks(n_items: int, random_state: int) -> NDArray[np.int64]:
    """Rank of each item in a fixed random permutation (smaller wins a tie)."""
    perm = np.random.default_rng(random_state).permutation(n_items)
    ranks = np.empty(n_items, dtype=np.int64)
    ranks[perm] = np.arange(n_items, dtype=np.int64)
    return ranks


def topk(
    scores: NDArray[np.floating], k: int, tie_ranks: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Top-``k`` item indices and scores per row, ties broken by ``tie_ranks``.

    Parameters
    ----------
    scores:
        ``(n_rows, n_items)`` scores; ``-inf`` marks excluded items.
    k:
        List length; rows with fewer eligible items are padded with index ``-1`` and score NaN.
    tie_ranks:
        Output of :func:`tie_break_ranks` for ``n_items``.

    Returns
    -------
    items, values:
        ``(n_rows, k)`` arrays.
    """
    n_rows, n_items = scores.shape
    out_items = np.full((n_rows, k), -1, dtype=np.int64)
    out_scores = np.full((n_rows, k), np.nan, dtype=np.float32)
    if n_rows == 0 or n_items == 0 or k <= 0:
        return out_items, out_scores
    kk = min(k, n_items)
    # The k-th largest value is the threshold; every item scoring >= it is a candidate, which
    # includes all items tied at the boundary, so the tie-break is exact.
    part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    threshold = np.take_along_axis(scores, part, axis=1).min(axis=1)
    n_candidates = (scores >= threshold[:, None]).sum(axis=1)
    for row in range(n_rows):
        row_scores = scores[row]
        if n_candidates[row] == kk:
            cand = part[row]
        else:
            cand = np.flatnonzero(row_scores >= threshold[row])
        cand_scores = row_scores[cand]
        cand = cand[np.isfinite(cand_scores) | (cand_scores > 0)]  # drop -inf (and NaN)
        cand_scores = row_scores[cand]
        order = np.lexsort((tie_ranks[cand], -cand_scores))[:kk]
        chosen = cand[order]
        out_items[row, : len(chosen)] = chosen
        out_scores[row, : len(chosen)] = row_scores[chosen]
    return out_items, out_scores
