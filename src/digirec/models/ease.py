"""EASE: embarrassingly shallow autoencoder (Steck, WWW 2019).

A linear item-item model ``X ≈ X B`` with ``diag(B) = 0``, fitted in closed form:

    G = XᵀX + λI,   P = G⁻¹,   B_ij = -P_ij / P_jj  (i ≠ j),   B_jj = 0.

Column ``j`` of ``B`` is the ridge regression of item ``j``'s column of ``X`` on all other
columns, which is what the scalable variant below restricts.

Memory and the variants (chosen in ``fit``, recorded in ``variant_`` and ``fit_info_``)
----------------------------------------------------------------------------------------
The inverse is dense ``n_items x n_items``. The factorisation runs in torch (MKL / its own
LAPACK), not in the OpenBLAS that scipy and numpy ship: that OpenBLAS segfaults in ``dpotrf`` on
Gram matrices of ~16k items and more when it runs on 2 threads. Peak memory while fitting is two
dense ``n_items²`` arrays of the working precision, then the float32 ``B`` stays.

- ``dense-float64``: exact, when ``2 n² x 8`` bytes fit the memory budget
  (:func:`digirec.memory.memory_budget_bytes`);
- ``dense-float32``: exact in single precision when only ``2 n² x 4`` bytes fit (scores agree
  with float64 to ~1e-5 on MovieLens-100K);
- ``head+neighbours``: when not even that fits (or ``max_dense_items`` is smaller than the
  catalogue) and ``allow_approximate`` is set: dense EASE on the ``N`` most popular items, ``N``
  as large as the budget allows, and for every other item ``j`` the same ridge regression
  restricted to its ``n_neighbors`` most co-occurring items ``N_j``:
  ``B[N_j, j] = (G[N_j, N_j] + λI)⁻¹ G[N_j, j]`` (a sparse column). Head columns keep the exact
  EASE of the head sub-catalogue; tail items are scored on the same scale (same regression,
  same ``λ``), so head and tail compete in one ranking.

Without ``allow_approximate`` a catalogue too big for the budget raises
:class:`~digirec.exceptions.MemoryBudgetError`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import ConfigDict, Field

from digirec.data.dataset import Dataset
from digirec.exceptions import ConfigError
from digirec.memory import check_allocation, dense_bytes, format_bytes, memory_budget_bytes
from digirec.models.base import FloatMatrix, IdxArray, ModelConfig, Recommender
from digirec.models.itemknn import csr_from_state, csr_to_state

logger = logging.getLogger(__name__)

#: The fitted variants (``EASEModel.variant_``).
DENSE_FLOAT64 = "dense-float64"
DENSE_FLOAT32 = "dense-float32"
HEAD_NEIGHBOURS = "head+neighbours"

#: Dense ``n²`` arrays alive at the peak of the exact fit (Gram / factor, factor / inverse).
_DENSE_COPIES = 2.0

#: Neighbourhood systems solved together in the tail fit; bounds the gathered Gram block to
#: about ``_TAIL_BLOCK_ENTRIES`` entries.
_TAIL_BLOCK_ENTRIES = 4096


class EASEConfig(ModelConfig):
    """Configuration of :class:`EASEModel`.

    The L2 strength is called ``lambda`` in configs, files and on the command line
    (``{"ease": {"lambda": 300}}``); in Python it is the attribute ``lambda_`` because
    ``lambda`` is a keyword. Both names are accepted on input; :meth:`EASEModel.get_config`
    writes ``lambda``.

    Attributes
    ----------
    lambda_:
        L2 regularisation ``λ`` added to the diagonal of the Gram matrix (> 0). Larger values
        shrink the weights and favour popular items less sharply; typical values are 10..1000.
    binary:
        Train on the interaction weights (``False``, the default: a purchase counts more than a
        view, see ``--event-weights``) or on the binary user-item matrix (``True``: every
        observed pair counts 1). With all weights 1 (rating data sets) the two are identical.
    max_memory_gb:
        Memory the dense fit may plan to use; ``None``: ``DIGIREC_MAX_MEMORY_GB``, else 70% of
        the memory available when ``fit`` starts.
    allow_approximate:
        When the exact fit does not fit the budget: fit the ``head+neighbours`` variant
        (``True``) or raise :class:`~digirec.exceptions.MemoryBudgetError` (``False``).
    max_dense_items:
        Upper bound on the items of the dense block (``None``: only the memory budget bounds
        it). Smaller than the catalogue forces the ``head+neighbours`` variant.
    n_neighbors:
        Regressors per tail item in the ``head+neighbours`` variant.
    random_state:
        Seeds the tie-break between equally scored items (the fit itself is deterministic).
    """

    model_config = ConfigDict(
        extra="forbid", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    lambda_: float = Field(100.0, alias="lambda", gt=0, description="L2 regularisation λ.")
    binary: bool = Field(
        False, description="Weighted by the event weights (False) or binary (True) matrix."
    )
    max_memory_gb: float | None = Field(
        None, gt=0, description="Memory budget of the dense fit (None: env, then machine)."
    )
    allow_approximate: bool = Field(
        True, description="Switch to head+neighbours past the budget (False: raise)."
    )
    max_dense_items: int | None = Field(
        None, ge=1, description="Most items in the dense block (None: the budget decides)."
    )
    n_neighbors: int = Field(100, ge=1, description="Regressors per tail item (approximate).")


class EASEModel(Recommender):
    """Closed-form item-item linear model (EASE).

    Scores are ``x_u @ B`` for known users (their training row) and for histories alike;
    ``similar_items(j)`` is row ``j`` of ``B`` (how much item ``j`` in a history raises each
    other item).

    Attributes
    ----------
    weights_:
        ``(n_dense, n_dense)`` float32 matrix ``B`` among the items in ``dense_items_``, with a
        zero diagonal (all items in the exact variants).
    dense_items_:
        Item indices of the dense block (sorted; ``arange(n_items)`` when exact).
    tail_weights_:
        ``(n_items, n_items)`` float32 CSR with the sparse columns of the items outside the
        dense block (``None`` when exact).
    variant_:
        ``"dense-float64"``, ``"dense-float32"`` or ``"head+neighbours"`` (module docstring).
    fit_info_:
        What the fit chose and why (variant, dense items, estimated peak, budget), for logs
        and the benchmark JSON.
    user_items_:
        The weighted training matrix when ``binary=False`` (needed to score known users and saved
        with the model); ``None`` when ``binary=True`` (the base's ``seen_`` is it).
    """

    name: ClassVar[str] = "ease"
    # A privacy deletion zeroes the user's weighted training row too (binary=False).
    user_arrays: ClassVar[tuple[str, ...]] = ("user_items_",)
    config_class: ClassVar[type[ModelConfig]] = EASEConfig
    supports_history: ClassVar[bool] = True
    config: EASEConfig

    weights_: NDArray[np.float32]
    dense_items_: IdxArray
    tail_weights_: sp.csr_matrix | None
    variant_: str
    fit_info_: dict[str, Any]
    user_items_: sp.csr_matrix | None

    def get_config(self) -> dict[str, Any]:
        """The resolved configuration, with the regulariser under its public name ``lambda``."""
        return self.config.model_dump(mode="json", by_alias=True)

    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        del valid
        cfg = self.config
        matrix = dataset.user_item_matrix(binary=cfg.binary)
        self.user_items_ = None if cfg.binary else matrix
        n_items = matrix.shape[1]
        budget = memory_budget_bytes(cfg.max_memory_gb)
        plan = plan_dense(n_items, budget, cfg.max_dense_items)
        if (plan is None or plan[0] < n_items) and not cfg.allow_approximate:
            # Names the size of the exact fit, the budget and the alternatives.
            check_allocation(
                f"EASE on {n_items:,} items ({_DENSE_COPIES:g} dense {n_items:,}² float32)",
                dense_bytes((n_items, n_items), np.float32, _DENSE_COPIES),
                max_memory_gb=cfg.max_memory_gb,
                alternatives="allow_approximate=true (dense EASE on the most popular items, "
                "neighbourhood regressions for the rest), the itemknn or als model, or a "
                "larger budget (max_memory_gb / DIGIREC_MAX_MEMORY_GB).",
            )
            raise ConfigError(  # max_dense_items smaller than the catalogue, by choice
                f"EASE: max_dense_items={cfg.max_dense_items} < {n_items:,} items needs "
                "allow_approximate=true"
            )
        n_dense, dtype = plan if plan is not None else (0, np.float32)
        counts = np.asarray(matrix.getnnz(axis=0)).ravel()
        if n_dense >= n_items:
            self.dense_items_ = np.arange(n_items, dtype=np.int64)
            self.weights_ = ease_weights(matrix, cfg.lambda_, dtype=dtype)
            self.tail_weights_ = None
            self.variant_ = DENSE_FLOAT64 if dtype == np.float64 else DENSE_FLOAT32
        else:
            # The most popular items (ties by index) form the dense block: they carry most
            # interactions, and their columns are where the full regression matters most.
            order = np.lexsort((np.arange(n_items), -counts))
            self.dense_items_ = np.sort(order[:n_dense]).astype(np.int64)
            csc = sp.csc_matrix(matrix, dtype=np.float64)
            self.weights_ = (
                ease_weights(csc[:, self.dense_items_], cfg.lambda_, dtype=np.float32)
                if n_dense
                else np.zeros((0, 0), dtype=np.float32)
            )
            tail = np.setdiff1d(np.arange(n_items), self.dense_items_)
            self.tail_weights_ = neighbourhood_weights(csc, tail, cfg.lambda_, cfg.n_neighbors)
            self.variant_ = HEAD_NEIGHBOURS
        n_dense = len(self.dense_items_)
        self.fit_info_ = {
            "variant": self.variant_,
            "n_items": int(n_items),
            "n_dense_items": int(n_dense),
            "dense_share_of_interactions": float(counts[self.dense_items_].sum() / counts.sum())
            if counts.sum()
            else 1.0,
            "n_neighbors": cfg.n_neighbors if self.variant_ == HEAD_NEIGHBOURS else None,
            "estimated_peak_bytes": dense_bytes(
                (n_dense, n_dense),
                np.float64 if self.variant_ == DENSE_FLOAT64 else np.float32,
                _DENSE_COPIES,
            ),
            "memory_budget_bytes": int(min(budget, 2**53)),
        }
        log = logger.warning if self.variant_ == HEAD_NEIGHBOURS else logger.info
        log(
            "EASE: %s on %d items (dense block %d items, %.0f%% of interactions; "
            "peak about %s of a %s budget)",
            self.variant_,
            n_items,
            n_dense,
            100 * self.fit_info_["dense_share_of_interactions"],
            format_bytes(self.fit_info_["estimated_peak_bytes"]),
            format_bytes(budget),
        )

    @property
    def _is_exact(self) -> bool:
        return self.tail_weights_ is None

    @property
    def uses_weights(self) -> bool:
        return not self.config.binary

    def _user_matrix(self) -> sp.csr_matrix:
        return self.seen_ if self.user_items_ is None else self.user_items_

    def _score_histories(self, histories: sp.csr_matrix) -> FloatMatrix:
        if self._is_exact:
            return np.asarray(histories @ self.weights_, dtype=np.float32)
        assert self.tail_weights_ is not None
        rows = sp.csr_matrix(histories)
        out = np.asarray((rows @ self.tail_weights_).toarray(), dtype=np.float32)
        if len(self.dense_items_):
            head = rows[:, self.dense_items_]
            out[:, self.dense_items_] += np.asarray(head @ self.weights_, dtype=np.float32)
        return out

    def _score_users(self, user_idx: IdxArray) -> FloatMatrix:
        return self._score_histories(self._user_matrix()[user_idx])

    def _similar_scores(self, item_idx: IdxArray) -> FloatMatrix:
        if self._is_exact:
            return np.array(self.weights_[item_idx], dtype=np.float32)
        return super()._similar_scores(item_idx)

    def _similar_scores_at(self, item_idx: IdxArray, columns: IdxArray) -> FloatMatrix:
        if self._is_exact:
            return np.array(self.weights_[np.ix_(item_idx, columns)], dtype=np.float32)
        return super()._similar_scores_at(item_idx, columns)

    def _get_state(self) -> dict[str, NDArray[Any]]:
        state: dict[str, NDArray[Any]] = {"weights": self.weights_}
        if self.tail_weights_ is not None:
            state["dense_items"] = self.dense_items_
            state.update(csr_to_state("tail_weights", self.tail_weights_))
        if self.user_items_ is not None:
            state.update(csr_to_state("user_items", self.user_items_))
        return state

    def _set_state(self, state: Mapping[str, NDArray[Any]]) -> None:
        # is_fitted is set after _set_state, so read the sizes from the maps directly.
        n_users, n_items = len(self.user_map_), len(self.item_map_)
        self.weights_ = np.ascontiguousarray(state["weights"], dtype=np.float32)
        self.tail_weights_ = None
        if "dense_items" in state:
            self.dense_items_ = np.asarray(state["dense_items"], dtype=np.int64)
            self.tail_weights_ = csr_from_state("tail_weights", state, (n_items, n_items))
            self.variant_ = HEAD_NEIGHBOURS
        else:
            self.dense_items_ = np.arange(n_items, dtype=np.int64)
            # The precision of a saved exact fit is not stored; both are exact EASE.
            self.variant_ = "dense"
        self.fit_info_ = {"variant": self.variant_, "n_dense_items": len(self.dense_items_)}
        self.user_items_ = None
        if not self.config.binary:
            self.user_items_ = csr_from_state("user_items", state, (n_users, n_items))


# ---------------------------------------------------------------------- memory plan
def plan_dense(
    n_items: int, budget_bytes: int, max_dense_items: int | None = None
) -> tuple[int, type[np.floating[Any]]] | None:
    """Size and precision of the dense block: ``(n_dense, dtype)``, or ``None`` if none fits.

    Full catalogue in float64 when its two ``n²`` float64 arrays fit ``budget_bytes``, else in
    float32; otherwise the largest ``n`` whose two float32 ``n²`` arrays fit (capped by
    ``max_dense_items``), i.e. the head of the ``head+neighbours`` variant.
    """
    cap = n_items if max_dense_items is None else min(n_items, max_dense_items)
    if cap == n_items:
        for dtype in (np.float64, np.float32):
            if dense_bytes((n_items, n_items), dtype, _DENSE_COPIES) <= budget_bytes:
                return n_items, dtype
    largest = math.isqrt(int(budget_bytes / (_DENSE_COPIES * 4)))
    n_dense = min(cap, largest)
    return (n_dense, np.float32) if n_dense > 0 else None


# ---------------------------------------------------------------------- exact EASE
def ease_weights(
    matrix: sp.spmatrix, lambda_: float, *, dtype: type[np.floating[Any]] = np.float64
) -> NDArray[np.float32]:
    """The EASE weight matrix ``B`` for a ``(n_users, n_items)`` matrix ``X``.

    ``P`` from :func:`precision_matrix` (torch Cholesky, precision ``dtype``); peak memory is
    about two ``n_items²`` arrays of ``dtype``.

    Returns
    -------
    ``(n_items, n_items)`` float32 array (C order, as scoring needs) with a zero diagonal.
    """
    import torch

    precision = precision_matrix(matrix, lambda_, dtype)
    diag = torch.diagonal(precision).clone()
    # B = -P / diag(P) column-wise, in place to avoid another n² array.
    precision /= -diag[None, :]
    precision.fill_diagonal_(0.0)
    return np.ascontiguousarray(precision.numpy(), dtype=np.float32)


def precision_matrix(
    matrix: sp.spmatrix, lambda_: float, dtype: type[np.floating[Any]] = np.float64
) -> Any:
    """``P = (XᵀX + λI)⁻¹`` as a torch tensor of ``dtype``; peak two dense ``n²`` arrays.

    ``G = XᵀX`` is formed sparse in float64 (exact co-occurrence sums) and densified once in
    ``dtype``. With ``G = L Lᵀ``, ``P = L⁻ᵀ (L⁻¹ I)``: two triangular solves in place into one
    identity matrix. Everything happens in this one frame so that each dense array is freed
    (``del``) as soon as the next exists. ``torch.cholesky_inverse`` gives the same result but
    was 8x slower with this torch build on 2 CPU threads, and ``cholesky_solve`` needs a third
    ``n²`` array; numpy's and scipy's Cholesky crash on large matrices (module docstring).

    Raises
    ------
    ConfigError
        When ``G`` is not positive definite (cannot happen for ``λ > 0`` and finite data).
    """
    import torch

    csc = sp.csc_matrix(matrix, dtype=np.float64)
    gram = torch.from_numpy((csc.T @ csc).astype(dtype).toarray())
    del csc
    gram.diagonal().add_(lambda_)
    factor, info = torch.linalg.cholesky_ex(gram)
    del gram
    if int(info) != 0:
        raise ConfigError(
            f"EASE: the regularised Gram matrix is not positive definite (leading minor {info})"
        )
    inverse = torch.eye(factor.shape[0], dtype=factor.dtype)
    torch.linalg.solve_triangular(factor, inverse, upper=False, out=inverse)
    torch.linalg.solve_triangular(factor.T, inverse, upper=True, out=inverse)
    del factor
    return inverse


# ---------------------------------------------------------------------- tail regressions
def neighbourhood_weights(
    matrix: sp.spmatrix, columns: IdxArray, lambda_: float, n_neighbors: int
) -> sp.csr_matrix:
    """Sparse EASE columns: each of ``columns`` regressed on its most co-occurring items.

    For item ``j`` with neighbours ``N_j`` (the ``n_neighbors`` items with the largest
    co-occurrence ``G_ij``, ``i ≠ j``, ties by index; only items that co-occur at all):
    ``B[N_j, j] = (G[N_j, N_j] + λI)⁻¹ G[N_j, j]``, the EASE regression of column ``j``
    restricted to ``N_j``.

    Returns
    -------
    ``(n_items, n_items)`` float32 CSR with non-zeros only in ``columns``.
    """
    import torch

    from digirec.models.itemknn import top_per_row

    csc = sp.csc_matrix(matrix, dtype=np.float64)
    n_items = csc.shape[1]
    columns = np.asarray(columns, dtype=np.int64)
    if len(columns) == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    # One sparse Gram (its size is bounded by the caller's memory check); the rows of the
    # requested columns give their co-occurrences with every item.
    gram = sp.csr_matrix(csc.T @ csc)
    cooc = gram[columns].tocoo()
    target = columns[cooc.row]
    off = cooc.col != target
    rows_local, nbrs, vals = cooc.row[off], cooc.col[off].astype(np.int64), cooc.data[off]
    keep = top_per_row(rows_local, nbrs, vals, n_neighbors)
    rows_local, nbrs = rows_local[keep], nbrs[keep]
    order = np.lexsort((nbrs, rows_local))
    rows_local, nbrs = rows_local[order], nbrs[order]
    starts = np.searchsorted(rows_local, np.arange(len(columns) + 1))
    del cooc, off, vals, keep, order

    out_rows: list[NDArray[np.int64]] = []
    out_cols: list[NDArray[np.int64]] = []
    out_vals: list[NDArray[np.float32]] = []
    per_block = max(1, _TAIL_BLOCK_ENTRIES // n_neighbors)
    for block_start in range(0, len(columns), per_block):
        block = range(block_start, min(block_start + per_block, len(columns)))
        sizes = [int(starts[b + 1] - starts[b]) for b in block]
        width = max(sizes, default=0)
        if width == 0:
            continue
        union = np.unique(nbrs[starts[block.start] : starts[block.stop]])
        # One gather from the sparse Gram for the whole block, then per-system index arrays.
        sub = gram[union][:, np.r_[union, columns[list(block)]]].toarray()
        systems = np.zeros((len(sizes), width, width))
        rhs = np.zeros((len(sizes), width))
        for i, b in enumerate(block):
            size = sizes[i]
            pos = np.searchsorted(union, nbrs[starts[b] : starts[b + 1]])
            systems[i, :size, :size] = sub[np.ix_(pos, pos)]
            systems[i, np.arange(size), np.arange(size)] += lambda_
            # Padding: identity rows with a zero right-hand side give zero weights.
            systems[i, np.arange(size, width), np.arange(size, width)] = 1.0
            rhs[i, :size] = sub[pos, len(union) + i]
        solution = torch.linalg.solve(torch.from_numpy(systems), torch.from_numpy(rhs)).numpy()
        for i, b in enumerate(block):
            size = sizes[i]
            out_rows.append(nbrs[starts[b] : starts[b + 1]])
            out_cols.append(np.full(size, columns[b], dtype=np.int64))
            out_vals.append(solution[i, :size].astype(np.float32))
    if not out_rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    result = sp.csr_matrix(
        (np.concatenate(out_vals), (np.concatenate(out_rows), np.concatenate(out_cols))),
        shape=(n_items, n_items),
        dtype=np.float32,
    )
    result.sort_indices()
    return result
