"""Exact top-k selection with a deterministic, unbiased tie-break.

Items with equal scores are ordered by a fixed random permutation of the items (never by item id,
which would favour items that happen to come first in a file). Items whose score is ``-inf`` are
never returned (that is how filters are applied); lists are padded with ``-1`` instead.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Most scores (rows x items) ranked in one block. Larger blocks are mmap-allocated and handed
#: back to the kernel when freed, so every batch faults its pages in again: on a 100k-item
#: catalogue, 1,024-row blocks (400 MB) ranked 5-10x slower per row than 64-row ones on this
#: project's 2-core machine. 4M float32 scores are 16 MB, under glibc's mmap threshold.
MAX_BLOCK_ELEMENTS = 1 << 22

#: Tied candidates per list slot above which rows are ranked one by one (_top_of_tied_row).
_WIDE_TIES = 16


def block_rows(n_items: int, batch_size: int) -> int:
    """Rows per scoring block: at most ``batch_size`` and at most :data:`MAX_BLOCK_ELEMENTS`
    scores in all (at least one row)."""
    return max(1, min(batch_size, MAX_BLOCK_ELEMENTS // max(n_items, 1)))


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
    if n_rows == 1:
        _top_of_row(scores[0], kk, tie_ranks, out_items[0], out_scores[0])
        return out_items, out_scores
    # The k-th largest value is the threshold; every item scoring >= it is a candidate, which
    # includes all items tied at the boundary, so the tie-break is exact.
    part, part_scores = _partial_top(scores, kk)
    threshold = part_scores.min(axis=1)
    n_candidates = (scores >= threshold[:, None]).sum(axis=1)
    # Fast path (most rows): exactly kk candidates, all finite -> one vectorised lexsort.
    clean = (n_candidates == kk) & np.isfinite(part_scores).all(axis=1)
    if clean.any():
        cand = part[clean]
        cand_scores = part_scores[clean]
        order = np.lexsort((tie_ranks[cand], -cand_scores), axis=-1)
        chosen = np.take_along_axis(cand, order, axis=1)
        out_items[clean, :kk] = chosen
        out_scores[clean, :kk] = np.take_along_axis(cand_scores, order, axis=1)
    # Other rows (ties at the boundary, or excluded -inf items among the top kk): every item
    # scoring >= the threshold, ranked by (score desc, tie rank asc), the first kk kept. One
    # vectorised sort over all such rows; with a popularity model most rows tie at the boundary.
    slow = np.flatnonzero(~clean)
    if slow.size and n_candidates[slow].sum() > _WIDE_TIES * kk * slow.size:
        # Wide ties at the threshold (a sparse model scores most items 0): sorting every tied
        # item of every row costs far more than picking the kk needed ones row by row.
        for i in slow.tolist():
            _top_of_tied_row(scores[i], threshold[i], kk, tie_ranks, out_items[i], out_scores[i])
    elif slow.size:
        sub = scores[slow]
        eligible = (sub >= threshold[slow, None]) & ~np.isneginf(sub)
        rows, cols = np.nonzero(eligible)
        values = sub[rows, cols]
        order = np.lexsort((tie_ranks[cols], -values, rows))
        rows, cols, values = rows[order], cols[order], values[order]
        position = np.arange(len(rows)) - np.searchsorted(rows, rows, side="left")
        keep = position < kk
        out_items[slow[rows[keep]], position[keep]] = cols[keep]
        out_scores[slow[rows[keep]], position[keep]] = values[keep]
    return out_items, out_scores


def _top_of_row(
    row: NDArray[np.floating],
    kk: int,
    tie_ranks: NDArray[np.int64],
    out_items: NDArray[np.int64],
    out_scores: NDArray[np.float32],
) -> None:
    """:func:`topk`'s rule for one row, written into ``out_items`` / ``out_scores``.

    The same threshold and tie-break as the batch path, on 1-D arrays: one list per request
    is what the service ranks, and the batch path's 2-D bookkeeping (``take_along_axis``,
    per-row masks) cost more than the selection itself on a few thousand items.
    """
    part, part_scores = _partial_top(row[None, :], kk)
    part, part_scores = part[0], part_scores[0]
    threshold = part_scores.min()
    if np.isfinite(part_scores).all() and np.count_nonzero(row >= threshold) == kk:
        order = np.lexsort((tie_ranks[part], -part_scores))
        out_items[:kk] = part[order]
        out_scores[:kk] = part_scores[order]
        return
    _top_of_tied_row(row, threshold, kk, tie_ranks, out_items, out_scores)


def _top_of_tied_row(
    row: NDArray[np.floating],
    threshold: np.floating | float,
    kk: int,
    tie_ranks: NDArray[np.int64],
    out_items: NDArray[np.int64],
    out_scores: NDArray[np.float32],
) -> None:
    """A row with ties at its ``threshold`` (the kk-th largest score) or excluded (-inf)
    items among its top: every eligible item scoring >= the threshold, by (score desc, tie
    rank asc), the first kk kept.

    Fewer than kk items score above the threshold; of the items tied at it, only the ones with
    the smallest tie ranks can make the list, so they are picked with a partition instead of
    sorting every tied item (thousands when a sparse model scores most items 0).
    """
    above = np.flatnonzero(row > threshold)
    # -inf marks an excluded item: tied at a -inf threshold is not eligible.
    tied = np.flatnonzero(row == threshold) if threshold != -np.inf else above[:0]
    need = kk - len(above)
    if need <= 0:
        tied = tied[:0]
    elif len(tied) > need:
        tied = tied[np.argpartition(tie_ranks[tied], need - 1)[:need]]
    cols = np.concatenate([above, tied])
    values = row[cols]
    order = np.lexsort((tie_ranks[cols], -values))[:kk]
    out_items[: len(order)] = cols[order]
    out_scores[: len(order)] = values[order]


def _partial_top(
    scores: NDArray[np.floating], kk: int
) -> tuple[NDArray[np.int64], NDArray[np.floating]]:
    """Some ``kk`` largest entries per row (order and tie choice unspecified).

    torch.topk is several times faster than numpy's argpartition on wide rows; only the values
    matter for exactness, because every item tied at the threshold is re-examined afterwards.
    """
    import torch

    values, indices = torch.topk(torch.from_numpy(np.ascontiguousarray(scores)), kk, dim=1)
    return indices.numpy().astype(np.int64), values.numpy()
