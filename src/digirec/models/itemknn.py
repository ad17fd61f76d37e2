"""Item-based nearest neighbours (ItemKNN) with shrunk cosine similarity.

Two items are similar when the same users interacted with both. The similarity matrix is kept
sparse (``n_neighbors`` per item), so fitting on tens of thousands of users and items takes
seconds and scoring is one sparse product ``X @ S``.
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
        Use the binary user-item matrix (``True``) or the interaction weights (``False``).
    random_state:
        Seeds the tie-break between equally scored items.
    """

    n_neighbors: int = Field(100, ge=1, description="Neighbours kept per item.")
    shrink: float = Field(10.0, ge=0, description="Shrinkage added to the cosine denominator.")
    binary: bool = Field(True, description="Binary (True) or weighted (False) user-item matrix.")


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


def cosine_similarity(matrix: sp.csr_matrix, shrink: float, n_neighbors: int) -> sp.csr_matrix:
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

    Returns
    -------
    ``(n_items, n_items)`` float32 CSR matrix.
    """
    csc = sp.csc_matrix(matrix, dtype=np.float64)
    # Co-occurrences in float64: the only O(nnz(XᵀX)) object; it stays sparse.
    cooc = (csc.T @ csc).tocoo()
    norms = np.sqrt(np.asarray(csc.multiply(csc).sum(axis=0)).ravel())
    off_diag = cooc.row != cooc.col
    rows, cols = cooc.row[off_diag], cooc.col[off_diag]
    denom = norms[rows] * norms[cols] + shrink
    values = np.divide(cooc.data[off_diag], denom, out=np.zeros(len(rows)), where=denom > 0)
    keep = _top_per_row(rows, cols, values, n_neighbors) & (values != 0)
    n_items = matrix.shape[1]
    result = sp.csr_matrix(
        (values[keep].astype(np.float32), (rows[keep], cols[keep])), shape=(n_items, n_items)
    )
    result.sort_indices()
    return result


def _top_per_row(
    rows: NDArray[np.int32], cols: NDArray[np.int32], values: NDArray[np.float64], n: int
) -> NDArray[np.bool_]:
    """Mask of the ``n`` largest values within each row (vectorised: one lexsort)."""
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
