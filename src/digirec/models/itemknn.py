"""Item-based nearest neighbours (ItemKNN) with shrunk cosine similarity.

Two items are similar when the same users interacted with both. The similarity matrix is kept
sparse (``n_neighbors`` per item) and the co-occurrences behind it are formed block by block,
so memory stays ``O(n_items x n_neighbors)`` at any catalogue size; scoring is one sparse
product ``X @ S``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import Field

from digirec.data.dataset import Dataset
from digirec.models.base import FloatMatrix, IdxArray, ModelConfig, Recommender


class ItemKNNConfig(ModelConfig):
    """Configuration of :class:`ItemKNNModel`.

    Attributes
    ----------
    n_neighbors:
        Similar items kept per item (the largest similarities); the rest are set to 0.
    shrink:
        Shrinkage ``h`` in ``sim(i, j) = x_i . x_j / (|x_i| |x_j| + h)``: it pulls similarities
        supported by few common users towards 0. ``0`` gives plain cosine.
    binary:
        Train on the interaction weights (``False``, the default: a purchase counts more than a
        view, see ``--event-weights``) or on the binary user-item matrix (``True``: every
        observed pair counts 1). With all weights 1 (rating data sets) the two are identical.
    random_state:
        Seeds the tie-break between equally scored items.
    """

    n_neighbors: int = Field(100, ge=1, description="Neighbours kept per item.")
    shrink: float = Field(10.0, ge=0, description="Shrinkage added to the cosine denominator.")
    binary: bool = Field(
        False, description="Weighted by the event weights (False) or binary (True) matrix."
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
    """

    name: ClassVar[str] = "itemknn"
    user_arrays: ClassVar[tuple[str, ...]] = ("user_items_",)
    config_class: ClassVar[type[ModelConfig]] = ItemKNNConfig
    supports_history: ClassVar[bool] = True
    config: ItemKNNConfig

    similarity_: sp.csr_matrix
    user_items_: sp.csr_matrix | None

    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        del valid
        matrix = dataset.user_item_matrix(binary=self.config.binary)
        self.user_items_ = None if self.config.binary else matrix
        self.similarity_ = cosine_similarity(matrix, self.config.shrink, self.config.n_neighbors)

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


def cosine_similarity(
    matrix: sp.csr_matrix,
    shrink: float,
    n_neighbors: int,
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
        deterministic). The diagonal is always 0.
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
    # Row i of XᵀX has at most sum_{u in users(i)} |items(u)| entries: an exact upper bound
    # per row that sizes the blocks without forming anything.
    user_lengths = np.diff(sp.csr_matrix(matrix).indptr).astype(np.float64)
    row_bound = (items_by_users != 0).astype(np.float64) @ user_lengths
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
        keep = top_per_row(rows, cols, values, n_neighbors) & (values != 0)
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
