"""Bayesian personalised ranking (Rendle et al., UAI 2009) with ``implicit``'s CPU trainer.

BPR learns factors so that, for each user, an interacted item ``i`` scores above a sampled
non-interacted item ``j``: it maximises ``Σ ln σ(s_ui - s_uj) - reg·|θ|²`` by SGD.

``implicit`` stores an item bias as an extra factor column: ``item_factors`` has ``factors + 1``
columns (the last is the bias ``b_i``) and every user's last column is the constant 1, so
``s_ui = u·v_i + b_i``. digirec keeps that layout (``user_factors_`` and ``item_factors_`` both
have ``factors + 1`` columns) so that scores are a plain ``U @ Vᵀ``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import Field

from digirec.data.dataset import Dataset
from digirec.models.als import cosine_pairs, cosine_rows
from digirec.models.base import FactorQuery, FloatMatrix, IdxArray, ModelConfig, Recommender


class BPRConfig(ModelConfig):
    """Configuration of :class:`BPRModel`.

    Attributes
    ----------
    factors:
        Dimension of the user and item factors (an item bias is learned in addition).
    learning_rate:
        SGD step size.
    regularization:
        L2 penalty applied at every SGD step.
    iterations:
        Training epochs (each samples as many triples as there are interactions).
    num_threads:
        Training threads. ``implicit``'s BPR updates shared factors without locks ("Hogwild"),
        so with more than one thread the result depends on thread scheduling: the default 1
        keeps fits reproducible under ``random_state`` (at the cost of speed).
    history_negatives:
        Non-history items (a fixed seeded sample when the catalogue is larger) that a history
        is ranked against when folding in a new user; see :meth:`BPRModel.fold_in`.
    random_state:
        Seeds initial factors, negative sampling, the fold-in sample and the tie-break.
    """

    factors: int = Field(64, ge=1, description="Latent dimension (plus one bias column).")
    learning_rate: float = Field(0.01, gt=0, description="SGD step size.")
    regularization: float = Field(0.01, ge=0, description="L2 penalty.")
    iterations: int = Field(100, ge=1, description="Training epochs.")
    num_threads: int = Field(
        1, ge=0, description="Training threads (0: all cores); >1 is not reproducible."
    )
    history_negatives: int = Field(
        1000, ge=1, description="Negative items per fold-in of a history."
    )


class BPRModel(Recommender):
    """Matrix factorisation trained with the BPR pairwise ranking loss.

    Scores are ``U @ Vᵀ`` (including the item bias). A history is folded in by solving the same
    BPR objective for a single new user vector with the item factors fixed:

        minimise over u:  mean_{i in H, j in N} -ln σ(s_i - s_j) + (reg / 2) |u|²

    where ``H`` is the history and ``N`` are up to ``history_negatives`` other items (a fixed
    seeded sample). The objective is convex in ``u`` (the bias column is fixed at 1), so L-BFGS
    finds the unique optimum; ``reg / 2`` matches the stationary point of implicit's SGD update
    ``u += lr·(σ(-m)(v_i - v_j) - reg·u)``. :meth:`similar_items` is the cosine of the item
    factors without the bias column.

    Attributes
    ----------
    user_factors_:
        ``(n_users, factors + 1)`` float32; last column 1.
    item_factors_:
        ``(n_items, factors + 1)`` float32; last column is the item bias.
    """

    name: ClassVar[str] = "bpr"
    user_arrays: ClassVar[tuple[str, ...]] = ("user_factors_",)
    config_class: ClassVar[type[ModelConfig]] = BPRConfig
    supports_history: ClassVar[bool] = True
    config: BPRConfig

    user_factors_: NDArray[np.float32]
    item_factors_: NDArray[np.float32]

    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        del valid
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        cfg = self.config
        # BPR only uses which pairs exist, never their weight.
        matrix = dataset.user_item_matrix(binary=True)
        bpr = BayesianPersonalizedRanking(
            factors=cfg.factors,
            learning_rate=cfg.learning_rate,
            regularization=cfg.regularization,
            iterations=cfg.iterations,
            num_threads=cfg.num_threads,
            random_state=cfg.random_state,
        )
        bpr.fit(matrix, show_progress=False)
        self.user_factors_ = np.ascontiguousarray(bpr.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(bpr.item_factors, dtype=np.float32)
        if self.item_factors_.shape[1] != cfg.factors + 1:  # guard against a layout change
            raise RuntimeError(
                f"implicit BPR returned {self.item_factors_.shape[1]} item columns, "
                f"expected factors + 1 = {cfg.factors + 1}"
            )

    def _score_users(self, user_idx: IdxArray) -> FloatMatrix:
        return self.user_factors_[user_idx] @ self.item_factors_.T

    def _score_histories(self, histories: sp.csr_matrix) -> FloatMatrix:
        return self.fold_in(histories) @ self.item_factors_.T

    def _similar_scores(self, item_idx: IdxArray) -> FloatMatrix:
        return cosine_rows(np.ascontiguousarray(self.item_factors_[:, :-1]), item_idx)

    def _similar_scores_at(self, item_idx: IdxArray, columns: IdxArray) -> FloatMatrix:
        return cosine_pairs(self.item_factors_[:, :-1], item_idx, columns)

    # ------------------------------------------------------------------ factor protocol
    def factor_item_vectors(self) -> FloatMatrix:
        """The item factors; the item bias is their last column (the users' is 1)."""
        return np.ascontiguousarray(self.item_factors_, dtype=np.float32)

    def factor_user_queries(self, user_idx: IdxArray) -> tuple[FloatMatrix, FloatMatrix]:
        vectors = np.asarray(self.user_factors_[user_idx], dtype=np.float32)
        return vectors, np.zeros(len(vectors), dtype=np.float32)

    def factor_history_query(
        self, item_idx: Sequence[int], weights: Sequence[float] | None = None
    ) -> FactorQuery:
        del weights  # trained on the binary matrix: the items only
        return self.fold_in(self._idx_history_matrix([item_idx]))[0].astype(np.float32), 0.0

    def fold_in(self, histories: sp.csr_matrix) -> FloatMatrix:
        """User factors (with the constant bias column) for ``(n, n_items)`` history rows.

        An empty history gets the zero vector (scores = item biases, a popularity-like list).
        """
        csr = sp.csr_matrix(histories)
        n_items, width = self.item_factors_.shape
        out = np.zeros((csr.shape[0], width), dtype=np.float32)
        out[:, -1] = 1.0
        factors = self.item_factors_[:, :-1].astype(np.float64)
        bias = self.item_factors_[:, -1].astype(np.float64)
        # One fixed ordering of the catalogue gives every history the same negative sample.
        order = np.random.default_rng(self.config.random_state).permutation(n_items)
        for row in range(csr.shape[0]):
            history = np.unique(csr.indices[csr.indptr[row] : csr.indptr[row + 1]])
            if len(history) == 0:
                continue
            negatives = order[~np.isin(order, history)][: self.config.history_negatives]
            if len(negatives) == 0:
                continue
            out[row, :-1] = _bpr_user(
                factors[history],
                bias[history],
                factors[negatives],
                bias[negatives],
                self.config.regularization,
            )
        return out

    def _get_state(self) -> dict[str, NDArray[Any]]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _set_state(self, state: Mapping[str, NDArray[Any]]) -> None:
        self.user_factors_ = np.asarray(state["user_factors"], dtype=np.float32)
        self.item_factors_ = np.asarray(state["item_factors"], dtype=np.float32)


def _bpr_user(
    pos: NDArray[np.float64],
    pos_bias: NDArray[np.float64],
    neg: NDArray[np.float64],
    neg_bias: NDArray[np.float64],
    regularization: float,
) -> NDArray[np.float64]:
    """Minimise ``mean_ij softplus(-(u·(p_i - n_j) + b_i - b_j)) + reg/2 |u|²`` over ``u``.

    The gradient avoids forming the ``|H| x |N| x f`` tensor of differences:
    ``Σ_ij w_ij (p_i - n_j) = (w.sum(1)) @ P - (w.sum(0)) @ N``.
    """
    n_pairs = len(pos) * len(neg)

    def objective(u: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        margin = (pos @ u + pos_bias)[:, None] - (neg @ u + neg_bias)[None, :]
        loss = np.logaddexp(0.0, -margin).sum() / n_pairs + 0.5 * regularization * (u @ u)
        weight = 0.5 * (1.0 - np.tanh(0.5 * margin))  # σ(-margin), overflow-free
        grad = -(weight.sum(axis=1) @ pos - weight.sum(axis=0) @ neg) / n_pairs
        return float(loss), grad + regularization * u

    start = pos.mean(axis=0)  # the history's centroid: a sensible, deterministic start
    result = scipy.optimize.minimize(objective, start, jac=True, method="L-BFGS-B")
    return np.asarray(result.x, dtype=np.float64)
