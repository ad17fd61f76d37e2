"""SLIST: a closed-form linear item-item model for the next item (Choi et al., WWW 2021).

"Session-aware Linear Item-Item Models for Session-based Recommendation" unifies two linear
models in one least-squares problem over an item-item matrix ``B``:

- **SLIS** (item *similarity*, EASE-like): reconstruct each user's item set from itself,
  ``||X - X B||²`` with ``X`` the users x items matrix;
- **SLIT** (item *transition*): predict what comes after each position of a user's sequence
  from what came before it, ``||T - S B||²``. Row ``t`` of ``S`` holds the items at and before
  position ``t`` weighted by ``exp(-(t - k) / position_decay)``; row ``t`` of ``T`` the items
  after it weighted by ``exp(-(k - t - 1) / position_decay)``: recent past -> near future.

With ``alpha`` weighting the two parts and ``λ`` (``lambda``) the L2 penalty,

    min_B  alpha ||X - X B||² + (1 - alpha) ||T - S B||² + λ ||B||²
    =>  B = P (alpha XᵀX + (1 - alpha) SᵀT),   P = (alpha XᵀX + (1 - alpha) SᵀS + λ I)⁻¹.

Rows of ``X``, ``S`` and ``T`` are L2-normalised (``normalize``) so that long histories do not
dominate the Gram matrices. With ``zero_diagonal`` (default) the item's weight on itself is
constrained to 0 as in EASE (Lagrange multipliers, still closed form:
``B <- B - P diag(diag(B) / diag(P))``): a user's own items are filtered at ranking time, and a
free diagonal would soak up the similarity part's fit.

Scoring reads a user's (or a given history's) last ``max_len`` items with recency weights
``exp(-(n - 1 - k) / inference_decay)`` (``k`` = position, the newest item weighs 1),
normalised like the training rows, times ``B``. Everything is deterministic and fitted in one
dense solve: on 2 CPU cores a few seconds for MovieLens-100K and Office (1.7k / 3.3k items).

Memory: a few dense ``n_items x n_items`` float64 matrices during the fit (about
``4 * 8 * n_items²`` bytes: 3.2 GB at 10k items) and one float32 matrix kept; a fit beyond the
memory budget is refused before it allocates (:func:`digirec.memory.check_allocation`,
``max_memory_gb`` / ``DIGIREC_MAX_MEMORY_GB``). The solve uses
torch (Cholesky), not the bundled OpenBLAS LAPACK, which crashes on large dense factorisations
with 2 threads.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import ConfigDict, Field

from digirec.data.dataset import Dataset
from digirec.data.sequences import user_sequences
from digirec.models.base import (
    FloatMatrix,
    IdxArray,
    ModelConfig,
    Recommender,
    ordered_history_rows,
)
from digirec.models.sasrec import right_aligned

#: Position weights below this are dropped from the S / T rows (window of the decay).
_MIN_WEIGHT = 1e-2
#: Dense float64 ``n_items²`` matrices alive at the peak of a fit (Gram, right-hand side,
#: precision, weights), for the memory guard.
DENSE_COPIES = 4

#: The last solve: (weak reference to the training interactions, the settings that determine
#: ``B``, ``B``). ``inference_decay`` only changes scoring, so a grid search that varies it
#: last (as ``TUNING_GRIDS["slist"]`` does) reuses each solve instead of repeating it. One
#: entry only, and ``B`` is shared read-only with the model that computed it.
_LAST_SOLVE: tuple[weakref.ref[Any], tuple[Any, ...], NDArray[np.float32]] | None = None


class SLISTConfig(ModelConfig):
    """Configuration of :class:`SLISTModel`.

    Attributes
    ----------
    alpha:
        Weight of the similarity part (SLIS) against the transition part (SLIT), in [0, 1].
    lambda_:
        L2 penalty ``λ`` (``lambda`` in configs and on the command line, as for EASE).
    position_decay:
        Decay length (in positions) of the S / T weights around each position in training.
    inference_decay:
        Decay length (in positions) of the recency weights of a history at scoring time.
    max_len:
        Most recent items read per user at scoring time, and the widest training window.
    normalize:
        Row normalisation of X, S, T and of the scoring query (``"l2"``, ``"l1"``, ``"none"``).
    zero_diagonal:
        Constrain ``diag(B) = 0`` (EASE's constraint).
    n_threads:
        Torch threads for the dense solve (``None``: torch's default).
    """

    model_config = ConfigDict(
        extra="forbid", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    alpha: float = Field(0.5, ge=0.0, le=1.0, description="Similarity (1) vs transition (0).")
    lambda_: float = Field(10.0, alias="lambda", gt=0, description="L2 penalty λ.")
    position_decay: float = Field(2.0, gt=0, description="Training position decay length.")
    inference_decay: float = Field(4.0, gt=0, description="Scoring recency decay length.")
    max_len: int = Field(50, ge=1, description="Most recent items read per user.")
    normalize: Literal["l2", "l1", "none"] = Field("l2", description="Row normalisation.")
    zero_diagonal: bool = Field(True, description="Constrain diag(B) = 0.")
    n_threads: int | None = Field(None, ge=1, description="Torch threads of the solve.")
    max_memory_gb: float | None = Field(
        None,
        gt=0,
        description="Memory budget of the dense fit (None: DIGIREC_MAX_MEMORY_GB, "
        "then the machine); see digirec.memory.",
    )


class SLISTModel(Recommender):
    """Session-aware linear item similarity + transition model (see the module doc).

    Attributes
    ----------
    weights_:
        ``(n_items, n_items)`` float32 item-item matrix ``B``.
    user_seqs_:
        ``(n_users, max_len)`` int64 right-aligned tokens (item + 1, 0 = padding) of each
        user's latest training items, the input of ``recommend``.
    """

    name: ClassVar[str] = "slist"
    config_class: ClassVar[type[ModelConfig]] = SLISTConfig
    supports_history: ClassVar[bool] = True
    user_arrays: ClassVar[tuple[str, ...]] = ("user_seqs_",)
    config: SLISTConfig

    weights_: NDArray[np.float32]
    user_seqs_: NDArray[np.int64]

    def get_config(self) -> dict[str, Any]:
        """The resolved configuration, with the penalty under its public name ``lambda``."""
        return self.config.model_dump(mode="json", by_alias=True)

    # ------------------------------------------------------------------ fit
    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        del valid  # closed form: nothing to stop early
        cfg = self.config
        n_items = dataset.n_items
        from digirec.memory import check_allocation, dense_bytes

        check_allocation(
            f"SLIST on {n_items:,} items: {DENSE_COPIES} dense {n_items:,}² float64",
            dense_bytes((n_items, n_items), np.float64, copies=DENSE_COPIES),
            max_memory_gb=cfg.max_memory_gb,
            alternatives="ease (head + neighbours beyond the budget), itemknn or als",
        )
        sequences = user_sequences(dataset)
        self.user_seqs_ = right_aligned(sequences, cfg.max_len)
        self.weights_ = self._solve(dataset, sequences)

    def _solve(self, dataset: Dataset, sequences: Sequence[NDArray[np.int64]]) -> FloatMatrix:
        """``B`` for ``dataset``, reusing the previous solve when only scoring settings differ."""
        global _LAST_SOLVE
        cfg = self.config
        key = (
            dataset.n_users,
            dataset.n_items,
            dataset.n_interactions,
            cfg.alpha,
            cfg.lambda_,
            cfg.position_decay,
            cfg.max_len,
            cfg.normalize,
            cfg.zero_diagonal,
        )
        if _LAST_SOLVE is not None:
            ref, last_key, last_weights = _LAST_SOLVE
            if ref() is dataset.interactions and last_key == key:
                return last_weights
        x = _normalise(dataset.user_item_matrix(binary=True), cfg.normalize)
        past, future = transition_rows(sequences, dataset.n_items, cfg.position_decay, cfg.max_len)
        past, future = _normalise(past, cfg.normalize), _normalise(future, cfg.normalize)
        weights = slist_weights(
            x, past, future, cfg.alpha, cfg.lambda_, cfg.zero_diagonal, cfg.n_threads
        )
        weights.setflags(write=False)  # shared with the cache: never modified in place
        _LAST_SOLVE = (weakref.ref(dataset.interactions), key, weights)
        return weights

    # ------------------------------------------------------------------ scoring
    def _queries(self, tokens: NDArray[np.int64]) -> sp.csr_matrix:
        """Recency-weighted, normalised query rows of right-aligned token sequences."""
        n_rows, width = tokens.shape
        real = tokens > 0
        # Right-aligned (left-padded): column c is (width - 1 - c) positions before the newest
        # item, which sits in the last column of every non-empty row.
        age = (width - 1 - np.arange(width, dtype=np.float64))[None, :].repeat(n_rows, axis=0)
        weights = np.exp(-age / self.config.inference_decay)
        rows = np.repeat(np.arange(n_rows), width).reshape(n_rows, width)
        query = sp.csr_matrix(
            (weights[real], (rows[real], tokens[real] - 1)), shape=(n_rows, self.n_items)
        )
        return _normalise(query, self.config.normalize)

    def _score_tokens(self, tokens: NDArray[np.int64]) -> FloatMatrix:
        return np.asarray(self._queries(tokens) @ self.weights_, dtype=np.float32)

    def _score_users(self, user_idx: IdxArray) -> FloatMatrix:
        return self._score_tokens(self.user_seqs_[np.asarray(user_idx, dtype=np.int64)])

    def _score_histories(self, histories: sp.csr_matrix) -> FloatMatrix:
        ordered = ordered_history_rows(histories)
        return self._score_tokens(right_aligned(ordered, self.config.max_len))

    def _similar_scores(self, item_idx: IdxArray) -> FloatMatrix:
        return np.array(self.weights_[np.asarray(item_idx, dtype=np.int64)], dtype=np.float32)

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, NDArray[Any]]:
        return {"weights": self.weights_, "user_seqs": self.user_seqs_}

    def _set_state(self, state: Mapping[str, NDArray[Any]]) -> None:
        self.weights_ = np.ascontiguousarray(state["weights"], dtype=np.float32)
        self.user_seqs_ = np.asarray(state["user_seqs"], dtype=np.int64)


# ---------------------------------------------------------------------- building blocks
def _normalise(matrix: sp.spmatrix, norm: str) -> sp.csr_matrix:
    """Rows scaled to unit L2 / L1 norm (``"none"``: unchanged); zero rows stay zero."""
    m = sp.csr_matrix(matrix, dtype=np.float64)
    if norm == "none":
        return m
    if norm == "l2":
        size = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    else:
        size = np.asarray(abs(m).sum(axis=1)).ravel()
    scale = np.divide(1.0, size, out=np.zeros_like(size), where=size > 0)
    return sp.csr_matrix(sp.diags(scale) @ m)


def transition_rows(
    sequences: Sequence[NDArray[np.int64]], n_items: int, decay: float, max_window: int
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """SLIT's ``(S, T)``: one row per position ``t`` that has a next item.

    ``S[t]`` weighs the items at positions ``k <= t`` by ``exp(-(t - k) / decay)``, ``T[t]`` the
    items at ``k > t`` by ``exp(-(k - t - 1) / decay)``; weights below 1% (or beyond
    ``max_window`` positions) are left out.
    """
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    flat = (
        np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
        if len(sequences)
        else np.zeros(0, dtype=np.int64)
    )
    start = np.repeat(np.cumsum(lengths) - lengths, lengths)
    end = np.repeat(np.cumsum(lengths), lengths)  # one past the user's last row
    # Rows: every position with at least one later item.
    anchor = np.flatnonzero(np.arange(len(flat)) < end - 1)
    window = int(min(max_window, max(1, np.ceil(-decay * np.log(_MIN_WEIGHT)))))
    row_of = np.arange(len(anchor))
    s_rows, s_cols, s_vals, t_rows, t_cols, t_vals = [], [], [], [], [], []
    for d in range(window):
        weight = float(np.exp(-d / decay))
        back = anchor - d
        ok = back >= start[anchor]
        s_rows.append(row_of[ok])
        s_cols.append(flat[back[ok]])
        s_vals.append(np.full(int(ok.sum()), weight))
        ahead = anchor + 1 + d
        ok = ahead < end[anchor]
        t_rows.append(row_of[ok])
        t_cols.append(flat[ahead[ok]])
        t_vals.append(np.full(int(ok.sum()), weight))
    shape = (len(anchor), n_items)

    def build(rows: list[Any], cols: list[Any], vals: list[Any]) -> sp.csr_matrix:
        return sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape
        )

    return build(s_rows, s_cols, s_vals), build(t_rows, t_cols, t_vals)


def slist_weights(
    x: sp.csr_matrix,
    past: sp.csr_matrix,
    future: sp.csr_matrix,
    alpha: float,
    lambda_: float,
    zero_diagonal: bool = True,
    n_threads: int | None = None,
) -> NDArray[np.float32]:
    """The closed-form ``B`` of the module doc (float64 solve, float32 result)."""
    import torch

    from digirec.memory import check_allocation, dense_bytes
    from digirec.training.trainer import torch_threads

    n_items = x.shape[1]
    # Up to five dense float64 n² arrays live at once (the three Grams, then lhs and rhs):
    # refuse before allocating rather than being killed by the OOM killer.
    check_allocation(
        f"SLIST on {n_items:,} items (5 dense {n_items:,}² float64)",
        dense_bytes((n_items, n_items), np.float64, 5),
        alternatives="the ease model (it switches to dense EASE on the most popular items with "
        "neighbourhood regressions for the rest), itemknn or sasrec; or a larger budget "
        "(DIGIREC_MAX_MEMORY_GB).",
    )
    xtx = np.asarray((x.T @ x).toarray(), dtype=np.float64)
    sts = np.asarray((past.T @ past).toarray(), dtype=np.float64)
    stt = np.asarray((past.T @ future).toarray(), dtype=np.float64)
    lhs = alpha * xtx + (1.0 - alpha) * sts
    lhs[np.diag_indices(n_items)] += lambda_
    rhs = alpha * xtx + (1.0 - alpha) * stt
    del xtx, sts, stt
    with torch_threads(n_threads), torch.no_grad():
        a = torch.from_numpy(lhs)
        factor = torch.linalg.cholesky(a)
        del a, lhs
        # cholesky_solve against I: torch.cholesky_inverse is ~10x slower on CPU here.
        precision = torch.cholesky_solve(torch.eye(n_items, dtype=factor.dtype), factor)
        del factor
        weights = precision @ torch.from_numpy(rhs)
        del rhs
        if zero_diagonal:
            # Lagrange multipliers of diag(B) = 0: B - P diag(gamma), gamma_j = B_jj / P_jj.
            gamma = torch.diagonal(weights) / torch.diagonal(precision)
            weights -= precision * gamma[None, :]
            weights.fill_diagonal_(0.0)  # exact zeros instead of round-off
        out = weights.to(torch.float32).numpy()
    return np.ascontiguousarray(out)
