"""Item-based nearest neighbours (ItemKNN) with shrunk cosine similarity.

Two items are similar when the same users interacted with both. The similarity matrix is kept
sparse (``n_neighbors`` per item) and the co-occurrences behind it are formed block by block,
so memory stays ``O(n_items x n_neighbors)`` at any catalogue size; scoring is one sparse
product ``X @ S``.

``n_neighbors=None`` keeps every co-occurring item (no pruning: the natural top of the
neighbourhood size). Whatever ``n_neighbors`` asks for, the kept entries are bounded by the
memory budget (:func:`digirec.memory.memory_budget_bytes`): when ``n_items x n_neighbors``
entries might not fit, each row keeps as many as fit, and ``fit_info_`` records it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import Field

from digirec.data.dataset import Dataset
from digirec.memory import format_bytes, memory_budget_bytes
from digirec.models.base import FloatMatrix, IdxArray, ModelConfig, Recommender

logger = logging.getLogger(__name__)

#: Peak bytes per kept similarity entry while the CSR is assembled: int64 row and column, the
#: float32 value, and the CSR's own int32 index and float32 value (the COO copies are freed).
BYTES_PER_KEPT_ENTRY = 32


class ItemKNNConfig(ModelConfig):
    """Configuration of :class:`ItemKNNModel`.

    Attributes
    ----------
    n_neighbors:
        Similar items kept per item (the largest similarities); the rest are set to 0.
        ``None`` keeps every co-occurring item (bounded only by the memory budget).
    shrink:
        Shrinkage ``h`` in ``sim(i, j) = x_i . x_j / (|x_i| |x_j| + h)``: it pulls similarities
        supported by few common users towards 0. ``0`` gives plain cosine.
    binary:
        Train on the interaction weights (``False``, the default: a purchase counts more than a
        view, see ``--event-weights``) or on the binary user-item matrix (``True``: every
        observed pair counts 1). With all weights 1 (rating data sets) the two are identical.
    max_memory_gb:
        Budget for the kept similarity entries (``None``: ``DIGIREC_MAX_MEMORY_GB``, then the
        machine). Past it each item keeps fewer neighbours than asked (``fit_info_``).
    random_state:
        Seeds the tie-break between equally scored items.
    """

    n_neighbors: int | None = Field(
        100, ge=1, description="Neighbours kept per item (None: every co-occurring item)."
    )
    shrink: float = Field(10.0, ge=0, description="Shrinkage added to the cosine denominator.")
    binary: bool = Field(
        False, description="Weighted by the event weights (False) or binary (True) matrix."
    )
    max_memory_gb: float | None = Field(
        None, gt=0, description="Memory budget of the similarity (None: env, then machine)."
    )


class ItemKNNModel(Recommender):
    """Item-item collaborative filtering.

    ``S`` is the shrunk cosine similarity between item columns of the user-item matrix ``X``,
    with a zero diagonal, pruned to the ``n_neighbors`` largest entries of each row. Row ``j`` of
    ``S`` lists the neighbours of item ``j``; a user's scores are ``x_u @ S``: every item in the
    history votes for its neighbours. Histories are scored the same way and ``similar_items(j)``
    is row ``j`` of ``S``.

    Attributes
    ----------
    similarity_:
        ``(n_items, n_items)`` float32 CSR similarity matrix.
    user_items_:
        The weighted training matrix when ``binary=False`` (saved with the model, because
        scoring known users needs it); ``None`` when ``binary=True`` (the base's ``seen_`` is it).
    fit_info_:
        The neighbours kept per item (``n_neighbors_kept``; ``None``: all), whether the memory
        budget lowered it (``capped_by_memory``), the number of kept entries and the budget.
    """

    name: ClassVar[str] = "itemknn"
    user_arrays: ClassVar[tuple[str, ...]] = ("user_items_",)
    config_class: ClassVar[type[ModelConfig]] = ItemKNNConfig
    supports_history: ClassVar[bool] = True
    config: ItemKNNConfig

    similarity_: sp.csr_matrix
    user_items_: sp.csr_matrix | None
    fit_info_: dict[str, Any]

    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        del valid
        cfg = self.config
        matrix = dataset.user_item_matrix(binary=cfg.binary)
        self.user_items_ = None if cfg.binary else matrix
        n_items = matrix.shape[1]
        budget = memory_budget_bytes(cfg.max_memory_gb)
        kept = neighbours_within_budget(cooccurrence_row_bounds(matrix), cfg.n_neighbors, budget)
        capped = kept is not None and (cfg.n_neighbors is None or kept < cfg.n_neighbors)
        if capped:
            logger.warning(
                "itemknn: %s neighbours per item on %d items might exceed the %s memory "
                "budget: keeping at most %d per item",
                "all" if cfg.n_neighbors is None else cfg.n_neighbors,
                n_items,
                format_bytes(budget),
                kept,
            )
        self.similarity_ = cosine_similarity(matrix, cfg.shrink, kept)
        self.fit_info_ = {
            "n_neighbors_kept": kept,
            "capped_by_memory": capped,
            "n_entries": int(self.similarity_.nnz),
            "memory_budget_bytes": int(min(budget, 2**53)),
        }

    @property
    def uses_weights(self) -> bool:
        return not self.config.binary

    def _user_matrix(self) -> sp.csr_matrix:
        return self.seen_ if self.user_items_ is None else self.user_items_

    def _score_histories(self, histories: sp.csr_matrix) -> FloatMatrix:
        return np.asarray((histories @ self.similarity_).todense(), dtype=np.float32)

    def _score_users(self, user_idx: IdxArray) -> FloatMatrix:
        return self._score_histories(self._user_matrix()[user_idx])

    def _similar_scores(self, item_idx: IdxArray) -> FloatMatrix:
        return np.asarray(self.similarity_[item_idx].todense(), dtype=np.float32)

    def _get_state(self) -> dict[str, NDArray[Any]]:
        state = csr_to_state("similarity", self.similarity_)
        if self.user_items_ is not None:
            state.update(csr_to_state("user_items", self.user_items_))
        return state

    def _set_state(self, state: Mapping[str, NDArray[Any]]) -> None:
        # is_fitted is set after _set_state, so read the sizes from the maps directly.
        n_users, n_items = len(self.user_map_), len(self.item_map_)
        shape = (n_items, n_items)
        self.similarity_ = csr_from_state("similarity", state, shape)
        self.user_items_ = None
        if not self.config.binary:
            self.user_items_ = csr_from_state("user_items", state, (n_users, n_items))


def cooccurrence_row_bounds(matrix: sp.csr_matrix) -> NDArray[np.float64]:
    """Per item, an upper bound on its co-occurring items: ``sum_{u in users(i)} |items(u)|``
    (exact up to repeated pairs), computed without forming ``XᵀX``."""
    csr = sp.csr_matrix(matrix)
    user_lengths = np.diff(csr.indptr).astype(np.float64)
    items_by_users = sp.csr_matrix(sp.csc_matrix(csr).T)
    return np.asarray((items_by_users != 0).astype(np.float64) @ user_lengths).ravel()


def neighbours_within_budget(
    row_bounds: NDArray[np.float64], n_neighbors: int | None, budget_bytes: int
) -> int | None:
    """The neighbours each item may keep within ``budget_bytes``.

    ``n_neighbors`` (``None``: all) when the rows, each at most ``min(row bound, n_items - 1,
    n_neighbors)`` entries, fit the budget at :data:`BYTES_PER_KEPT_ENTRY` each; otherwise the
    largest per-row cap (at least 1) whose bound fits. ``None`` means no pruning.
    """
    n_items = len(row_bounds)
    bounds = np.minimum(row_bounds, max(n_items - 1, 0))

    def need(cap: float) -> float:
        return float(np.minimum(bounds, cap).sum()) * BYTES_PER_KEPT_ENTRY

    if need(np.inf if n_neighbors is None else n_neighbors) <= budget_bytes:
        return n_neighbors
    lo, hi = 1, int(bounds.max()) if n_items else 1
    while lo < hi:  # largest cap in [1, hi] whose bound fits (need is monotone in the cap)
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if need(mid) <= budget_bytes else (lo, mid - 1)
    return lo


def cosine_similarity(
    matrix: sp.csr_matrix,
    shrink: float,
    n_neighbors: int | None,
    *,
    block_entries: int | None = None,
) -> sp.csr_matrix:
    """Shrunk cosine similarity between the columns of ``matrix``, top ``n_neighbors`` per row.

    Parameters
    ----------
    matrix:
        ``(n_users, n_items)`` sparse matrix.
    shrink:
        Added to the product of norms in the denominator.
    n_neighbors:
        Entries kept per row (largest first; ties by column index, so the result is
        deterministic); ``None`` keeps every non-zero entry. The diagonal is always 0.
    block_entries:
        Upper bound on the co-occurrence entries formed at once (default
        :data:`BLOCK_ENTRIES`). The co-occurrence matrix ``XᵀX`` is never built whole: it is
        formed for blocks of item rows, each pruned to its top ``n_neighbors`` before the next,
        so memory is ``O(block_entries + n_items x n_neighbors)`` however dense ``XᵀX`` is
        (a shop with 1M users and 10M events has ~10⁸ co-occurring pairs). Every row is
        computed exactly as in one block, so the result does not depend on the blocking.

    Returns
    -------
    ``(n_items, n_items)`` float32 CSR matrix.
    """
    csc = sp.csc_matrix(matrix, dtype=np.float64)
    items_by_users = sp.csr_matrix(csc.T)
    n_items = matrix.shape[1]
    norms = np.sqrt(np.asarray(csc.multiply(csc).sum(axis=0)).ravel())
    # Row i of XᵀX has at most this many entries: sizes the blocks without forming anything.
    row_bound = cooccurrence_row_bounds(matrix)
    limit = BLOCK_ENTRIES if block_entries is None else max(int(block_entries), 1)
    out_rows: list[NDArray[np.int64]] = []
    out_cols: list[NDArray[np.int64]] = []
    out_vals: list[NDArray[np.float32]] = []
    for lo, hi in _row_blocks(row_bound, limit):
        # Co-occurrences in float64 for item rows lo..hi-1 only.
        cooc = (items_by_users[lo:hi] @ csc).tocoo()
        rows = cooc.row.astype(np.int64) + lo
        cols = cooc.col.astype(np.int64)
        off_diag = rows != cols
        rows, cols, data = rows[off_diag], cols[off_diag], cooc.data[off_diag]
        del cooc
        denom = norms[rows] * norms[cols] + shrink
        values = np.divide(data, denom, out=np.zeros(len(rows)), where=denom > 0)
        keep = values != 0
        if n_neighbors is not None:
            keep &= top_per_row(rows, cols, values, n_neighbors)
        out_rows.append(rows[keep])
        out_cols.append(cols[keep])
        out_vals.append(values[keep].astype(np.float32))
    result = sp.csr_matrix(
        (
            np.concatenate(out_vals) if out_vals else np.zeros(0, np.float32),
            (
                np.concatenate(out_rows) if out_rows else np.zeros(0, np.int64),
                np.concatenate(out_cols) if out_cols else np.zeros(0, np.int64),
            ),
        ),
        shape=(n_items, n_items),
        dtype=np.float32,
    )
    result.sort_indices()
    return result


#: Default bound on the co-occurrence entries :func:`cosine_similarity` forms at once
#: (about 0.4 GB of temporaries: ~100 bytes per entry across the COO arrays, int64 copies,
#: the shrunk values and the per-row sort).
BLOCK_ENTRIES = 4_000_000


def _row_blocks(row_bound: NDArray[np.float64], limit: int) -> list[tuple[int, int]]:
    """Consecutive ``[lo, hi)`` row ranges whose summed bound stays within ``limit``.

    A single row above ``limit`` gets a block of its own (it cannot be split).
    """
    blocks: list[tuple[int, int]] = []
    lo, total = 0, 0.0
    for i, bound in enumerate(row_bound.tolist()):
        if i > lo and total + bound > limit:
            blocks.append((lo, i))
            lo, total = i, 0.0
        total += bound
    if lo < len(row_bound):
        blocks.append((lo, len(row_bound)))
    return blocks


def top_per_row(
    rows: NDArray[np.integer[Any]],
    cols: NDArray[np.integer[Any]],
    values: NDArray[np.float64],
    n: int,
) -> NDArray[np.bool_]:
    """Mask of the ``n`` largest values within each row (ties by column; one lexsort)."""
    if len(rows) == 0:
        return np.zeros(0, dtype=bool)
    order = np.lexsort((cols, -values, rows))
    sorted_rows = rows[order]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    lengths = np.diff(np.r_[starts, len(order)])
    position = np.arange(len(order)) - np.repeat(starts, lengths)
    mask = np.zeros(len(rows), dtype=bool)
    mask[order[position < n]] = True
    return mask


# ---------------------------------------------------------------------- sparse state helpers
def csr_to_state(prefix: str, matrix: sp.csr_matrix) -> dict[str, NDArray[Any]]:
    """A CSR matrix as plain arrays for :meth:`Recommender.save` (no pickling)."""
    csr = sp.csr_matrix(matrix)
    return {
        f"{prefix}_data": csr.data,
        f"{prefix}_indices": csr.indices,
        f"{prefix}_indptr": csr.indptr,
    }


def csr_from_state(
    prefix: str, state: Mapping[str, NDArray[Any]], shape: tuple[int, int]
) -> sp.csr_matrix:
    """Inverse of :func:`csr_to_state`."""
    return sp.csr_matrix(
        (
            np.asarray(state[f"{prefix}_data"], dtype=np.float32),
            state[f"{prefix}_indices"],
            state[f"{prefix}_indptr"],
        ),
        shape=shape,
    )
