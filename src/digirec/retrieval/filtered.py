"""Top-k item retrieval by vector similarity with business filters.

:class:`ItemIndex` is the one interface the service uses to find the best items for query vectors
(user factors, a session embedding, a search query): ``search(queries, k, allowed=...,
exclude_per_row=...)``. Two implementations:

* :class:`ExactIndex` -- a brute-force matrix product plus :func:`digirec.retrieval.topk.topk`.
  Exact, deterministic (ties by a fixed random permutation, never by id) and fast enough for
  catalogues up to some tens of thousands of items;
* :class:`digirec.retrieval.ann.FaissIndex` -- an approximate FAISS index (IVF-flat or HNSW) for
  large catalogues, behind the ``ann`` extra.

Both give the same guarantees: an item outside ``allowed`` or in the row's exclusions is never
returned, and a row holds ``k`` items whenever at least ``k`` items qualify (shorter rows are
padded with index ``-1`` and score NaN). :func:`make_index` picks one by catalogue size.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from digirec.exceptions import ConfigError, MissingExtraError
from digirec.retrieval.topk import tie_break_ranks, topk

__all__ = ["ExactIndex", "ItemIndex", "Metric", "make_index", "single_thread_blas"]

Metric = Literal["ip", "cosine"]
IdxMatrix = NDArray[np.int64]
ScoreMatrix = NDArray[np.float32]

#: Scores computed at once by the exact index (rows x items), bounding its temporary memory
#: to about 64 MB of float32.
_SCORE_BUDGET = 16_000_000

#: Filters keeping less than this share of the items are scored on the allowed subset only.
_SUBSET_SHARE = 0.2


def _unit_rows(x: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit: NDArray[np.float32] = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return unit


class ItemIndex(ABC):
    """Find the ``k`` items whose vectors score highest against query vectors.

    The score is the inner product (``metric="ip"``: matrix-factorisation and two-tower models)
    or the cosine (``metric="cosine"``: text and image embeddings); cosine indexes store unit
    vectors and normalise every query.

    Attributes
    ----------
    n_items, dim:
        Shape of the indexed item matrix.
    metric:
        ``"ip"`` or ``"cosine"``.
    """

    #: Short name reported by the service (``"exact"``, ``"faiss-ivf"``, ``"faiss-hnsw"``).
    name: str = "index"

    def __init__(self, item_vectors: ArrayLike, metric: Metric = "ip") -> None:
        if metric not in ("ip", "cosine"):
            raise ConfigError(f"metric must be 'ip' or 'cosine', got {metric!r}")
        vectors = np.ascontiguousarray(item_vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] == 0 or vectors.shape[1] == 0:
            raise ConfigError(f"item_vectors must be a non-empty 2-D array, got {vectors.shape}")
        if not np.isfinite(vectors).all():
            raise ConfigError("item_vectors must be finite")
        self.metric: Metric = metric
        self.vectors: NDArray[np.float32] = _unit_rows(vectors) if metric == "cosine" else vectors

    @property
    def n_items(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    # ------------------------------------------------------------------ public API
    def search(
        self,
        query_vectors: ArrayLike,
        k: int,
        *,
        allowed: NDArray[np.bool_] | None = None,
        exclude_per_row: Sequence[ArrayLike | None] | None = None,
    ) -> tuple[IdxMatrix, ScoreMatrix]:
        """Top-``k`` items per query row.

        Parameters
        ----------
        query_vectors:
            ``(n_rows, dim)`` (or one ``(dim,)`` vector, treated as one row).
        k:
            Items per row (``>= 1``).
        allowed:
            Boolean mask over items: only these may be returned (category, price, stock
            filters). ``None`` allows every item.
        exclude_per_row:
            One array of item indices per row that must not be returned for that row (the
            user's seen items, the query item itself), or ``None`` entries.

        Returns
        -------
        idx, scores:
            ``(n_rows, k)`` int64 item indices, best first, and their float32 scores. A row
            shorter than ``k`` (fewer qualifying items) is padded with ``-1`` and NaN.
        """
        queries = self._check_queries(query_vectors)
        k = _check_k(k)
        allowed = self._check_allowed(allowed)
        excludes = self._check_excludes(exclude_per_row, queries.shape[0])
        if queries.shape[0] == 0:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        return self._search(queries, k, allowed, excludes)

    @abstractmethod
    def _search(
        self,
        queries: NDArray[np.float32],
        k: int,
        allowed: NDArray[np.bool_] | None,
        excludes: list[NDArray[np.int64]],
    ) -> tuple[IdxMatrix, ScoreMatrix]:
        """Search with validated inputs (queries already normalised for cosine)."""

    # ------------------------------------------------------------------ validation
    def _check_queries(self, query_vectors: ArrayLike) -> NDArray[np.float32]:
        queries = np.asarray(query_vectors, dtype=np.float32)
        if queries.ndim == 1:
            queries = queries[None, :]
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ConfigError(
                f"query_vectors must have shape (n, {self.dim}), got {np.shape(query_vectors)}"
            )
        if not np.isfinite(queries).all():
            raise ConfigError("query_vectors must be finite")
        queries = np.ascontiguousarray(queries)
        return _unit_rows(queries) if self.metric == "cosine" else queries

    def _check_allowed(self, allowed: NDArray[np.bool_] | None) -> NDArray[np.bool_] | None:
        if allowed is None:
            return None
        mask = np.asarray(allowed)
        if mask.dtype != np.bool_ or mask.shape != (self.n_items,):
            raise ConfigError(f"allowed must be a boolean mask of shape ({self.n_items},)")
        return mask

    def _check_excludes(
        self, exclude_per_row: Sequence[ArrayLike | None] | None, n_rows: int
    ) -> list[NDArray[np.int64]]:
        empty = np.zeros(0, dtype=np.int64)
        if exclude_per_row is None:
            return [empty] * n_rows
        if len(exclude_per_row) != n_rows:
            raise ConfigError(
                f"exclude_per_row has {len(exclude_per_row)} entries for {n_rows} query rows"
            )
        out = []
        for row in exclude_per_row:
            if row is None:
                out.append(empty)
                continue
            ex = np.unique(np.asarray(row, dtype=np.int64).ravel())
            if ex.size and (ex[0] < 0 or ex[-1] >= self.n_items):
                raise ConfigError(f"exclude_per_row holds indices outside [0, {self.n_items})")
            out.append(ex)
        return out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_items={self.n_items}, dim={self.dim}, metric={self.metric!r})"
        )


class ExactIndex(ItemIndex):
    """Brute-force top-k: every allowed item is scored.

    When the filter keeps less than a fifth of the catalogue only those items are scored, so
    restrictive filters make the search faster, not slower.

    Parameters
    ----------
    item_vectors:
        ``(n_items, dim)`` item vectors; row ``i`` is ``item_idx == i``.
    metric:
        ``"ip"`` (inner product) or ``"cosine"``.
    random_state:
        Seeds the fixed permutation that orders equally scored items.
    """

    name = "exact"

    def __init__(
        self, item_vectors: ArrayLike, metric: Metric = "ip", *, random_state: int = 0
    ) -> None:
        super().__init__(item_vectors, metric)
        self.tie_ranks = tie_break_ranks(self.n_items, random_state)

    def _search(
        self,
        queries: NDArray[np.float32],
        k: int,
        allowed: NDArray[np.bool_] | None,
        excludes: list[NDArray[np.int64]],
    ) -> tuple[IdxMatrix, ScoreMatrix]:
        n_rows = queries.shape[0]
        out_idx = np.full((n_rows, k), -1, dtype=np.int64)
        out_scores = np.full((n_rows, k), np.nan, dtype=np.float32)
        subset: NDArray[np.int64] | None = None
        vectors, tie_ranks = self.vectors, self.tie_ranks
        blocked: NDArray[np.int64] | None = None
        if allowed is not None and np.count_nonzero(allowed) < _SUBSET_SHARE * self.n_items:
            # Score only the allowed items: gathering a small subset is cheaper than scoring
            # and masking all (the gather costs about twice a streamed product per item).
            subset = np.flatnonzero(allowed).astype(np.int64)
            vectors, tie_ranks = self.vectors[subset], self.tie_ranks[subset]
            if subset.size == 0:
                return out_idx, out_scores
        elif allowed is not None:
            # Integer indices of the blocked items: 4-5x faster to assign than a boolean mask.
            blocked = np.flatnonzero(~allowed)
        n_cols = vectors.shape[0]
        chunk = max(1, _SCORE_BUDGET // n_cols)
        for start in range(0, n_rows, chunk):
            stop = min(start + chunk, n_rows)
            scores = queries[start:stop] @ vectors.T
            if blocked is not None:
                scores[:, blocked] = -np.inf
            for row in range(start, stop):
                cols = excludes[row]
                if cols.size == 0:
                    continue
                if subset is not None:
                    # Map catalogue indices to positions in the (sorted) subset.
                    pos = np.minimum(np.searchsorted(subset, cols), subset.size - 1)
                    cols = pos[subset[pos] == cols]
                scores[row - start, cols] = -np.inf
            idx, vals = topk(scores, k, tie_ranks)
            if subset is not None:
                idx = np.where(idx >= 0, subset[np.maximum(idx, 0)], -1)
            out_idx[start:stop] = idx
            out_scores[start:stop] = vals
        return out_idx, out_scores


def make_index(
    item_vectors: ArrayLike,
    *,
    metric: Metric = "ip",
    exact_threshold: int = 50_000,
    random_state: int = 0,
    **faiss_params: Any,
) -> ItemIndex:
    """An exact index for small catalogues, a FAISS index for large ones.

    Parameters
    ----------
    item_vectors:
        ``(n_items, dim)`` item vectors.
    metric:
        ``"ip"`` or ``"cosine"``.
    exact_threshold:
        Catalogues with fewer items get :class:`ExactIndex` (brute force over 50,000 64-d items
        takes about a millisecond per query: an approximate index buys little below that).
    random_state:
        Seed of the tie-break (exact) or of training and calibration (FAISS).
    **faiss_params:
        Passed to :class:`digirec.retrieval.ann.FaissIndex` (``kind``, ``nlist``, ``nprobe`` ...).

    Returns
    -------
    ItemIndex
        Its :attr:`~ItemIndex.name` says which one was built. When a large catalogue meets a
        missing ``faiss-cpu``, a :class:`RuntimeWarning` is issued and the exact index is used:
        slower, never wrong.
    """
    vectors = np.asarray(item_vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ConfigError(f"item_vectors must be 2-D, got shape {vectors.shape}")
    if vectors.shape[0] < exact_threshold:
        return ExactIndex(vectors, metric, random_state=random_state)
    from digirec.retrieval.ann import FaissIndex

    try:
        return FaissIndex(vectors, metric, random_state=random_state, **faiss_params)
    except MissingExtraError as exc:
        warnings.warn(
            f"{exc}; using exact search over {vectors.shape[0]} items instead",
            RuntimeWarning,
            stacklevel=2,
        )
        return ExactIndex(vectors, metric, random_state=random_state)


_CONTROLLER: Any = None


def single_thread_blas() -> Any:
    """Context manager limiting BLAS to one thread, for request-sized products.

    A multi-threaded BLAS wakes its pool even for a ``(50 x 64) @ (64 x n_items)`` product and,
    on a busy server (or a CI box running several test processes), spends 10-100x the work
    waiting for cores; one thread is faster for the work of one request. The controller is
    built once (building it scans the loaded libraries, about a millisecond); entering the
    limit costs about 0.1 ms.
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def _check_k(k: int) -> int:
    if not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    return int(k)
