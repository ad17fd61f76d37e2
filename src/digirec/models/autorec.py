"""I-AutoRec: an item-based autoencoder for rating prediction (Sedhain et al., WWW 2015).

Every item is the vector of the ratings its users gave it; the network
:class:`~digirec.models.neural.autorec.ItemAutoRec` squeezes that vector through a sigmoid
bottleneck of ``hidden`` units and reconstructs it. The prediction for ``(u, i)`` is the ``u``-th
output for item ``i``'s vector: ``r̂_ui = W_u · σ(V r_i + μ) + b_u``.

Objectives (``objective``):

- ``"explicit"``: the paper's objective, squared error over the **observed** ratings only plus
  ``weight_decay/2 · (‖V‖² + ‖W‖²)`` (``weight_decay`` is the paper's λ, in the units of that
  summed objective, not Adam's per-step decay). Early stopping on validation RMSE.
  :meth:`AutoRecModel.predict_ratings` clips to the training rating range.
- ``"implicit"``: every cell of an item's binary interaction vector is a target (unobserved = 0),
  so the reconstruction ranks the items a user is likely to have; early stopping on NDCG@10.
- ``"auto"`` (default): explicit when the training data has a complete ``rating`` column,
  implicit otherwise. The resolved choice is stored as ``objective_``.

The objective is minimised with Adam on mini-batches of items; each batch carries its share of
the penalty so that one epoch sums to the full objective. After the fit the model keeps the
item codes ``h_i``, the decoder weights ``W`` (one row per user) and biases ``b`` (serving needs
no training data) and scores like a factorisation: ``scores = W_u · H^T + b_u``.
:meth:`similar_items` is the cosine of the item codes.

I-AutoRec has no user vector to fold a new history into (users are its *output* coordinates),
so ``recommend_from_history`` is not supported.
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
from digirec.models.base import FloatMatrix, IdxArray, ModelConfig, Recommender
from digirec.training.trainer import NeuralConfig, TrainHistory, with_best_epochs

if TYPE_CHECKING:
    import torch

    from digirec.models.neural.autorec import ItemAutoRec

Objective = Literal["auto", "explicit", "implicit"]

#: Items encoded per forward pass when the codes are computed after (or during) training.
_ENCODE_CHUNK = 4096


class AutoRecConfig(NeuralConfig):
    """Configuration of :class:`AutoRecModel`.

    Attributes
    ----------
    hidden:
        Width of the sigmoid bottleneck (the paper uses 500).
    objective:
        ``"explicit"``, ``"implicit"`` or ``"auto"`` (explicit when ratings are present).
    weight_decay:
        λ of the paper: the L2 penalty ``λ/2 (‖V‖² + ‖W‖²)`` added to the *summed* squared error
        (biases are not penalised). Adam itself runs without decay.
    lr, batch_size, epochs, patience, eval_every:
        Adam on batches of ``batch_size`` items; early stopping on validation RMSE (explicit)
        or NDCG@10 (implicit).
    n_threads, device, show_progress, checkpoint_dir, random_state:
        See :class:`digirec.training.trainer.NeuralConfig`.
    """

    hidden: int = Field(500, ge=1, description="Width of the sigmoid bottleneck.")
    objective: Objective = Field(
        "auto", description="explicit (ratings), implicit (binary) or auto (by the data)."
    )
    weight_decay: float = Field(
        100.0, ge=0, description="λ of the L2 penalty on the summed squared error."
    )
    lr: float = Field(2e-3, gt=0, description="Adam learning rate.")
    batch_size: int = Field(256, ge=1, description="Items per optimiser step.")
    epochs: int = Field(100, ge=1, description="Maximum epochs (exact count without validation).")


class AutoRecModel(Recommender):
    """Item-based AutoRec, trained by the shared torch :class:`Trainer` (see the module doc).

    Attributes
    ----------
    item_codes_:
        ``(n_items, hidden)`` float32 bottleneck codes of the training item vectors.
    user_weights_, user_bias_:
        ``(n_users, hidden)`` and ``(n_users,)`` float32: the decoder, one row per user.
    objective_:
        The objective actually used (``"explicit"`` or ``"implicit"``).
    rating_range_:
        ``(min, max)`` rating seen in training (``(0, 1)`` for the implicit objective).
    history_:
        The :class:`~digirec.training.trainer.TrainHistory` of the fit.
    """

    name: ClassVar[str] = "autorec"
    user_arrays: ClassVar[tuple[str, ...]] = ("user_weights_", "user_bias_")
    config_class: ClassVar[type[ModelConfig]] = AutoRecConfig
    config: AutoRecConfig

    item_codes_: NDArray[np.float32]
    user_weights_: NDArray[np.float32]
    user_bias_: NDArray[np.float32]
    objective_: Literal["explicit", "implicit"]
    rating_range_: tuple[float, float]
    history_: TrainHistory | None

    # ------------------------------------------------------------------ fit
    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        import torch

        from digirec.models.neural.autorec import ItemAutoRec
        from digirec.training.trainer import Trainer, seeded

        cfg = self.config
        self.objective_ = _resolve_objective(cfg.objective, dataset)
        explicit = self.objective_ == "explicit"
        if explicit:
            ratings = _ratings(dataset)
            self.rating_range_ = (float(ratings.min()), float(ratings.max()))
        else:
            ratings = np.ones(dataset.n_interactions, dtype=np.float64)
            self.rating_range_ = (0.0, 1.0)
        items_by_users = _item_matrix(dataset, ratings)
        n_items, n_users = items_by_users.shape
        # The explicit loss counts observed cells; the implicit one every cell.
        n_targets = items_by_users.nnz if explicit else n_items * n_users
        n_targets = max(n_targets, 1)

        with seeded(cfg.random_state):
            net = ItemAutoRec(n_users, cfg.hidden)

        def batches(rng: np.random.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
            order = rng.permutation(n_items)
            for start in range(0, n_items, cfg.batch_size):
                rows = items_by_users[order[start : start + cfg.batch_size]]
                # Dense per batch only: the whole items x users matrix may not fit in memory.
                dense = torch.from_numpy(np.asarray(rows.toarray(), dtype=np.float32))
                if explicit:
                    observed = torch.from_numpy(np.asarray((rows != 0).toarray(), dtype=np.float32))
                    yield dense, observed
                else:
                    yield (dense,)

        def loss_fn(module: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            model = cast("ItemAutoRec", module)
            vectors = batch[0]
            error: torch.Tensor = model(vectors) - vectors
            if explicit:
                error = error * batch[1]
            # This batch's share of the summed objective, rescaled to a per-target mean so the
            # reported loss reads like an MSE (+ penalty) whatever the batch size.
            share = vectors.shape[0] / n_items
            penalty = 0.5 * cfg.weight_decay * share * model.weight_norm()
            loss: torch.Tensor = (error.pow(2).sum() + penalty) / (share * n_targets)
            return loss

        evaluate: Callable[[], float] | None = None
        if valid is not None and valid.n_interactions:
            evaluate = self._validation(valid, net, items_by_users)

        trainer = Trainer(
            cfg.trainer_config(
                mode="min" if explicit else "max",
                metric_name="rmse" if explicit else "ndcg@10",
                desc="autorec",
            )
        )
        self.history_ = trainer.fit(
            net,
            batches,
            loss_fn,
            evaluate,
            # The penalty is in the loss (the paper's λ); Adam must not decay on top of it.
            optimizer=lambda module: torch.optim.Adam(module.parameters(), lr=cfg.lr),
        )
        # A refit (no validation) then trains the validated number of epochs.
        self.fitted_config_ = with_best_epochs(self.config, self.history_)
        self._sync(net, items_by_users)

    def _validation(
        self, valid: Dataset, net: ItemAutoRec, items_by_users: sp.csr_matrix
    ) -> Callable[[], float]:
        """The early-stopping metric: RMSE (explicit) or full-ranking NDCG@10 (implicit)."""
        from digirec.training.trainer import ranking_validation

        if self.objective_ == "implicit":
            ndcg = ranking_validation(self, valid)

            def evaluate_ranking() -> float:
                self._sync(net, items_by_users)
                return ndcg()

            return evaluate_ranking

        users, items = valid.user_idx, valid.item_idx
        truth = _ratings(valid)

        def evaluate_rmse() -> float:
            self._sync(net, items_by_users)
            predicted = self._predict_idx(users, items, clip=True)
            return float(np.sqrt(np.mean((predicted - truth) ** 2)))

        return evaluate_rmse

    def _sync(self, net: ItemAutoRec, items_by_users: sp.csr_matrix) -> None:
        """Encode every training item vector and copy the decoder into numpy arrays."""
        import torch

        from digirec.training.trainer import module_device

        device = module_device(net)
        codes = np.empty((items_by_users.shape[0], net.hidden), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, items_by_users.shape[0], _ENCODE_CHUNK):
                rows = items_by_users[start : start + _ENCODE_CHUNK].toarray()
                dense = torch.from_numpy(np.asarray(rows, dtype=np.float32)).to(device)
                codes[start : start + len(rows)] = net.encode(dense).float().cpu().numpy()
            self.item_codes_ = codes
            self.user_weights_ = np.ascontiguousarray(
                net.decoder.weight.detach().float().cpu().numpy(), dtype=np.float32
            )
            self.user_bias_ = np.ascontiguousarray(
                net.decoder.bias.detach().float().cpu().numpy(), dtype=np.float32
            )

    # ------------------------------------------------------------------ scoring
    def _score_users(self, user_idx: IdxArray) -> FloatMatrix:
        scores = self.user_weights_[user_idx] @ self.item_codes_.T
        scores += self.user_bias_[user_idx][:, None]
        return np.asarray(scores, dtype=np.float32)

    def _similar_scores(self, item_idx: IdxArray) -> FloatMatrix:
        return cosine_rows(self.item_codes_, item_idx)

    def _similar_scores_at(self, item_idx: IdxArray, columns: IdxArray) -> FloatMatrix:
        return cosine_pairs(self.item_codes_, item_idx, columns)

    def _predict_idx(self, users: IdxArray, items: IdxArray, *, clip: bool) -> NDArray[np.float64]:
        dot = np.einsum("nh,nh->n", self.user_weights_[users], self.item_codes_[items])
        predicted = (dot + self.user_bias_[users]).astype(np.float64)
        if clip:
            predicted = np.clip(predicted, *self.rating_range_)
        return np.asarray(predicted, dtype=np.float64)

    def predict_ratings(
        self, user_ids: Sequence[object], item_ids: Sequence[object]
    ) -> NDArray[np.float64]:
        """Predicted ratings of the pairs ``(user_ids[n], item_ids[n])``, clipped to the range.

        Only after an explicit fit. Unknown ids raise :class:`UnknownIdError`.

        Parameters
        ----------
        user_ids, item_ids:
            External ids of equal length.

        Returns
        -------
        ``(n,)`` float64 predictions within :attr:`rating_range_`.
        """
        self._check_fitted()
        if self.objective_ != "explicit":
            raise ConfigError("predict_ratings needs an AutoRec model fitted on explicit ratings")
        if len(user_ids) != len(item_ids):
            raise ValueError(
                f"user_ids and item_ids must have the same length ({len(user_ids)} != "
                f"{len(item_ids)})"
            )
        users = self.user_map_.to_internal([str(u) for u in user_ids])
        items = self.item_map_.to_internal([str(i) for i in item_ids])
        return self._predict_idx(users, items, clip=True)

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, NDArray[Any]]:
        state: dict[str, NDArray[Any]] = {
            "item_codes": self.item_codes_,
            "user_weights": self.user_weights_,
            "user_bias": self.user_bias_,
            "objective": np.asarray([self.objective_], dtype=str),
            "rating_range": np.asarray(self.rating_range_, dtype=np.float64),
        }
        if self.history_ is not None:
            state.update(self.history_.to_arrays())
        return state

    def _set_state(self, state: Mapping[str, NDArray[Any]]) -> None:
        self.item_codes_ = np.ascontiguousarray(state["item_codes"], dtype=np.float32)
        self.user_weights_ = np.ascontiguousarray(state["user_weights"], dtype=np.float32)
        self.user_bias_ = np.asarray(state["user_bias"], dtype=np.float32)
        self.objective_ = "explicit" if str(state["objective"][0]) == "explicit" else "implicit"
        low, high = np.asarray(state["rating_range"], dtype=np.float64).tolist()
        self.rating_range_ = (float(low), float(high))
        self.history_ = TrainHistory.from_arrays(state)


# ---------------------------------------------------------------------- helpers
def _has_ratings(dataset: Dataset) -> bool:
    if C.RATING not in dataset.interactions.columns or dataset.n_interactions == 0:
        return False
    values = dataset.interactions[C.RATING].to_numpy(dtype=np.float64)
    return bool(np.isfinite(values).all())


def _resolve_objective(objective: Objective, dataset: Dataset) -> Literal["explicit", "implicit"]:
    if objective == "auto":
        return "explicit" if _has_ratings(dataset) else "implicit"
    return objective


def _ratings(dataset: Dataset) -> NDArray[np.float64]:
    """The rating of every interaction row, or a ConfigError naming what is missing."""
    if C.RATING not in dataset.interactions.columns:
        raise ConfigError(
            f"AutoRec with objective='explicit' needs a {C.RATING!r} column; "
            f"data set {dataset.name!r} has none"
        )
    ratings = dataset.interactions[C.RATING].to_numpy(dtype=np.float64)
    if not np.isfinite(ratings).all():
        raise ConfigError(f"data set {dataset.name!r} has interactions without a rating")
    if (ratings == 0).any():
        # A zero is indistinguishable from "not rated" in the item vectors.
        raise ConfigError("AutoRec needs non-zero ratings (0 marks a missing rating)")
    return np.asarray(ratings, dtype=np.float64)


def _item_matrix(dataset: Dataset, values: NDArray[np.float64]) -> sp.csr_matrix:
    """The items x users CSR matrix of ``values`` (a repeated pair keeps its last value).

    This is the transpose of :meth:`Dataset.user_item_matrix` with rating values; it is built
    here because the dataset's matrix sums repeated pairs, which would add ratings together.
    """
    keys = dataset.item_idx * max(dataset.n_users, 1) + dataset.user_idx
    # The last occurrence of each key wins: unique on the reversed keys finds it.
    _, last_reversed = np.unique(keys[::-1], return_index=True)
    keep = len(keys) - 1 - last_reversed
    return sp.csr_matrix(
        (
            values[keep].astype(np.float32),
            (dataset.item_idx[keep], dataset.user_idx[keep]),
        ),
        shape=(dataset.n_items, dataset.n_users),
        dtype=np.float32,
    )
