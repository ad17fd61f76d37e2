"""Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren, Volinsky 2008).

Training is delegated to the CPU solver of ``implicit``; digirec keeps the factors as plain numpy
arrays, so a saved model serves without ``implicit``'s objects or the training data.

Confidence convention (the one of ``implicit`` >= 0.5): an observed pair ``(u, i)`` with value
``x_ui`` (the interaction weight, e.g. view 1 ... purchase 8, by default; 1 with
``binary=True``) gets confidence ``c_ui = alpha * x_ui`` and preference 1; unobserved pairs get
confidence 1 and preference 0. Each user factor solves
``(VᵀV + Vᵀ(C_u - I)V + reg·I) u = Vᵀ C_u p_u``.

The fold-in of a history (a new user, a session, a known user plus real-time events in the
service) solves the same equation with the history's own weights (``score_histories(histories,
weights)``; 1 per item when none are given), so a known user's weighted training row
(:meth:`~digirec.models.base.Recommender.user_history`) folds back into that user's factor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import Field

from digirec.data.dataset import Dataset
from digirec.models.base import FactorQuery, FloatMatrix, IdxArray, ModelConfig, Recommender
from digirec.models.itemknn import csr_from_state, csr_to_state


class ALSConfig(ModelConfig):
    """Configuration of :class:`ALSModel`.

    Attributes
    ----------
    factors:
        Dimension of the user and item factors.
    regularization:
        L2 penalty ``reg`` on every factor.
    alpha:
        Confidence scale: an observed pair has confidence ``alpha * x_ui`` (``implicit``'s
        convention; unobserved pairs have confidence 1). Values above 1 trust interactions more
        than absences; with ``binary=True`` and ``alpha=1`` all cells weigh the same.
    iterations:
        Number of alternating sweeps (users, then items).
    binary:
        Train on the interaction weights (``False``, the default: a purchase counts more than a
        view, see ``--event-weights``) or on the binary user-item matrix (``True``: every
        observed pair counts 1). With all weights 1 (rating data sets) the two are identical.
    random_state:
        Seeds the initial factors (fits are deterministic for a given seed) and the tie-break.
    """

    factors: int = Field(64, ge=1, description="Latent dimension.")
    regularization: float = Field(0.01, ge=0, description="L2 penalty on the factors.")
    alpha: float = Field(10.0, gt=0, description="Confidence of an observed pair: alpha * x_ui.")
    iterations: int = Field(15, ge=1, description="Alternating least-squares sweeps.")
    binary: bool = Field(
        False, description="Weighted by the event weights (False) or binary (True) matrix."
    )


class ALSModel(Recommender):
    """Weighted matrix factorisation for implicit feedback, fitted by ALS.

    Scores are ``U @ Vᵀ``. A history (new user, session) gets an exact fold-in: its user factor
    is the least-squares solution above with the item factors held fixed, which is what one more
    ALS sweep would give that user. :meth:`similar_items` is the cosine of item factors.

    Attributes
    ----------
    user_factors_:
        ``(n_users, factors)`` float32.
    item_factors_:
        ``(n_items, factors)`` float32.
    user_items_:
        The weighted training matrix when ``binary=False`` (saved with the model: a known
        user's history plus real-time events is folded in with these weights); ``None`` when
        ``binary=True`` (the base's ``seen_`` is it).
    """

    name: ClassVar[str] = "als"
    user_arrays: ClassVar[tuple[str, ...]] = ("user_factors_", "user_items_")
    config_class: ClassVar[type[ModelConfig]] = ALSConfig
    supports_history: ClassVar[bool] = True
    config: ALSConfig

    user_factors_: NDArray[np.float32]
    item_factors_: NDArray[np.float32]
    user_items_: sp.csr_matrix | None = None

    @property
    def uses_weights(self) -> bool:
        return not self.config.binary

    def _user_matrix(self) -> sp.csr_matrix:
        return self.seen_ if self.user_items_ is None else self.user_items_

    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        del valid
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        cfg = self.config
        matrix = dataset.user_item_matrix(binary=cfg.binary)
        self.user_items_ = None if cfg.binary else matrix
        # implicit parallelises over users itself; a multithreaded BLAS inside each solve only
        # oversubscribes the cores (implicit warns about it), so BLAS runs single-threaded here.
        with threadpool_limits(1, "blas"):
            # The CPU class explicitly: the factory would return a GPU model when CUDA exists.
            # Each user's (item's) solve is independent given the other side's factors, so the
            # result does not depend on the thread count and a seed makes it reproducible.
            als = AlternatingLeastSquares(
                factors=cfg.factors,
                regularization=cfg.regularization,
                alpha=cfg.alpha,
                iterations=cfg.iterations,
                random_state=cfg.random_state,
            )
            als.fit(matrix, show_progress=False)
        self.user_factors_ = np.ascontiguousarray(als.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(als.item_factors, dtype=np.float32)

    def _score_users(self, user_idx: IdxArray) -> FloatMatrix:
        return self.user_factors_[user_idx] @ self.item_factors_.T

    def _score_histories(self, histories: sp.csr_matrix) -> FloatMatrix:
        return self.fold_in(histories) @ self.item_factors_.T

    def _similar_scores(self, item_idx: IdxArray) -> FloatMatrix:
        # Explanations call this on every served request: normalise the item factors once per
        # factor array (a refit or load replaces the array, which invalidates the cache).
        unit = self._unit_item_factors()
        return np.asarray(unit[item_idx] @ unit.T, dtype=np.float32)

    def _similar_scores_at(self, item_idx: IdxArray, columns: IdxArray) -> FloatMatrix:
        unit = self._unit_item_factors()
        return np.asarray(unit[item_idx] @ unit[columns].T, dtype=np.float32)

    def _unit_item_factors(self) -> NDArray[np.float32]:
        cached = getattr(self, "_unit_cache", None)
        if cached is None or cached[0] is not self.item_factors_:
            cached = (self.item_factors_, unit_rows(self.item_factors_))
            self._unit_cache = cached
        return cached[1]

    # ------------------------------------------------------------------ factor protocol
    def factor_item_vectors(self) -> FloatMatrix:
        return np.ascontiguousarray(self.item_factors_, dtype=np.float32)

    def factor_user_queries(self, user_idx: IdxArray) -> tuple[FloatMatrix, FloatMatrix]:
        vectors = np.asarray(self.user_factors_[user_idx], dtype=np.float32)
        return vectors, np.zeros(len(vectors), dtype=np.float32)

    def factor_history_query(
        self, item_idx: Sequence[int], weights: Sequence[float] | None = None
    ) -> FactorQuery:
        """The fold-in of one history with its weights (the user vector a retrain would start
        from); the same solve as :meth:`score_histories`."""
        matrix = self._idx_history_matrix([item_idx], None if weights is None else [weights])
        return self.fold_in(matrix)[0], 0.0

    def item_gram(self) -> NDArray[np.float64]:
        """``VᵀV`` of the item factors, computed once per factor array: the fold-in's
        history-free term (n_items x factors² per call otherwise, ~25 ms at 100,000 items)."""
        cached = getattr(self, "_gram_cache", None)
        if cached is None or cached[0] is not self.item_factors_:
            wide = np.asarray(self.item_factors_, dtype=np.float64)
            cached = (self.item_factors_, wide.T @ wide)
            self._gram_cache = cached
        gram: NDArray[np.float64] = cached[1]
        return gram

    def fold_in(self, histories: sp.csr_matrix) -> FloatMatrix:
        """User factors for ``(n, n_items)`` histories, item factors fixed (exact solve).

        Values are interaction strengths ``x_ui``: the weights given to the public
        :meth:`score_histories` (for a model with ``binary=False``), else 1; the confidence
        ``alpha * x_ui`` and ``regularization`` are the ones used in training.
        """
        return als_fold_in(
            histories,
            self.item_factors_,
            self.config.regularization,
            self.config.alpha,
            gram=self.item_gram(),
        )

    def _get_state(self) -> dict[str, NDArray[Any]]:
        state = {"user_factors": self.user_factors_, "item_factors": self.item_factors_}
        if self.user_items_ is not None:
            state.update(csr_to_state("user_items", self.user_items_))
        return state

    def _set_state(self, state: Mapping[str, NDArray[Any]]) -> None:
        self.user_factors_ = np.asarray(state["user_factors"], dtype=np.float32)
        self.item_factors_ = np.asarray(state["item_factors"], dtype=np.float32)
        self.user_items_ = None
        if "user_items_data" in state:
            shape = (len(self.user_map_), len(self.item_map_))
            self.user_items_ = csr_from_state("user_items", state, shape)


def als_fold_in(
    histories: sp.csr_matrix,
    item_factors: NDArray[np.floating],
    regularization: float,
    alpha: float,
    *,
    confidence_offset: float = 0.0,
    scale_regularization: bool = False,
    gram: NDArray[np.floating] | None = None,
) -> FloatMatrix:
    """Solve ``(VᵀV + Vᵀ(C_u - I)V + reg_u·I) u = Vᵀ C_u p_u`` for every history row.

    ``C_u`` has ``confidence_offset + alpha * x_ui`` on observed items and 1 elsewhere; ``p_u``
    is 1 on observed items. ``reg_u`` is ``regularization``, or ``regularization * n_u`` (the
    row's number of observed items) with ``scale_regularization``. The defaults are
    ``implicit``'s convention; Spark MLlib's implicit ALS is ``confidence_offset=1`` and
    ``scale_regularization=True`` (see :mod:`digirec.models.spark_als`).
    Solved in float64 (one small ``factors x factors`` system per row); ``gram`` is ``VᵀV``
    when the caller has it already (:meth:`ALSModel.item_gram`).
    """
    csr = sp.csr_matrix(histories)
    n_factors = item_factors.shape[1]
    if gram is None:
        wide = np.asarray(item_factors, dtype=np.float64)
        gram = wide.T @ wide
    gram = np.asarray(gram, dtype=np.float64)
    eye = np.eye(n_factors)
    out = np.zeros((csr.shape[0], n_factors), dtype=np.float64)
    for row in range(csr.shape[0]):
        lo, hi = csr.indptr[row], csr.indptr[row + 1]
        if lo == hi:
            continue  # empty history: the solution is the zero vector
        items = csr.indices[lo:hi]
        confidence = confidence_offset + alpha * csr.data[lo:hi].astype(np.float64)
        # Only the history's rows in float64: widening all item factors per call cost ~30 ms
        # on a 100k-item catalogue, on every real-time request.
        vi = np.asarray(item_factors[items], dtype=np.float64)
        reg = regularization * (hi - lo) if scale_regularization else regularization
        lhs = gram + reg * eye + (vi * (confidence - 1.0)[:, None]).T @ vi
        rhs = confidence @ vi
        out[row] = np.linalg.solve(lhs, rhs)
    return out.astype(np.float32)


def unit_rows(factors: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(factors, axis=1)
    safe = np.where(norms > 0, norms, 1.0).astype(np.float32)
    return np.asarray(factors / safe[:, None], dtype=np.float32)


def cosine_pairs(factors: NDArray[np.float32], idx: IdxArray, columns: IdxArray) -> FloatMatrix:
    """Cosine similarity of the rows ``idx`` of ``factors`` with the rows ``columns`` only."""
    return np.asarray(unit_rows(factors[idx]) @ unit_rows(factors[columns]).T, dtype=np.float32)


def cosine_rows(factors: NDArray[np.float32], idx: IdxArray) -> FloatMatrix:
    """Cosine similarity of the rows ``idx`` of ``factors`` with every row (zero rows give 0)."""
    unit = unit_rows(factors)
    return np.asarray(unit[idx] @ unit.T, dtype=np.float32)
