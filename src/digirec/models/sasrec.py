"""SASRec with full-softmax cross-entropy ("SASRec-CE"), the estimator wrapper.

The network (:mod:`digirec.models.neural.sasrec`) follows Kang & McAuley (ICDM 2018); the loss
follows Klenitskiy & Vasilev (RecSys 2023): at every position of a user's training sequence the
next item is predicted with a softmax over **all** items (no sampled negatives), which beats the
original binary loss with one sampled negative by a wide margin.

Training data
-------------
Each user's chronological training sequence ``s_1..s_n`` (``digirec.data.sequences``) keeps its
last ``max_len + 1`` items; inputs are ``s_1..s_{n-1}``, targets ``s_2..s_n`` (right-aligned,
left-padded, built once as two ``(n_users, max_len)`` arrays). Users with a single item have no
target and are skipped. The validation / test targets are not in the training sequence, so no
position ever trains on them.

Scoring
-------
A known user is scored from the last ``max_len`` items of their training sequence (stored in the
model, so a saved model serves without the training data): the scores are the logits of the last
position against all item embeddings. A history (new user, session) is scored the same way from
its ordered items. Early stopping uses full-ranking NDCG@10 on the validation targets through
exactly this path.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import Field

from digirec.data.dataset import Dataset
from digirec.data.sequences import user_sequences
from digirec.models.als import cosine_pairs, cosine_rows
from digirec.models.base import (
    FactorQuery,
    FloatMatrix,
    IdxArray,
    ModelConfig,
    Recommender,
    ordered_history_rows,
)
from digirec.training.trainer import NeuralConfig, TrainHistory, with_best_epochs

if TYPE_CHECKING:
    import torch

    from digirec.models.neural.sasrec import SASRec

STATE_PREFIX = "net."

logger = logging.getLogger(__name__)


class SASRecConfig(NeuralConfig):
    """Configuration of :class:`SASRecModel`.

    Attributes
    ----------
    hidden:
        Width of item / position embeddings and of every block.
    n_blocks:
        Number of self-attention blocks.
    n_heads:
        Attention heads (must divide ``hidden``).
    dropout:
        Dropout on embeddings, attention weights and feed-forward layers.
    max_len:
        Number of most recent items the model reads per user.
    lr, batch_size, epochs, patience, eval_every, weight_decay:
        Adam with ``lr`` on batches of ``batch_size`` users; at most ``epochs`` epochs, stopped
        after ``patience`` validation evaluations (every ``eval_every`` epochs) without a better
        NDCG@10. Without a validation set exactly ``epochs`` epochs are trained.
    n_threads, device, show_progress, checkpoint_dir, random_state:
        See :class:`digirec.training.trainer.NeuralConfig`.
    """

    hidden: int = Field(64, ge=1, description="Embedding and block width.")
    n_blocks: int = Field(2, ge=1, description="Self-attention blocks.")
    n_heads: int = Field(1, ge=1, description="Attention heads (divide hidden).")
    dropout: float = Field(0.3, ge=0.0, lt=1.0, description="Dropout rate.")
    max_len: int = Field(50, ge=1, description="Most recent items read per user.")
    batch_size: int = Field(128, ge=1, description="User sequences per optimiser step.")
    epochs: int = Field(200, ge=1, description="Maximum epochs (exact count without validation).")
    patience: int = Field(10, ge=1, description="Evaluations without improvement before stopping.")
    # Patience in optimiser updates (>= 100 between evaluations) and on a 3-evaluation mean: on
    # MovieLens-100K (8 updates per epoch, 943 noisy validation users) per-epoch patience stopped
    # at epoch ~40 while validation NDCG kept rising for another hundred epochs.
    min_steps_between_evals: int = Field(
        100, ge=0, description="Optimiser steps between two validation evaluations, at least."
    )
    smoothing_window: int = Field(
        3, ge=1, description="Evaluations averaged for the early-stopping decision."
    )
    n_negatives: int = Field(
        0,
        ge=0,
        description="0: full softmax over every item; n > 0: sampled softmax against n uniform "
        "negatives per batch (catalogues where batch x items logits are too big).",
    )


class SASRecModel(Recommender):
    """Sequential recommender: causal self-attention over each user's recent items.

    ``recommend`` scores a user from their most recent training items; ``recommend_from_history``
    scores any ordered item history without retraining (sessions, new users); ``similar_items``
    is the cosine of the (tied) item embeddings.

    Attributes
    ----------
    net_:
        The trained :class:`~digirec.models.neural.sasrec.SASRec` network (eval mode).
    user_seqs_:
        ``(n_users, max_len)`` int64 right-aligned token sequences (item index + 1, 0 = padding)
        that known users are scored from.
    history_:
        The :class:`~digirec.training.trainer.TrainHistory` of the fit (epochs, losses,
        validation NDCG@10, seconds per epoch).
    n_negatives_:
        Negatives of the sampled softmax the fit used (0: full softmax); differs from the
        config when the full softmax did not fit the memory budget (:func:`softmax_plan`).
    fit_info_:
        That choice with its memory estimate, for logs and the benchmark JSON.
    """

    name: ClassVar[str] = "sasrec"
    user_arrays: ClassVar[tuple[str, ...]] = ("user_seqs_",)
    config_class: ClassVar[type[ModelConfig]] = SASRecConfig
    supports_history: ClassVar[bool] = True
    config: SASRecConfig

    net_: SASRec
    user_seqs_: NDArray[np.int64]
    history_: TrainHistory | None
    n_negatives_: int
    fit_info_: dict[str, Any]

    # ------------------------------------------------------------------ fit
    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        import torch

        from digirec.models.neural.losses import (
            full_softmax_cross_entropy,
            sampled_softmax_cross_entropy,
        )
        from digirec.models.neural.sasrec import PAD
        from digirec.training.trainer import Trainer, ranking_validation, seeded

        cfg = self.config
        sequences = user_sequences(dataset)
        self.user_seqs_ = right_aligned(sequences, cfg.max_len)
        inputs, targets, lengths = next_item_examples(sequences, cfg.max_len)
        # Full softmax unless the logits of the largest possible batch would not fit the memory
        # budget; then the sampled softmax, recorded in n_negatives_ / fit_info_.
        self.n_negatives_, self.fit_info_ = softmax_plan(cfg, lengths, dataset.n_items)
        n_negatives = self.n_negatives_
        with seeded(cfg.random_state):
            self.net_ = self._build_net(dataset.n_items)

        inputs_t = torch.from_numpy(inputs)
        targets_t = torch.from_numpy(targets)
        n_rows, max_len = inputs.shape
        batch_size = cfg.batch_size

        def batches(rng: np.random.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            order = rng.permutation(n_rows)
            for start in range(0, n_rows, batch_size):
                rows = order[start : start + batch_size]
                # Right-aligned rows: the leading columns that are padding in every row carry no
                # information, so the batch is trimmed to its longest sequence (same result).
                width = int(lengths[rows].max())
                idx = torch.from_numpy(rows)
                yield inputs_t[idx, max_len - width :], targets_t[idx, max_len - width :]

        def loss_fn(
            module: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
        ) -> torch.Tensor:
            net = cast("SASRec", module)
            seqs, tgt = batch
            hidden = net.encode(seqs)
            # Only real targets enter the loss: padding positions are dropped before the
            # (n_targets x n_items) logits are formed, which also saves most of the compute.
            mask = tgt != PAD
            if n_negatives:
                return sampled_softmax_cross_entropy(
                    hidden[mask], net.item_vectors, tgt[mask] - 1, n_negatives
                )
            logits = net.logits(hidden[mask])
            return full_softmax_cross_entropy(logits, tgt[mask] - 1)

        evaluate = (
            ranking_validation(self, valid) if valid is not None and valid.n_interactions else None
        )
        trainer = Trainer(cfg.trainer_config(desc="sasrec"))
        self.history_ = trainer.fit(self.net_, batches, loss_fn, evaluate)
        # A refit (no validation) then trains the validated number of epochs.
        self.fitted_config_ = with_best_epochs(self.config, self.history_)

    def refit(self, dataset: Dataset) -> Recommender:
        """The validated network reading its users' sequences from ``dataset``.

        Early stopping chose these weights on validation; the final model for test keeps them
        and only takes each user's newest items (train + validation) as input -- exactly what a
        served model does when a user's new event arrives, and the SASRec paper's protocol.
        Retraining from scratch for the chosen number of epochs would cost a second full
        training run and give weights nobody validated (another random start; a noisy early
        stopping choice then under-trains it, as happened on MovieLens-100K). A ``dataset`` with
        other id maps gets a full retrain.
        """
        self._check_fitted()
        if not self._same_index_space(dataset):
            return super().refit(dataset)
        clone = copy.copy(self)
        clone.seen_ = dataset.user_item_matrix(binary=True)
        clone.user_seqs_ = right_aligned(user_sequences(dataset), self.config.max_len)
        return clone

    def _build_net(self, n_items: int) -> SASRec:
        from digirec.models.neural.sasrec import SASRec

        cfg = self.config
        return SASRec(
            n_items=n_items,
            max_len=cfg.max_len,
            hidden=cfg.hidden,
            n_blocks=cfg.n_blocks,
            n_heads=cfg.n_heads,
            dropout=cfg.dropout,
        )

    # ------------------------------------------------------------------ scoring
    def _score_users(self, user_idx: IdxArray) -> FloatMatrix:
        return self.score_sequences(self.user_seqs_[user_idx])

    def _score_histories(self, histories: sp.csr_matrix) -> FloatMatrix:
        ordered = ordered_history_rows(histories)
        return self.score_sequences(right_aligned(ordered, self.config.max_len))

    def _similar_scores(self, item_idx: IdxArray) -> FloatMatrix:
        return cosine_rows(self.item_vectors(), item_idx)

    def _similar_scores_at(self, item_idx: IdxArray, columns: IdxArray) -> FloatMatrix:
        return cosine_pairs(self.item_vectors(), item_idx, columns)

    def item_vectors(self) -> FloatMatrix:
        """The ``(n_items, hidden)`` item embeddings (input and output weights are tied)."""
        return np.asarray(self.net_.item_vectors.detach().float().cpu().numpy(), dtype=np.float32)

    # ------------------------------------------------------------------ factor protocol
    # A score is the last hidden state of the sequence times the tied item embeddings.
    def factor_item_vectors(self) -> FloatMatrix:
        return np.ascontiguousarray(self.item_vectors(), dtype=np.float32)

    def factor_user_queries(self, user_idx: IdxArray) -> tuple[FloatMatrix, FloatMatrix]:
        hidden = self.encode_sequences(self.user_seqs_[user_idx])
        return hidden, np.zeros(len(hidden), dtype=np.float32)

    def factor_history_query(
        self, item_idx: Sequence[int], weights: Sequence[float] | None = None
    ) -> FactorQuery:
        del weights  # trained on the binary matrix: the items only
        seqs = right_aligned([np.asarray(item_idx, dtype=np.int64)], self.config.max_len)
        return self.encode_sequences(seqs)[0], 0.0

    def encode_sequences(self, seqs: NDArray[np.int64]) -> FloatMatrix:
        """The last hidden state ``(n, hidden)`` of right-aligned token sequences: the query
        :meth:`score_sequences` multiplies with the item vectors."""
        import torch

        from digirec.training.trainer import module_device, torch_threads

        net = self.net_
        lengths = (seqs != 0).sum(axis=1)
        # Leading all-padding columns change nothing (as in score_sequences); keep one at least.
        width = max(1, int(lengths.max(initial=0)))
        chunk = torch.from_numpy(np.ascontiguousarray(seqs[:, seqs.shape[1] - width :]))
        was_training = net.training
        net.eval()
        try:
            with torch_threads(self.config.n_threads), torch.inference_mode():
                hidden = net.encode(chunk.to(module_device(net)))[:, -1]
            return np.ascontiguousarray(hidden.float().cpu().numpy(), dtype=np.float32)
        finally:
            net.train(was_training)

    def score_sequences(self, seqs: NDArray[np.int64], batch_size: int = 1024) -> FloatMatrix:
        """Next-item scores ``(n, n_items)`` of right-aligned token sequences ``(n, max_len)``."""
        import torch

        from digirec.training.trainer import module_device, torch_threads

        net = self.net_
        device = module_device(net)
        was_training = net.training
        net.eval()
        out = np.empty((len(seqs), self.net_.n_items), dtype=np.float32)
        lengths = (seqs != 0).sum(axis=1)
        max_len = seqs.shape[1]
        try:
            with torch_threads(self.config.n_threads), torch.inference_mode():
                for start in range(0, len(seqs), batch_size):
                    stop = start + batch_size
                    # Trim leading all-padding columns (identical scores, less compute); keep
                    # at least one column so that an empty history still has a last position.
                    width = max(1, int(lengths[start:stop].max(initial=0)))
                    chunk = torch.from_numpy(
                        np.ascontiguousarray(seqs[start:stop, max_len - width :])
                    )
                    out[start:stop] = net(chunk.to(device)).float().cpu().numpy()
        finally:
            net.train(was_training)
        return out

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, NDArray[Any]]:
        state: dict[str, NDArray[Any]] = {
            STATE_PREFIX + key: value.detach().cpu().numpy()
            for key, value in self.net_.state_dict().items()
        }
        state["user_seqs"] = self.user_seqs_
        if self.history_ is not None:
            state.update(self.history_.to_arrays())
        return state

    def _set_state(self, state: Mapping[str, NDArray[Any]]) -> None:
        import torch

        self.net_ = self._build_net(len(self.item_map_))
        weights = {
            key[len(STATE_PREFIX) :]: torch.from_numpy(np.array(value))
            for key, value in state.items()
            if key.startswith(STATE_PREFIX)
        }
        self.net_.load_state_dict(weights)
        self.net_.eval()
        self.user_seqs_ = np.asarray(state["user_seqs"], dtype=np.int64)
        self.history_ = TrainHistory.from_arrays(state)


# ---------------------------------------------------------------------- softmax memory
#: Negatives of the sampled softmax SASRec switches to when ``n_negatives=0`` (full softmax)
#: would not fit the memory budget.
AUTO_NEGATIVES = 1024


def softmax_plan(
    config: SASRecConfig, lengths: NDArray[np.int64], n_items: int
) -> tuple[int, dict[str, Any]]:
    """Negatives per batch (0 = full softmax) and the record of that choice.

    ``n_negatives > 0`` in the config is used as given. With ``0`` the full softmax is kept when
    the logits of the largest possible batch -- the ``batch_size`` longest training rows'
    targets x ``n_items`` (:func:`digirec.memory.softmax_bytes`) -- fit the memory budget
    (:func:`digirec.memory.memory_budget_bytes`); otherwise :data:`AUTO_NEGATIVES` shared
    uniform negatives are used, and a warning says so.
    """
    from digirec.memory import format_bytes, memory_budget_bytes, softmax_bytes

    largest = int(np.sort(lengths)[::-1][: config.batch_size].sum()) if len(lengths) else 0
    need = softmax_bytes(largest, n_items)
    info: dict[str, Any] = {"full_softmax_peak_bytes": need, "n_items": int(n_items)}
    if config.n_negatives:
        return config.n_negatives, {**info, "loss": "sampled", "n_negatives": config.n_negatives}
    budget = memory_budget_bytes()
    if need <= budget:
        return 0, {**info, "loss": "full", "n_negatives": 0}
    logger.warning(
        "SASRec: a full softmax over %d items needs about %s per batch (%d targets), more than "
        "the %s budget: training with a sampled softmax of %d negatives",
        n_items,
        format_bytes(need),
        largest,
        format_bytes(budget),
        AUTO_NEGATIVES,
    )
    return AUTO_NEGATIVES, {
        **info,
        "loss": "sampled",
        "n_negatives": AUTO_NEGATIVES,
        "switched_from_full": True,
        "memory_budget_bytes": int(min(budget, 2**53)),
    }


# ---------------------------------------------------------------------- sequence arrays
def _flatten(sequences: Sequence[NDArray[np.int64]]) -> tuple[NDArray[np.int64], ...]:
    """Concatenated items, their row and their distance from the row's end (0 = last item)."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    items = (
        np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
        if len(sequences)
        else np.zeros(0, dtype=np.int64)
    )
    rows = np.repeat(np.arange(len(sequences), dtype=np.int64), lengths)
    ends = np.cumsum(lengths)
    from_end = np.repeat(ends, lengths) - 1 - np.arange(len(items), dtype=np.int64)
    return items, rows, from_end, lengths


def right_aligned(sequences: Sequence[NDArray[np.int64]], max_len: int) -> NDArray[np.int64]:
    """The last ``max_len`` items of each sequence as tokens (item + 1), left-padded with 0."""
    items, rows, from_end, _ = _flatten(sequences)
    out = np.zeros((len(sequences), max_len), dtype=np.int64)
    keep = from_end < max_len
    out[rows[keep], max_len - 1 - from_end[keep]] = items[keep] + 1
    return out


def next_item_examples(
    sequences: Sequence[NDArray[np.int64]], max_len: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Right-aligned ``(inputs, targets, lengths)`` for next-item training.

    For a sequence ``s_1..s_n``: inputs are the tokens of ``s_{n-m}..s_{n-1}`` and targets those
    of ``s_{n-m+1}..s_n`` in the same columns, with ``m = min(n - 1, max_len)``; everything else
    is 0. Rows without a target (``n < 2``) are dropped; ``lengths`` is ``m`` per kept row.
    """
    items, rows, from_end, lengths = _flatten(sequences)
    inputs = np.zeros((len(sequences), max_len), dtype=np.int64)
    targets = np.zeros((len(sequences), max_len), dtype=np.int64)
    # The item at distance r from the end is the input at column max_len - r (r >= 1) and the
    # target at column max_len - 1 - r (r <= n - 2, i.e. it has a predecessor).
    is_input = (from_end >= 1) & (from_end <= max_len)
    inputs[rows[is_input], max_len - from_end[is_input]] = items[is_input] + 1
    has_input = from_end <= np.repeat(lengths, lengths) - 2
    is_target = (from_end <= max_len - 1) & has_input
    targets[rows[is_target], max_len - 1 - from_end[is_target]] = items[is_target] + 1
    kept = lengths >= 2
    return inputs[kept], targets[kept], np.minimum(lengths[kept] - 1, max_len)
