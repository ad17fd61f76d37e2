"""Two-tower hybrid recommender: id embeddings plus content, profiles and history, for cold start.

The network (:mod:`digirec.models.neural.twotower`) has an **item tower** reading the item id
and its catalogue content, and a **user tower** reading the user id, given attributes, the
behavioural profile and the pooled item-tower vectors of the user's recent items. A score is
the cosine (or dot product) of the two towers divided by a temperature, plus an item bias the
item tower also outputs (popularity, learnt from content for cold items).

Inputs
------
- Item content (``use_catalog``, needs ``dataset.items``): the catalogue features of
  :func:`digirec.features.catalog.build_item_features` (brand / category / sub-category
  one-hot, genres / feature tags multi-hot, price bands, log price, numeric specs), the
  standardised release date where the catalogue has a ``release_date`` column, a text
  embedding of title, brand, category and description (``text_encoder``: TF-IDF + SVD by
  default, or the offline MiniLM / multilingual USE encoders reduced by PCA; ``text_dim``
  dimensions), and optional precomputed image vectors (``image_vectors`` path, or an
  ``(n_items, d)`` array in ``dataset.extras["image_vectors"]``).
- User features (``use_user_features``): :func:`digirec.features.profile.build_profiles` on the
  training data, split into the *attributes* (``attr:*`` columns: age, gender, occupation ...,
  known even for a user without events) and the *behavioural profile* (affinities, activity,
  recency, budget: known only for users with training events).
- History: the user's last ``history_len`` training items, mean-pooled through the item tower.

Without a catalogue or a user table the model still works (ids, activity profile and history);
it then cannot say anything about an item nobody interacted with, so
``requires_item_features`` is ``False`` but cold items need ``dataset.items``.

Cold start
----------
An id that had no training interaction has an untrained embedding, so scoring always zeroes
the item id for items without training interactions and the user id (and the behavioural
profile and history, which are empty) for users without training interactions. Training
prepares the towers for that:

- **id dropout**: each batch zeroes a random ``id_dropout`` share of the item ids and of the
  users' ids, so the content path alone must rank items, and the feature path alone users
  (item ids are never dropped when there is no item content: nothing else could score them);
- **cold-user examples**: a ``cold_user_rate`` share of the examples show the user by
  attributes only (no id, profile or history) -- what ``recommend`` sees for a new user with a
  registration record;
- **history-only examples**: a ``history_only_rate`` share show the user by the recent history
  only -- what ``recommend_from_history`` sees for a session;
- items without training interactions are left out of the training softmax (they are "not yet
  released" from the training data's point of view): as eternal negatives their content would
  learn "never relevant", which is exactly wrong once they appear.

Training examples
-----------------
Every training interaction is a target; the history of that example is the user's items
*before* it (at most ``history_len``), so the tower learns to predict the next item from the
past and never sees the target in its own input. The behavioural profile obeys the same rule
(:func:`prefix_profiles`): training shows each user's profile of the *first half* of their
training events, and only with the examples of the second half, so no example's profile
contains its own target (or anything after it); scoring and early stopping read the profile of
all training events, as a served model does. Content recipes (catalogue vocabularies, TF-IDF,
SVD / PCA, release-date moments) are fitted on the training items only
(:func:`item_content_matrix`). Loss: a full softmax over all items with
training interactions (``loss="full"``), or a sampled softmax (``loss="sampled"``) with
``n_negatives`` shared negatives drawn from the training item frequencies and the log-Q
correction (every logit minus the log of its expected sample count; Bengio & Senécal 2008,
Yi et al. 2019), accidental hits masked. Early stopping uses full-ranking NDCG@10 on the
validation set through the same scoring path as ``recommend``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, cast

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import Field, model_validator

from digirec.data.dataset import Dataset
from digirec.data.sequences import user_sequences
from digirec.exceptions import ConfigError
from digirec.features.text import DEFAULT_TEXT_FIELDS
from digirec.models.als import cosine_pairs, cosine_rows
from digirec.models.base import (
    FloatMatrix,
    IdxArray,
    ModelConfig,
    Recommender,
    ordered_history_rows,
    zero_rows,
)
from digirec.training.trainer import NeuralConfig, TrainHistory, with_best_epochs

if TYPE_CHECKING:
    import torch

    from digirec.models.neural.twotower import TwoTower

STATE_PREFIX = "net."
#: Saved sparse feature blocks (state keys ``<name>.indptr`` ...).
FEATURE_BLOCKS = ("item_content", "user_attributes", "user_profile")
#: Profile column prefix of given user attributes (see ``UserProfiles.feature_matrix``).
ATTRIBUTE_PREFIX = "attr:"
#: Catalogue column with a product's release date (MovieLens, the synthetic shop).
RELEASE_DATE = "release_date"
#: ``dataset.extras`` key of an optional ``(n_items, d)`` array of image vectors.
IMAGE_VECTORS_EXTRA = "image_vectors"
_PAD = -1


logger = logging.getLogger(__name__)


class TwoTowerConfig(NeuralConfig):
    """Configuration of :class:`TwoTowerModel`.

    Attributes
    ----------
    dim:
        Width of id embeddings, feature projections and tower outputs.
    hidden, n_layers, dropout:
        Hidden width, number of hidden layers and dropout of each tower. The default 0 gives
        linear towers over the concatenated inputs (LightFM-like): on MovieLens-100K they
        ranked cold items better than one hidden layer (Recall@20 0.41 vs 0.36 among the
        held-out items) at a slightly lower warm NDCG@10, and they escape the
        popularity-only start far sooner on data without content. ``hidden`` and ``dropout``
        apply only with ``n_layers >= 1``.
    id_dropout:
        Share of item ids and user ids zeroed in each training batch (cold-start training).
    cold_user_rate:
        Share of training examples that show the user by attributes only.
    history_only_rate:
        Share of training examples that show the user by the recent history only.
    history_len:
        Recent items pooled into the user tower.
    use_catalog:
        Read item content from ``dataset.items`` when there is one.
    text_encoder:
        ``"tfidf"`` (TF-IDF + SVD, no extra dependency), ``"minilm"`` / ``"use"`` (offline
        sentence encoders, ``text`` extra) or ``"none"``.
    text_dim:
        Dimensions of the text embedding (SVD / PCA components).
    text_fields:
        Catalogue columns joined into an item's text.
    image_vectors:
        Path of precomputed image vectors (see :func:`digirec.features.image.load_image_vectors`).
    use_user_features:
        Read user attributes and behavioural profiles.
    loss:
        ``"full"`` softmax over all training items or ``"sampled"`` softmax with log-Q correction.
    n_negatives:
        Shared negatives per batch of the sampled softmax.
    temperature:
        Scores are divided by it (with cosine scores, 0.05-0.2 works; 1.0 for dot products).
    normalize:
        Cosine scores (default) instead of dot products. On MovieLens-100K and Office the
        cosine with temperature 0.1 gave the best warm validation NDCG@10 and cold-start
        recall within noise of the best, so it is the default.
    lr, weight_decay, batch_size, epochs, patience, eval_every:
        Adam on batches of ``batch_size`` (user, next item) examples; early stopping on
        validation NDCG@10.
    n_threads, device, show_progress, checkpoint_dir, random_state:
        See :class:`digirec.training.trainer.NeuralConfig`.
    """

    dim: int = Field(64, ge=1, description="Embedding and tower output width.")
    hidden: int = Field(128, ge=1, description="Hidden width of each tower's MLP.")
    n_layers: int = Field(0, ge=0, description="Hidden layers per tower (0: linear).")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="Dropout inside the towers.")
    id_dropout: float = Field(
        0.5, ge=0.0, lt=1.0, description="Share of ids zeroed per batch (cold-start training)."
    )
    cold_user_rate: float = Field(
        0.2, ge=0.0, lt=1.0, description="Share of examples showing the user by attributes only."
    )
    history_only_rate: float = Field(
        0.2, ge=0.0, lt=1.0, description="Share of examples showing the user by history only."
    )
    history_len: int = Field(20, ge=1, description="Recent items pooled into the user tower.")
    use_catalog: bool = Field(True, description="Use dataset.items as item content.")
    text_encoder: Literal["tfidf", "minilm", "use", "none"] = Field(
        "tfidf", description="Text embedding of the catalogue text."
    )
    text_dim: int = Field(64, ge=1, description="Text embedding dimensions.")
    text_fields: tuple[str, ...] = Field(
        DEFAULT_TEXT_FIELDS, description="Catalogue columns joined into the item text."
    )
    image_vectors: str | None = Field(None, description="Path of precomputed image vectors.")
    use_user_features: bool = Field(True, description="Use user attributes and profiles.")
    loss: Literal["full", "sampled"] = Field(
        "full", description="Full softmax or sampled softmax with log-Q correction."
    )
    n_negatives: int = Field(1024, ge=1, description="Sampled-softmax negatives per batch.")
    temperature: float = Field(0.1, gt=0.0, description="Scores are divided by it.")
    normalize: bool = Field(True, description="Cosine instead of dot-product scores.")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate.")
    batch_size: int = Field(512, ge=1, description="Examples per optimiser step.")
    epochs: int = Field(50, ge=1, description="Maximum epochs (exact count without validation).")
    patience: int = Field(5, ge=1, description="Evaluations without improvement before stopping.")

    @model_validator(mode="after")
    def _check_rates(self) -> Self:
        if self.cold_user_rate + self.history_only_rate >= 1.0:
            raise ValueError("cold_user_rate + history_only_rate must be below 1")
        return self


class TwoTowerModel(Recommender):
    """Hybrid two-tower recommender for warm and cold users and items (see the module doc).

    ``recommend`` scores known users (a user without training events from attributes alone);
    ``recommend_from_history`` scores any item history without retraining; items without
    training interactions are scored from their content. ``similar_items`` is the cosine of
    the item-tower vectors.

    Attributes
    ----------
    net_:
        The trained :class:`~digirec.models.neural.twotower.TwoTower` network (eval mode).
    item_content_, user_attributes_, user_profile_:
        Sparse feature matrices the towers read (``None`` for an absent block).
    user_history_:
        ``(n_users, history_len)`` int64 last training items per user (``-1`` = padding).
    item_has_id_, user_has_id_:
        Which items / users had training interactions (their ids are used when scoring).
    history_:
        The :class:`~digirec.training.trainer.TrainHistory` of the fit.
    """

    name: ClassVar[str] = "twotower"
    config_class: ClassVar[type[ModelConfig]] = TwoTowerConfig
    supports_history: ClassVar[bool] = True
    supports_cold_items: ClassVar[bool] = True
    requires_item_features: ClassVar[bool] = False
    config: TwoTowerConfig

    net_: TwoTower
    item_content_: sp.csr_matrix | None
    user_attributes_: sp.csr_matrix | None
    user_profile_: sp.csr_matrix | None
    user_history_: NDArray[np.int64]
    item_has_id_: NDArray[np.bool_]
    user_has_id_: NDArray[np.bool_]
    history_: TrainHistory | None
    loss_: str
    fit_info_: dict[str, Any]

    def __init__(
        self, config: ModelConfig | Mapping[str, Any] | None = None, **params: Any
    ) -> None:
        super().__init__(config, **params)
        # Item-tower outputs of the current weights, computed once per scoring state.
        self._item_cache: torch.Tensor | None = None

    # ------------------------------------------------------------------ features
    def _build_features(self, dataset: Dataset) -> None:
        cfg = self.config
        self.item_content_ = (
            item_content_matrix(dataset, cfg)
            if cfg.use_catalog and dataset.items is not None
            else None
        )
        self.user_attributes_, self.user_profile_ = (
            user_feature_matrices(dataset) if cfg.use_user_features else (None, None)
        )
        # Training reads a leak-free profile: the user's first half of the training events
        # only, shown with the examples of the second half (see the module doc).
        self._train_profile: sp.csr_matrix | None = None
        self._profile_cut = np.zeros(dataset.n_users, dtype=np.int64)
        if self.user_profile_ is not None:
            self._train_profile, self._profile_cut = prefix_profiles(dataset)
            if self._train_profile is None or (
                self._train_profile.shape != self.user_profile_.shape
            ):
                # No prefix events at all (or, defensively, other columns): a profile that
                # training never showed leak-free would only add noise, so none is used.
                self._train_profile = self.user_profile_ = None

    # ------------------------------------------------------------------ fit
    def _softmax_choice(self, n_train_items: int) -> TwoTowerConfig:
        """The config the batches are built with: ``loss="sampled"`` when the full softmax's
        three float32 ``batch_size x n_train_items`` arrays exceed the memory budget."""
        from digirec.memory import format_bytes, memory_budget_bytes, softmax_bytes

        cfg = self.config
        need = softmax_bytes(cfg.batch_size, n_train_items)
        self.loss_ = cfg.loss
        self.fit_info_ = {"loss": cfg.loss, "full_softmax_peak_bytes": need}
        if cfg.loss == "full" and need > (budget := memory_budget_bytes()):
            logger.warning(
                "two-tower: a full softmax over %d items needs about %s per batch, more than "
                "the %s budget: training with a sampled softmax of %d negatives",
                n_train_items,
                format_bytes(need),
                format_bytes(budget),
                cfg.n_negatives,
            )
            self.loss_ = "sampled"
            self.fit_info_.update(loss="sampled", n_negatives=cfg.n_negatives)
            self.fit_info_["switched_from_full"] = True
            return cfg.model_copy(update={"loss": "sampled"})
        return cfg

    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        from digirec.training.trainer import Trainer, seeded

        cfg = self.config
        self._item_cache = None
        self._build_features(dataset)
        sequences = user_sequences(dataset)
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        item_counts = np.bincount(dataset.item_idx, minlength=dataset.n_items)
        self.user_has_id_ = lengths > 0
        self.item_has_id_ = item_counts > 0
        self.user_history_ = last_items(sequences, cfg.history_len)
        with seeded(cfg.random_state):
            self.net_ = self._build_net(dataset.n_users, dataset.n_items)
        self._use_profile(self._train_profile)

        # Without item content a dropped item id leaves nothing to score the item by: the
        # example would teach noise, so item ids are then never dropped.
        item_id_dropout = cfg.id_dropout if self.item_content_ is not None else 0.0
        # A full softmax whose (batch x training items) logits would not fit the memory budget
        # trains with the sampled softmax instead; the choice is learned (loss_, fit_info_).
        train_cfg = self._softmax_choice(int((item_counts > 0).sum()))
        batches = _ExampleBatches(
            sequences, item_counts, train_cfg, item_id_dropout, profile_from=self._profile_cut
        )
        evaluate = self._validation(valid) if valid is not None and valid.n_interactions else None
        trainer = Trainer(cfg.trainer_config(desc="twotower"))
        try:
            self.history_ = trainer.fit(self.net_, batches, _loss, evaluate)
        finally:
            # Scoring reads every user's profile of all training events.
            self._use_profile(self.user_profile_)
        self._item_cache = None
        # A refit (no validation) then trains the validated number of epochs.
        self.fitted_config_ = with_best_epochs(self.config, self.history_)

    def _validation(self, valid: Dataset) -> Callable[[], float]:
        """The early-stopping metric: full-ranking NDCG@10 on ``valid`` with current weights."""
        from digirec.training.trainer import ranking_validation

        ndcg = ranking_validation(self, valid)

        def evaluate() -> float:
            self._item_cache = None  # the weights changed since the last evaluation
            self._use_profile(self.user_profile_)  # score as served: the full profile
            try:
                return ndcg()
            finally:
                self._use_profile(self._train_profile)
                self._item_cache = None

        return evaluate

    def _use_profile(self, profile: sp.csr_matrix | None) -> None:
        """Point the network's profile block at ``profile`` (same shape; weights kept).

        ``None`` (no leak-free training profile could be built) leaves the block as it is.
        """
        block = getattr(self.net_, "user_profile", None)
        tensors = _csr_tensors(profile)
        if block is None or tensors is None:
            return
        indptr, indices, values, _ = tensors
        block.set_rows(indptr, indices, values)

    def _build_net(self, n_users: int, n_items: int) -> TwoTower:
        from digirec.models.neural.twotower import TwoTower

        cfg = self.config
        return TwoTower(
            n_users,
            n_items,
            item_content=_csr_tensors(self.item_content_),
            user_attributes=_csr_tensors(self.user_attributes_),
            user_profile=_csr_tensors(self.user_profile_),
            dim=cfg.dim,
            hidden=cfg.hidden,
            n_layers=cfg.n_layers,
            dropout=cfg.dropout,
            temperature=cfg.temperature,
            normalize=cfg.normalize,
        )

    # ------------------------------------------------------------------ scoring
    def _item_vectors_t(self) -> torch.Tensor:
        """Item-tower outputs of every item (ids only for items seen in training); cached."""
        import torch

        if self._item_cache is None:
            net = self.net_
            device = _device(net)
            items = torch.arange(self.n_items, device=device)
            keep = torch.from_numpy(self.item_has_id_).to(device)
            self._item_cache = net.item_vectors(items, keep)
        return self._item_cache

    def _score_inputs(
        self,
        users: IdxArray,
        history: NDArray[np.int64],
        *,
        is_known: NDArray[np.bool_],
        has_attributes: bool,
        batch_size: int = 1024,
    ) -> FloatMatrix:
        """Scores ``(n, n_items)`` of users given by index, evidence flags and item history."""
        import torch

        from digirec.training.trainer import torch_threads

        net = self.net_
        was_training = net.training
        net.eval()
        out = np.empty((len(users), self.n_items), dtype=np.float32)
        try:
            with torch_threads(self.config.n_threads), torch.inference_mode():
                items = self._item_vectors_t()
                for start in range(0, len(users), batch_size):
                    stop = start + batch_size
                    vectors = self._user_vectors_t(
                        users[start:stop], history[start:stop], is_known[start:stop], has_attributes
                    )
                    out[start:stop] = net.scores(vectors, items).float().cpu().numpy()
        finally:
            net.train(was_training)
        return out

    def _user_vectors_t(
        self,
        users: IdxArray,
        history: NDArray[np.int64],
        is_known: NDArray[np.bool_],
        has_attributes: bool,
    ) -> torch.Tensor:
        import torch

        net = self.net_
        device = _device(net)
        known = torch.from_numpy(np.ascontiguousarray(is_known)).to(device)
        hist = torch.from_numpy(np.ascontiguousarray(history)).to(device)
        pooled, has_history = net.pool_history(self._item_vectors_t(), hist)
        return net.user_vectors(
            torch.from_numpy(np.ascontiguousarray(users, dtype=np.int64)).to(device),
            id_keep=known,
            attributes_keep=torch.full_like(known, has_attributes),
            profile_keep=known,
            history=pooled,
            history_keep=has_history,
        )

    def _score_users(self, user_idx: IdxArray) -> FloatMatrix:
        user_idx = np.asarray(user_idx, dtype=np.int64)
        # A user without training events is known by attributes only: no id, profile, history.
        return self._score_inputs(
            user_idx,
            self.user_history_[user_idx],
            is_known=self.user_has_id_[user_idx],
            has_attributes=True,
        )

    def _score_histories(self, histories: sp.csr_matrix) -> FloatMatrix:
        ordered = ordered_history_rows(histories)
        n_rows = len(ordered)
        # Nothing but the items is known: every user-specific input is switched off (the user
        # index 0 is only a placeholder for the masked lookups).
        return self._score_inputs(
            np.zeros(n_rows, dtype=np.int64),
            last_items(ordered, self.config.history_len),
            is_known=np.zeros(n_rows, dtype=bool),
            has_attributes=False,
        )

    def _similar_scores(self, item_idx: IdxArray) -> FloatMatrix:
        return cosine_rows(self.item_vectors(), item_idx)

    def _similar_scores_at(self, item_idx: IdxArray, columns: IdxArray) -> FloatMatrix:
        return cosine_pairs(self.item_vectors(), item_idx, columns)

    def _item_outputs(self) -> FloatMatrix:
        """Item-tower outputs ``(n_items, dim + 1)`` as numpy: vectors, then the bias column."""
        import torch

        from digirec.training.trainer import torch_threads

        self._check_fitted()
        was_training = self.net_.training
        self.net_.eval()
        try:
            with torch_threads(self.config.n_threads), torch.inference_mode():
                outputs = self._item_vectors_t().float().cpu().numpy()
        finally:
            self.net_.train(was_training)
        return np.ascontiguousarray(outputs, dtype=np.float32)

    def item_vectors(self) -> FloatMatrix:
        """The ``(n_items, dim)`` item vectors used for scoring (unit rows when ``normalize``).

        A user's score of item ``i`` is ``user · item_vectors()[i] / temperature +
        item_bias()[i]``; items without training interactions are embedded from content only.
        """
        return np.ascontiguousarray(self._item_outputs()[:, :-1])

    def item_bias(self) -> NDArray[np.float32]:
        """The ``(n_items,)`` item biases added to every user's scores (popularity by content)."""
        return np.ascontiguousarray(self._item_outputs()[:, -1])

    # ------------------------------------------------------------------ persistence
    def _forget_users(self, user_idx: IdxArray) -> None:
        # The id embedding stays in the network but is never read again: a user without an
        # id is scored from attributes and history only, and both are erased here.
        history = self.user_history_.copy()
        history[user_idx] = _PAD
        self.user_history_ = history
        has_id = self.user_has_id_.copy()
        has_id[user_idx] = False
        self.user_has_id_ = has_id
        for name in ("user_attributes_", "user_profile_"):
            value = getattr(self, name, None)
            if value is not None:
                setattr(self, name, zero_rows(value, user_idx))

    def _get_state(self) -> dict[str, NDArray[Any]]:
        state: dict[str, NDArray[Any]] = {
            STATE_PREFIX + key: value.detach().cpu().numpy()
            for key, value in self.net_.state_dict().items()
        }
        state["user_history"] = self.user_history_
        state["item_has_id"] = self.item_has_id_
        state["user_has_id"] = self.user_has_id_
        for name in FEATURE_BLOCKS:
            matrix = getattr(self, f"{name}_")
            if matrix is not None:
                state[f"{name}.indptr"] = matrix.indptr.astype(np.int64)
                state[f"{name}.indices"] = matrix.indices.astype(np.int64)
                state[f"{name}.data"] = matrix.data.astype(np.float32)
                state[f"{name}.shape"] = np.asarray(matrix.shape, dtype=np.int64)
        if self.history_ is not None:
            state.update(self.history_.to_arrays())
        return state

    def _set_state(self, state: Mapping[str, NDArray[Any]]) -> None:
        import torch

        self._item_cache = None
        for name in FEATURE_BLOCKS:
            matrix = None
            if f"{name}.shape" in state:
                n_rows, n_cols = (int(x) for x in state[f"{name}.shape"])
                matrix = sp.csr_matrix(
                    (state[f"{name}.data"], state[f"{name}.indices"], state[f"{name}.indptr"]),
                    shape=(n_rows, n_cols),
                    dtype=np.float32,
                )
            setattr(self, f"{name}_", matrix)
        self.user_history_ = np.asarray(state["user_history"], dtype=np.int64)
        self.item_has_id_ = np.asarray(state["item_has_id"], dtype=bool)
        self.user_has_id_ = np.asarray(state["user_has_id"], dtype=bool)
        self.net_ = self._build_net(len(self.user_map_), len(self.item_map_))
        weights = {
            key[len(STATE_PREFIX) :]: torch.from_numpy(np.array(value))
            for key, value in state.items()
            if key.startswith(STATE_PREFIX)
        }
        self.net_.load_state_dict(weights)
        self.net_.eval()
        self.history_ = TrainHistory.from_arrays(state)


# ---------------------------------------------------------------------- training batches
class _ExampleBatches:
    """The batch source: (user, next item) examples with their past items and evidence flags.

    Example ``j`` is the ``j``-th interaction of the flattened chronological sequences; its
    history is the same user's (at most ``history_len``) items right before it. Per example a
    mode is drawn -- attributes only (``cold_user_rate``), history only
    (``history_only_rate``) or everything with id dropout -- and per batch an item id mask.
    Items are addressed by their position among the *training items* (items with training
    interactions), the only candidates of the training softmax.
    """

    def __init__(
        self,
        sequences: Sequence[NDArray[np.int64]],
        item_counts: NDArray[np.int64],
        config: TwoTowerConfig,
        item_id_dropout: float,
        profile_from: NDArray[np.int64] | None = None,
    ) -> None:
        self.config = config
        self.item_id_dropout = item_id_dropout
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        self.flat = (
            np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
            if len(sequences)
            else np.zeros(0, dtype=np.int64)
        )
        self.user_of = np.repeat(np.arange(len(sequences), dtype=np.int64), lengths)
        self.start_of = np.repeat(np.cumsum(lengths) - lengths, lengths)
        # An example may read its user's (prefix) profile only when it comes after every event
        # of that profile: the target is never in its own input.
        cut = np.zeros(len(sequences), np.int64) if profile_from is None else profile_from
        position = np.arange(len(self.flat), dtype=np.int64) - self.start_of
        self.profile_ok = position >= np.repeat(np.asarray(cut, dtype=np.int64), lengths)
        self.train_items = np.flatnonzero(item_counts > 0).astype(np.int64)
        self.position = np.full(len(item_counts), _PAD, dtype=np.int64)
        self.position[self.train_items] = np.arange(len(self.train_items))
        # Positions of each example's target among the training items, computed once.
        self.flat_position = self.position[self.flat]
        counts = item_counts[self.train_items].astype(np.float64)
        self.sample_p = counts / counts.sum() if counts.size else counts
        self.back = np.arange(config.history_len, 0, -1, dtype=np.int64)

    def __call__(self, rng: np.random.Generator) -> Iterator[dict[str, Any]]:
        import torch

        cfg = self.config
        n_examples = len(self.flat)
        n_train = len(self.train_items)
        train_items_t = torch.from_numpy(self.train_items)
        order = rng.permutation(n_examples)
        for start in range(0, n_examples, cfg.batch_size):
            ex = order[start : start + cfg.batch_size]
            size = len(ex)
            back = ex[:, None] - self.back[None, :]
            real = back >= self.start_of[ex][:, None]
            history = np.where(real, self.flat_position[np.clip(back, 0, None)], _PAD)
            targets = self.flat_position[ex]

            mode = rng.random(size)
            cold = mode < cfg.cold_user_rate
            session = (mode >= cfg.cold_user_rate) & (
                mode < cfg.cold_user_rate + cfg.history_only_rate
            )
            full = ~(cold | session)
            user_keep = full & (rng.random(size) >= cfg.id_dropout)
            item_keep = rng.random(n_train) >= self.item_id_dropout

            batch: dict[str, Any] = {
                "users": torch.from_numpy(self.user_of[ex]),
                "id_keep": torch.from_numpy(user_keep),
                "attributes_keep": torch.from_numpy(~session),
                "profile_keep": torch.from_numpy(full & self.profile_ok[ex]),
                "history_keep": torch.from_numpy(~cold),
            }
            if cfg.loss == "full":
                batch.update(
                    items=train_items_t,
                    item_keep=torch.from_numpy(item_keep),
                    history=torch.from_numpy(history),
                    targets=torch.from_numpy(targets),
                )
            else:
                negatives = rng.choice(n_train, size=cfg.n_negatives, p=self.sample_p)
                # The candidates of this batch: targets, negatives and history items, once each.
                candidates = np.unique(np.concatenate([targets, negatives, history[real]]))
                log_q = np.log(cfg.n_negatives * self.sample_p[candidates]).astype(np.float32)
                local_targets = np.searchsorted(candidates, targets)
                local_negatives = np.searchsorted(candidates, negatives)
                local_history = np.where(real, np.searchsorted(candidates, history), _PAD)
                batch.update(
                    items=torch.from_numpy(self.train_items[candidates]),
                    item_keep=torch.from_numpy(item_keep[candidates]),
                    history=torch.from_numpy(local_history),
                    targets=torch.from_numpy(local_targets),
                    negatives=torch.from_numpy(local_negatives),
                    log_q=torch.from_numpy(log_q),
                )
            yield batch


def _loss(module: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
    """Full or sampled softmax cross-entropy of one batch from :class:`_ExampleBatches`."""
    import torch
    import torch.nn.functional as F

    from digirec.models.neural.losses import full_softmax_cross_entropy

    net = cast("TwoTower", module)
    items = net.item_vectors(batch["items"], batch["item_keep"])
    pooled, has_history = net.pool_history(items, batch["history"])
    users = net.user_vectors(
        batch["users"],
        id_keep=batch["id_keep"],
        attributes_keep=batch["attributes_keep"],
        profile_keep=batch["profile_keep"],
        history=pooled,
        history_keep=has_history & batch["history_keep"],
    )
    targets = batch["targets"]
    if "negatives" not in batch:
        return full_softmax_cross_entropy(net.scores(users, items), targets)
    negatives = batch["negatives"]
    log_q = batch["log_q"]
    positive = net.pair_scores(users, items[targets]) - log_q[targets]
    negative = net.scores(users, items[negatives]) - log_q[negatives][None, :]
    # A sampled negative that is the example's own target is not a negative.
    negative = negative.masked_fill(negatives[None, :] == targets[:, None], float("-inf"))
    logits = torch.cat([positive[:, None], negative], dim=1)
    return F.cross_entropy(logits, torch.zeros_like(targets))


# ---------------------------------------------------------------------- feature matrices
def item_content_matrix(
    dataset: Dataset, config: TwoTowerConfig, fit_rows: NDArray[np.bool_] | None = None
) -> sp.csr_matrix | None:
    """The item tower's content rows: catalogue features, text and image vectors.

    Every fitted recipe (catalogue vocabularies and moments, TF-IDF vocabulary and SVD, PCA,
    release-date moments) is fitted on ``fit_rows`` -- by default the items with a training
    interaction (:func:`digirec.features.content.training_items`) -- and applied to every row,
    so held-out items never shape the features. Returns ``None`` when the dataset has no
    catalogue or the catalogue yields no feature.
    """
    from digirec.features.content import catalog_matrix, training_items

    if dataset.items is None:
        return None
    rows = training_items(dataset) if fit_rows is None else np.asarray(fit_rows, dtype=bool)
    blocks: list[sp.csr_matrix] = []
    catalog = catalog_matrix(dataset.items, rows)
    if catalog is not None:
        blocks.append(catalog)
    release = release_features(dataset.items, rows)
    if release is not None:
        blocks.append(sp.csr_matrix(release))
    text = _text_vectors(dataset, config, rows)
    if text is not None:
        blocks.append(sp.csr_matrix(text))
    image = _image_vectors(dataset, config)
    if image is not None:
        blocks.append(sp.csr_matrix(image))
    if not blocks:
        return None
    matrix = sp.hstack(blocks, format="csr", dtype=np.float32)
    matrix.eliminate_zeros()
    return matrix if matrix.shape[1] else None


def release_features(
    items: pd.DataFrame, fit_rows: NDArray[np.bool_] | None = None
) -> FloatMatrix | None:
    """Standardised release time and a missing flag, from a ``release_date`` column.

    The mean and spread come from ``fit_rows`` (default: every row).

    How new a product is drives demand (new phones, this year's films) and is known for an
    item before anyone interacted with it, so it is content a cold item can be ranked by.
    ``None`` when the catalogue has no parseable release date.
    """
    if RELEASE_DATE not in items.columns:
        return None
    dates = pd.to_datetime(items[RELEASE_DATE], errors="coerce", format="mixed", utc=True)
    known = dates.notna().to_numpy()
    if not known.any():
        return None
    years = np.zeros(len(items), dtype=np.float64)
    years[known] = dates[known].map(lambda d: d.timestamp()).to_numpy(dtype=np.float64)
    years /= 365.25 * 86_400.0
    basis = known if fit_rows is None else known & np.asarray(fit_rows, dtype=bool)
    if not basis.any():
        basis = known
    mean, std = years[basis].mean(), years[basis].std() or 1.0
    z = np.where(known, (years - mean) / std, 0.0)
    return np.column_stack([z, ~known]).astype(np.float32)


def _text_vectors(
    dataset: Dataset, config: TwoTowerConfig, fit_rows: NDArray[np.bool_]
) -> FloatMatrix | None:
    from digirec.features.content import text_svd_vectors
    from digirec.features.text import (
        MiniLMEncoder,
        MultilingualUSEEncoder,
        TextEncoder,
        encode_items,
        item_texts,
    )

    if config.text_encoder == "none" or dataset.items is None:
        return None
    fields = tuple(config.text_fields)
    if not any(item_texts(dataset.items, fields)):
        return None  # no text at all (e.g. a catalogue of categories and prices only)
    if config.text_encoder == "tfidf":
        # Vocabulary, IDF and SVD from the training items' texts only.
        return text_svd_vectors(
            dataset.items, fit_rows, config.text_dim, fields, random_state=config.random_state
        )
    # The sentence encoders are pretrained (nothing fitted on this catalogue); the PCA that
    # reduces them is fitted on the training items.
    encoder: TextEncoder = (
        MiniLMEncoder() if config.text_encoder == "minilm" else (MultilingualUSEEncoder())
    )
    vectors = encode_items(dataset.items, encoder, fields)
    return reduce_dim(vectors, config.text_dim, fit_rows)


def _image_vectors(dataset: Dataset, config: TwoTowerConfig) -> FloatMatrix | None:
    """Unit image vectors plus a has-image column, or ``None`` when none are given."""
    vectors: NDArray[np.float32] | None = None
    if config.image_vectors is not None:
        from digirec.features.image import load_image_vectors

        vectors = load_image_vectors(config.image_vectors, dataset.item_map).vectors
    else:
        extra = dataset.extras.get(IMAGE_VECTORS_EXTRA)
        if extra is not None:
            vectors = np.asarray(extra, dtype=np.float32)
            if vectors.ndim != 2 or len(vectors) != dataset.n_items:
                raise ConfigError(
                    f"dataset.extras[{IMAGE_VECTORS_EXTRA!r}] must be (n_items={dataset.n_items}, "
                    f"d), got shape {vectors.shape}"
                )
    if vectors is None:
        return None
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return np.hstack([unit, (norms > 0).astype(np.float32)]).astype(np.float32)


def reduce_dim(
    vectors: NDArray[np.floating], dim: int, fit_rows: NDArray[np.bool_] | None = None
) -> FloatMatrix:
    """At most ``dim`` columns: PCA components of wider vectors (deterministic signs).

    The mean and the components are fitted on ``fit_rows`` (default: every row).
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.shape[1] <= dim:
        return x.astype(np.float32)
    basis = x if fit_rows is None else x[np.asarray(fit_rows, dtype=bool)]
    mean = basis.mean(axis=0, keepdims=True)
    centred = x - mean
    _, _, vt = np.linalg.svd(basis - mean, full_matrices=False)
    vt = vt[:dim]
    # Fix each component's sign (largest loading positive) so a refit gives the same features.
    vt *= np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])[:, None]
    return np.asarray(centred @ vt.T, dtype=np.float32)


def user_feature_matrices(
    dataset: Dataset,
) -> tuple[sp.csr_matrix | None, sp.csr_matrix | None]:
    """``(attributes, behavioural profile)`` rows of every user (``None`` for an empty block).

    Both come from :meth:`digirec.features.profile.UserProfiles.feature_matrix` of the
    training data; the ``attr:`` columns are the given attributes, the rest is behaviour.
    """
    from digirec.features.profile import build_profiles

    matrix, names = build_profiles(dataset).feature_matrix()
    is_attribute = np.fromiter((n.startswith(ATTRIBUTE_PREFIX) for n in names), dtype=bool)

    def columns(mask: NDArray[np.bool_]) -> sp.csr_matrix | None:
        if not mask.any():
            return None
        return sp.csr_matrix(matrix[:, np.flatnonzero(mask)], dtype=np.float32)

    return columns(is_attribute), columns(~is_attribute)


def prefix_profiles(dataset: Dataset) -> tuple[sp.csr_matrix | None, NDArray[np.int64]]:
    """Leak-free training profiles: each user's profile of the first half of their events.

    A profile of *all* training events would put every example's own target (its brand,
    category, price) into the input that predicts it. Instead, user ``u`` with ``n`` training
    events gets the profile of events ``0 .. n // 2 - 1``, and only the examples at positions
    ``>= n // 2`` read it, so an example's profile summarises strictly earlier events. Scoring
    uses the profile of all training events (the same columns), as a served model would.

    Returns
    -------
    profile, cut
        The behavioural profile block of the prefix data (``None`` when there is none) and
        ``n // 2`` per user.
    """
    from digirec.data.split import position_in_user

    position, count = position_in_user(dataset)
    cut_rows = count // 2
    cut = np.zeros(dataset.n_users, dtype=np.int64)
    cut[dataset.user_idx] = cut_rows
    prefix = position < cut_rows
    if not prefix.any():
        return None, cut
    _, profile = user_feature_matrices(dataset.subset(prefix))
    return profile, cut


# ---------------------------------------------------------------------- helpers
def last_items(sequences: Sequence[NDArray[np.int64]], n: int) -> NDArray[np.int64]:
    """The last ``n`` items of each sequence, right-aligned, padded with ``-1``."""
    out = np.full((len(sequences), n), _PAD, dtype=np.int64)
    for row, seq in enumerate(sequences):
        tail = np.asarray(seq, dtype=np.int64)[-n:]
        if len(tail):
            out[row, n - len(tail) :] = tail
    return out


def _csr_tensors(
    matrix: sp.csr_matrix | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int] | None:
    import torch

    if matrix is None:
        return None
    return (
        torch.from_numpy(np.asarray(matrix.indptr, dtype=np.int64)),
        torch.from_numpy(np.asarray(matrix.indices, dtype=np.int64)),
        torch.from_numpy(np.asarray(matrix.data, dtype=np.float32)),
        int(matrix.shape[1]),
    )


def _device(net: torch.nn.Module) -> torch.device:
    from digirec.training.trainer import module_device

    return module_device(net)
