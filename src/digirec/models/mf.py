"""Biased matrix factorisation trained with torch: ``r̂_ui = b + b_u + b_i + p_uᵀq_i``.

Two objectives (``objective``):

- ``"implicit"`` (default): interactions are positives. ``loss="softmax"`` maximises the
  likelihood of each observed (user, item) pair under a softmax over **all** items (no sampling;
  each row of a batch is one pair); ``loss="bpr"`` ranks each positive above one uniformly
  sampled non-interacted item (Rendle et al. 2009). Early stopping on full-ranking NDCG@10.
- ``"explicit"``: squared error on the ``rating`` column (the data set must have one), Adam
  weight decay as the regulariser, early stopping on validation RMSE (minimised).
  :meth:`MFModel.predict_ratings` returns ratings clipped to the training range; rankings use
  the unclipped predictions.

Histories (new users, sessions) are folded in by **gradient steps**: with every item parameter
fixed, a fresh user vector (and user bias) starts at zero and takes ``fold_in_steps`` Adam steps
on the same objective as training, restricted to the history, plus an L2 penalty
``fold_in_reg/2·|p|²``. For ``softmax`` that is the mean cross-entropy of the history items; for
``bpr`` the mean ``-ln σ(s_i - s_j)`` over history items ``i`` and *all* non-history items ``j``
(exact, no sampling); for ``explicit`` the squared error against the top of the training rating
range (a history says what the user chose, not how they rated it). The objective is convex in
the user parameters, the steps are deterministic, and Adam updates every coordinate on its own,
so each history's result does not depend on the other histories in the batch. Gradient steps
were chosen over a least-squares fold-in because they optimise the loss the model was trained
with, whichever it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import Field

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.exceptions import ConfigError
from digirec.models.als import cosine_pairs, cosine_rows
from digirec.models.base import FactorQuery, FloatMatrix, IdxArray, ModelConfig, Recommender
from digirec.training.trainer import NeuralConfig, TrainHistory, with_best_epochs

if TYPE_CHECKING:
    import torch

    from digirec.models.neural.mf import MatrixFactorization
    from digirec.training.trainer import LossFn

#: Upper bound on the elements of one fold-in chunk's pairwise BPR tensor (memory guard).
_FOLD_IN_PAIR_BUDGET = 4_000_000


class MFConfig(NeuralConfig):
    """Configuration of :class:`MFModel`.

    Attributes
    ----------
    factors:
        Latent dimension of ``p_u`` and ``q_i``.
    objective:
        ``"implicit"`` (interactions as positives) or ``"explicit"`` (regress the ratings).
    loss:
        Implicit objective only: ``"softmax"`` (full softmax over items) or ``"bpr"``.
    init_std:
        Standard deviation of the initial factors.
    fold_in_steps, fold_in_lr, fold_in_reg:
        Adam steps, step size and L2 strength used to fold a history into a user vector.
    lr, weight_decay, batch_size, epochs, patience, eval_every:
        Adam on batches of ``batch_size`` (user, item) pairs; early stopping on validation
        NDCG@10 (implicit) or RMSE (explicit).
    n_threads, device, show_progress, checkpoint_dir, random_state:
        See :class:`digirec.training.trainer.NeuralConfig`.
    """

    factors: int = Field(64, ge=1, description="Latent dimension.")
    objective: Literal["implicit", "explicit"] = Field(
        "implicit", description="implicit (positives) or explicit (ratings)."
    )
    loss: Literal["softmax", "bpr"] = Field(
        "softmax", description="Implicit loss: full softmax or BPR with sampled negatives."
    )
    init_std: float = Field(0.1, gt=0, description="Std of the initial factors.")
    lr: float = Field(5e-3, gt=0, description="Adam learning rate.")
    batch_size: int = Field(1024, ge=1, description="(user, item) pairs per optimiser step.")
    epochs: int = Field(100, ge=1, description="Maximum epochs (exact count without validation).")
    patience: int = Field(5, ge=1, description="Evaluations without improvement before stopping.")
    fold_in_steps: int = Field(100, ge=1, description="Adam steps per history fold-in.")
    fold_in_lr: float = Field(0.05, gt=0, description="Fold-in step size.")
    fold_in_reg: float = Field(0.01, ge=0, description="Fold-in L2 strength.")


class MFModel(Recommender):
    """Matrix factorisation with biases, trained by the shared torch :class:`Trainer`.

    Scores are ``b + b_u + b_i + p_uᵀq_i``; :meth:`similar_items` is the cosine of the item
    factors; :meth:`predict_ratings` (explicit objective) predicts clipped ratings.

    Attributes
    ----------
    user_factors_, item_factors_:
        ``(n_users, factors)`` and ``(n_items, factors)`` float32.
    user_bias_, item_bias_:
        ``(n_users,)`` and ``(n_items,)`` float32.
    global_bias_:
        The offset ``b``.
    rating_range_:
        ``(min, max)`` rating seen in training (explicit objective; ``(0, 1)`` otherwise).
    history_:
        The :class:`~digirec.training.trainer.TrainHistory` of the fit.
    """

    name: ClassVar[str] = "mf"
    user_arrays: ClassVar[tuple[str, ...]] = ("user_factors_", "user_bias_")
    config_class: ClassVar[type[ModelConfig]] = MFConfig
    supports_history: ClassVar[bool] = True
    config: MFConfig

    user_factors_: NDArray[np.float32]
    item_factors_: NDArray[np.float32]
    user_bias_: NDArray[np.float32]
    item_bias_: NDArray[np.float32]
    global_bias_: float
    rating_range_: tuple[float, float]
    history_: TrainHistory | None

    # ------------------------------------------------------------------ fit
    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        import torch

        from digirec.models.neural.mf import MatrixFactorization
        from digirec.training.trainer import Trainer, seeded

        cfg = self.config
        explicit = cfg.objective == "explicit"
        users = dataset.user_idx
        items = dataset.item_idx
        ratings = _ratings(dataset) if explicit else None
        if ratings is not None:
            self.rating_range_ = (float(ratings.min()), float(ratings.max()))
        else:
            self.rating_range_ = (0.0, 1.0)

        with seeded(cfg.random_state):
            net = MatrixFactorization(dataset.n_users, dataset.n_items, cfg.factors, cfg.init_std)
            if ratings is not None:
                # Start at the mean rating: the factors then only learn the deviations.
                net.global_bias.data.fill_(float(ratings.mean()))

        # Copies: the dataset's arrays may be read-only views, which torch does not accept.
        users_t = torch.from_numpy(np.array(users, dtype=np.int64))
        items_t = torch.from_numpy(np.array(items, dtype=np.int64))
        ratings_t = None if ratings is None else torch.from_numpy(ratings.astype(np.float32))
        n_pairs = len(users)
        sampler = (
            _NegativeSampler(users, items, dataset.n_items)
            if not explicit and cfg.loss == "bpr"
            else None
        )

        def batches(rng: np.random.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
            order = rng.permutation(n_pairs)
            negatives = None if sampler is None else torch.from_numpy(sampler.sample(rng))
            for start in range(0, n_pairs, cfg.batch_size):
                idx = torch.from_numpy(order[start : start + cfg.batch_size])
                if ratings_t is not None:
                    yield users_t[idx], items_t[idx], ratings_t[idx]
                elif negatives is not None:
                    yield users_t[idx], items_t[idx], negatives[idx]
                else:
                    yield users_t[idx], items_t[idx]

        evaluate: Callable[[], float] | None = None
        if valid is not None and valid.n_interactions:
            evaluate = self._validation(valid, net)

        trainer = Trainer(
            cfg.trainer_config(
                mode="min" if explicit else "max",
                metric_name="rmse" if explicit else "ndcg@10",
                desc="mf",
            )
        )
        self.history_ = trainer.fit(net, batches, self._loss_fn(), evaluate)
        # A refit (no validation) then trains the validated number of epochs.
        self.fitted_config_ = with_best_epochs(self.config, self.history_)
        # The numpy factors are the model; the module is not kept.
        self._sync(net)

    def _loss_fn(self) -> LossFn:
        from digirec.models.neural.losses import bpr_loss, full_softmax_cross_entropy, mse_loss

        cfg = self.config

        def loss_fn(module: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            net = cast("MatrixFactorization", module)
            if cfg.objective == "explicit":
                users, items, ratings = batch
                return mse_loss(net(users, items), ratings)
            if cfg.loss == "bpr":
                users, items, negatives = batch
                return bpr_loss(net(users, items), net(users, negatives))
            users, items = batch
            return full_softmax_cross_entropy(net.score_all(users), items)

        return loss_fn

    def _validation(self, valid: Dataset, net: MatrixFactorization) -> Callable[[], float]:
        """The early-stopping metric: RMSE (explicit) or full-ranking NDCG@10 (implicit).

        Scoring reads the numpy factors, so each evaluation first copies the current weights.
        """
        from digirec.training.trainer import ranking_validation

        if self.config.objective == "implicit":
            ndcg = ranking_validation(self, valid)

            def evaluate_ranking() -> float:
                self._sync(net)
                return ndcg()

            return evaluate_ranking

        users, items = valid.user_idx, valid.item_idx
        truth = _ratings(valid)

        def evaluate_rmse() -> float:
            self._sync(net)
            predicted = self._predict_idx(users, items, clip=True)
            return float(np.sqrt(np.mean((predicted - truth) ** 2)))

        return evaluate_rmse

    def _sync(self, net: MatrixFactorization) -> None:
        """Copy the module's parameters into the numpy arrays that scoring uses."""

        def grab(t: torch.Tensor) -> NDArray[np.float32]:
            return np.ascontiguousarray(t.detach().float().cpu().numpy(), dtype=np.float32)

        self.user_factors_ = grab(net.user_factors.weight)
        self.item_factors_ = grab(net.item_factors.weight)
        self.user_bias_ = grab(net.user_bias.weight).ravel()
        self.item_bias_ = grab(net.item_bias.weight).ravel()
        self.global_bias_ = float(net.global_bias.detach().cpu())

    # ------------------------------------------------------------------ scoring
    def _score_users(self, user_idx: IdxArray) -> FloatMatrix:
        return self._score_vectors(self.user_factors_[user_idx], self.user_bias_[user_idx])

    def _score_vectors(
        self, vectors: NDArray[np.float32], biases: NDArray[np.float32]
    ) -> FloatMatrix:
        scores = vectors @ self.item_factors_.T
        scores += (self.global_bias_ + biases)[:, None] + self.item_bias_[None, :]
        return np.asarray(scores, dtype=np.float32)

    def _score_histories(self, histories: sp.csr_matrix) -> FloatMatrix:
        vectors, biases = self.fold_in(histories)
        return self._score_vectors(vectors, biases)

    def _similar_scores(self, item_idx: IdxArray) -> FloatMatrix:
        return cosine_rows(self.item_factors_, item_idx)

    def _similar_scores_at(self, item_idx: IdxArray, columns: IdxArray) -> FloatMatrix:
        return cosine_pairs(self.item_factors_, item_idx, columns)

    # ------------------------------------------------------------------ factor protocol
    # score = u . v + b_i + (b + b_u): the item bias is one more item column (query value 1)
    # and the global plus user bias, constant per user, the query's offset.
    def factor_item_vectors(self) -> FloatMatrix:
        items = np.hstack([self.item_factors_, self.item_bias_[:, None]])
        return np.ascontiguousarray(items, dtype=np.float32)

    def factor_user_queries(self, user_idx: IdxArray) -> tuple[FloatMatrix, FloatMatrix]:
        vectors = np.ones((len(user_idx), self.item_factors_.shape[1] + 1), dtype=np.float32)
        vectors[:, :-1] = self.user_factors_[user_idx]
        offsets = (self.global_bias_ + self.user_bias_[user_idx]).astype(np.float32)
        return vectors, offsets

    def factor_history_query(
        self, item_idx: Sequence[int], weights: Sequence[float] | None = None
    ) -> FactorQuery:
        del weights  # trained on the binary matrix: the items only
        folded, biases = self.fold_in(self._idx_history_matrix([item_idx]))
        vector = np.append(folded[0], np.float32(1.0)).astype(np.float32)
        return vector, float(self.global_bias_ + biases[0])

    def _predict_idx(self, users: IdxArray, items: IdxArray, *, clip: bool) -> NDArray[np.float64]:
        dot = np.einsum("nf,nf->n", self.user_factors_[users], self.item_factors_[items])
        predicted = (
            self.global_bias_ + self.user_bias_[users] + self.item_bias_[items] + dot
        ).astype(np.float64)
        if clip:
            predicted = np.clip(predicted, *self.rating_range_)
        return np.asarray(predicted, dtype=np.float64)

    def predict_ratings(
        self, user_ids: Sequence[object], item_ids: Sequence[object]
    ) -> NDArray[np.float64]:
        """Predicted ratings of the pairs ``(user_ids[n], item_ids[n])``, clipped to the range.

        Only for ``objective="explicit"``. Unknown ids raise :class:`UnknownIdError`.
        """
        self._check_fitted()
        if self.config.objective != "explicit":
            raise ConfigError("predict_ratings needs an MF model fitted with objective='explicit'")
        if len(user_ids) != len(item_ids):
            raise ValueError(
                f"user_ids and item_ids must have the same length ({len(user_ids)} != "
                f"{len(item_ids)})"
            )
        users = self.user_map_.to_internal([str(u) for u in user_ids])
        items = self.item_map_.to_internal([str(i) for i in item_ids])
        return self._predict_idx(users, items, clip=True)

    def fold_in(self, histories: sp.csr_matrix) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """User factors and biases for ``(n, n_items)`` binary histories (see the module doc)."""
        import torch

        from digirec.training.trainer import torch_threads

        csr = sp.csr_matrix(histories, dtype=np.float32)
        n_rows = csr.shape[0]
        vectors = np.zeros((n_rows, self.config.factors), dtype=np.float32)
        biases = np.zeros(n_rows, dtype=np.float32)
        if n_rows == 0:
            return vectors, biases
        longest = int(np.diff(csr.indptr).max())
        chunk = n_rows
        if self.config.objective == "implicit" and self.config.loss == "bpr":
            chunk = max(1, _FOLD_IN_PAIR_BUDGET // max(1, longest * self.n_items))
        with torch_threads(self.config.n_threads), torch.enable_grad():
            for start in range(0, n_rows, chunk):
                stop = min(start + chunk, n_rows)
                v, b = self._fold_in_chunk(csr[start:stop])
                vectors[start:stop], biases[start:stop] = v, b
        return vectors, biases

    def _fold_in_chunk(self, csr: sp.csr_matrix) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        import torch
        import torch.nn.functional as F

        cfg = self.config
        q = torch.from_numpy(self.item_factors_)
        offset = torch.from_numpy(self.item_bias_) + self.global_bias_
        mask = torch.from_numpy(np.asarray(csr.todense(), dtype=bool))
        sizes = mask.sum(1).clamp(min=1).float()
        vectors = torch.zeros(csr.shape[0], cfg.factors, requires_grad=True)
        biases = torch.zeros(csr.shape[0], requires_grad=True)
        explicit = cfg.objective == "explicit"
        # Only the explicit objective depends on the user bias (softmax and BPR are invariant).
        params = [vectors, biases] if explicit else [vectors]
        opt = torch.optim.Adam(params, lr=cfg.fold_in_lr)
        if cfg.loss == "bpr" and not explicit:
            positions, valid = _padded_positions(csr)
            n_negatives = (~mask).sum(1).clamp(min=1).float()
        for _ in range(cfg.fold_in_steps):
            opt.zero_grad()
            scores = vectors @ q.T + offset[None, :] + biases[:, None]
            if explicit:
                target = self.rating_range_[1]
                per_row = (((scores - target) ** 2) * mask).sum(1) / sizes
            elif cfg.loss == "bpr":
                positive = scores.gather(1, positions)  # (n, longest)
                pair = F.softplus(scores[:, None, :] - positive[:, :, None])
                pair = pair * (valid[:, :, None] & ~mask[:, None, :])
                per_row = pair.sum((1, 2)) / (sizes * n_negatives)
            else:
                per_row = -(torch.log_softmax(scores, dim=1) * mask).sum(1) / sizes
            # A sum over rows (not a mean): each row's gradient is independent of the batch.
            loss = per_row.sum() + 0.5 * cfg.fold_in_reg * ((vectors**2).sum() + (biases**2).sum())
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        return (
            vectors.detach().numpy().astype(np.float32),
            biases.detach().numpy().astype(np.float32),
        )

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, NDArray[Any]]:
        state: dict[str, NDArray[Any]] = {
            "user_factors": self.user_factors_,
            "item_factors": self.item_factors_,
            "user_bias": self.user_bias_,
            "item_bias": self.item_bias_,
            "global_bias": np.asarray([self.global_bias_], dtype=np.float64),
            "rating_range": np.asarray(self.rating_range_, dtype=np.float64),
        }
        if self.history_ is not None:
            state.update(self.history_.to_arrays())
        return state

    def _set_state(self, state: Mapping[str, NDArray[Any]]) -> None:
        self.user_factors_ = np.ascontiguousarray(state["user_factors"], dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(state["item_factors"], dtype=np.float32)
        self.user_bias_ = np.asarray(state["user_bias"], dtype=np.float32)
        self.item_bias_ = np.asarray(state["item_bias"], dtype=np.float32)
        self.global_bias_ = float(state["global_bias"][0])
        low, high = np.asarray(state["rating_range"], dtype=np.float64).tolist()
        self.rating_range_ = (float(low), float(high))
        self.history_ = TrainHistory.from_arrays(state)


# ---------------------------------------------------------------------- helpers
def _ratings(dataset: Dataset) -> NDArray[np.float64]:
    """The rating of every interaction row, or a ConfigError naming what is missing."""
    if C.RATING not in dataset.interactions.columns:
        raise ConfigError(
            f"MF with objective='explicit' needs a {C.RATING!r} column; "
            f"data set {dataset.name!r} has none"
        )
    ratings = dataset.interactions[C.RATING].to_numpy(dtype=np.float64)
    if np.isnan(ratings).any():
        raise ConfigError(f"data set {dataset.name!r} has interactions without a rating")
    return np.asarray(ratings, dtype=np.float64)


def _padded_positions(csr: sp.csr_matrix) -> tuple[torch.Tensor, torch.Tensor]:
    """Column indices of each row's items, padded to the longest row, and the validity mask."""
    import torch

    lengths = np.diff(csr.indptr)
    longest = max(1, int(lengths.max(initial=0)))
    positions = np.zeros((csr.shape[0], longest), dtype=np.int64)
    valid = np.arange(longest)[None, :] < lengths[:, None]
    positions[valid] = csr.indices
    return torch.from_numpy(positions), torch.from_numpy(valid)


class _NegativeSampler:
    """Uniform negatives for BPR: for each (user, item) pair an item the user has not seen."""

    def __init__(
        self, users: IdxArray, items: IdxArray, n_items: int, max_rounds: int = 20
    ) -> None:
        self.users = users
        self.n_items = n_items
        self.max_rounds = max_rounds
        self.positive_keys = np.unique(users * n_items + items)

    def sample(self, rng: np.random.Generator) -> NDArray[np.int64]:
        negatives = rng.integers(0, self.n_items, size=len(self.users), dtype=np.int64)
        # Rejection sampling, vectorised: redraw the pairs that hit a positive. A user who has
        # seen (almost) every item keeps a positive after max_rounds, which is harmless.
        for _ in range(self.max_rounds):
            keys = self.users * self.n_items + negatives
            hit = np.isin(keys, self.positive_keys, assume_unique=False)
            if not hit.any():
                break
            negatives[hit] = rng.integers(0, self.n_items, size=int(hit.sum()), dtype=np.int64)
        return negatives
