"""The model contract every digirec recommender implements.

Public methods (``fit``, ``recommend``, ``similar_items``, ``recommend_from_history``, ``save``,
``load``) live here once and speak external ids; subclasses implement small protected hooks on
internal indices:

- ``_fit(dataset, valid)``: learn from the users x items matrix (and features);
- ``_score_users(user_idx)``: dense ``(n, n_items)`` scores for known users;
- ``_score_histories(histories)``: scores for users given only as item histories (optional:
  set ``supports_history = True``);
- ``_similar_scores(item_idx)``: item-to-item scores (defaults to scoring one-item histories);
- ``_get_state()`` / ``_set_state(state)``: learned arrays for save / load.

Serving reads models through public methods only (never a hook, never a model class):
``score_users`` / ``score_histories`` / ``score_similar`` (dense scores on internal indices),
``forget_users`` (a privacy deletion before the retrain), the ``personalised`` flag and, for
factor models (``score = query . item_vector + offset``), the :class:`FactorModel` protocol
(:func:`factor_model` says whether a model speaks it).
"""

from __future__ import annotations

import json
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.idmap import IdMap
from digirec.exceptions import ColdItemError, ConfigError, NotFittedError, UnknownIdError
from digirec.retrieval.topk import block_rows, tie_break_ranks, topk

FloatMatrix = NDArray[np.float32]
IdxArray = NDArray[np.int64]

STATE_FILE = "state.npz"
MODEL_FILE = "model.json"


class HistoryMatrix(sp.csr_matrix):  # type: ignore[misc]
    """A ``(n, n_items)`` history matrix plus each row's items in chronological order.

    Its values are 1 for every item, or the item's weight for a model that trains on weights
    (:attr:`Recommender.uses_weights`) when the caller gave weights. Item-set models read the
    matrix; sequential models read ``ordered`` (``None`` when the order is unknown).
    """

    ordered: list[IdxArray] | None = None


def binary_history(histories: sp.csr_matrix) -> sp.csr_matrix:
    """``histories`` with every stored value set to 1 (the chronological ``ordered`` lists of a
    :class:`HistoryMatrix` kept): the input of a part that does not read weights."""
    out = HistoryMatrix(sp.csr_matrix(histories, dtype=np.float32, copy=True))
    out.data[:] = 1.0
    out.ordered = getattr(histories, "ordered", None)
    return out


def ordered_history_rows(histories: sp.csr_matrix) -> list[IdxArray]:
    """The chronological item lists behind a history matrix (column order when unknown).

    The public ``recommend_from_history`` passes a :class:`HistoryMatrix` whose ``ordered``
    lists keep the order; they are used only when they describe exactly this matrix. Sequence
    models (SASRec, the two-tower history pool) read their input through this.
    """
    ordered = getattr(histories, "ordered", None)
    csr = sp.csr_matrix(histories)
    rows = [csr.indices[csr.indptr[r] : csr.indptr[r + 1]] for r in range(csr.shape[0])]
    if (
        ordered is not None
        and len(ordered) == len(rows)
        and all(
            np.array_equal(np.unique(o), np.sort(r)) for o, r in zip(ordered, rows, strict=True)
        )
    ):
        return [np.asarray(o, dtype=np.int64) for o in ordered]
    return [np.asarray(r, dtype=np.int64) for r in rows]


#: A factor query: the vector and a constant added to every item's score.
FactorQuery = tuple[NDArray[np.float32], float]


@runtime_checkable
class FactorModel(Protocol):
    """A model whose scores are ``query . item_vector + offset`` (ALS, BPR, MF, SASRec).

    Serving builds its ANN index and category blocks on :meth:`factor_item_vectors` and asks
    the model for queries; the fold-in of a history (ALS, BPR, MF) or the sequence encoder
    (SASRec) is the model's own, so the ANN path and ``score_histories`` agree.
    """

    def factor_item_vectors(self) -> FloatMatrix:
        """``(n_items, dim)`` float32, row ``i`` = ``item_idx i``."""
        ...

    def factor_user_queries(self, user_idx: IdxArray) -> tuple[FloatMatrix, FloatMatrix]:
        """Query vectors ``(n, dim)`` and score offsets ``(n,)`` of known users."""
        ...

    def factor_history_query(
        self, item_idx: Sequence[int], weights: Sequence[float] | None = None
    ) -> FactorQuery:
        """The query of a user given by model item indices, oldest first, with optional
        per-item weights (read by models that train on weights, as in
        :meth:`Recommender.score_histories`)."""
        ...


def factor_model(model: object) -> FactorModel | None:
    """``model`` as a :class:`FactorModel`, or ``None`` when it does not speak the protocol."""
    return model if isinstance(model, FactorModel) else None


class ModelConfig(BaseModel):
    """Base of every model configuration: strict (unknown keys rejected) and seeded."""

    model_config = ConfigDict(extra="forbid")

    random_state: int = Field(42, description="Seed of every random choice of the model.")


class Recommender(ABC):
    """Base class of all digirec models.

    Class flags
    -----------
    supports_history:
        ``recommend_from_history`` works (new users and sessions without retraining).
    supports_cold_items:
        Items without interactions get meaningful scores (content features).
    requires_item_features:
        ``fit`` needs ``dataset.items``.
    personalised:
        Lists depend on the user (``False``: popularity baselines; the service labels their
        lists with :attr:`non_personal_source`, never ``personalised``).
    user_arrays:
        Names of the learned per-user arrays (row ``u`` = ``user_idx u``), zeroed by
        :meth:`forget_users` with ``seen_``; models with other per-user state override
        ``_forget_users``.

    Whether a fitted model reads interaction weights (event weights) is the property
    :attr:`uses_weights`.
    """

    name: ClassVar[str] = "base"
    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    supports_history: ClassVar[bool] = False
    supports_cold_items: ClassVar[bool] = False
    requires_item_features: ClassVar[bool] = False
    personalised: ClassVar[bool] = True
    non_personal_source: ClassVar[str] = "popular"
    user_arrays: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, config: ModelConfig | Mapping[str, Any] | None = None, **params: Any
    ) -> None:
        if config is None:
            merged: dict[str, Any] = dict(params)
        elif isinstance(config, ModelConfig):
            merged = {**config.model_dump(), **params}
        else:
            merged = {**dict(config), **params}
        try:
            self.config = self.config_class(**merged)
        except Exception as exc:  # pydantic.ValidationError -> a config error naming the model
            raise ConfigError(f"invalid config for model {self.name!r}: {exc}") from exc
        self.is_fitted = False

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """The resolved configuration as a plain JSON-serialisable dict.

        After ``fit`` it includes what training chose (``fitted_config_``: the epoch count early
        stopping picked, the hybrid's component settings and weights), so a refit or a saved
        bundle reproduces the fitted setting; ``config`` itself is never changed by ``fit``, so
        a second ``fit(train, valid)`` searches again from the given setting.
        """
        fitted: ModelConfig | None = getattr(self, "fitted_config_", None)
        return (self.config if fitted is None else fitted).model_dump(mode="json")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Build an unfitted model from :meth:`get_config` output."""
        return cls(dict(config))

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({params})"

    # ------------------------------------------------------------------ fit
    def fit(self, dataset: Dataset, valid: Dataset | None = None) -> Self:
        """Learn from ``dataset`` (refitting resets all learned state).

        ``valid`` (same id maps) is used by models that stop early or tune internally.
        """
        self.user_map_: IdMap = dataset.user_map
        self.item_map_: IdMap = dataset.item_map
        self.seen_: sp.csr_matrix = dataset.user_item_matrix(binary=True)
        self.tie_ranks_: IdxArray = tie_break_ranks(dataset.n_items, self.config.random_state)
        # What this fit chooses (if anything) replaces the previous fit's choice.
        self.fitted_config_: ModelConfig | None = None
        self._fit(dataset, valid)
        self.is_fitted = True
        return self

    @abstractmethod
    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        """Learn model state from ``dataset``."""

    def refit(self, dataset: Dataset) -> Recommender:
        """This model's validated setting, trained on ``dataset`` (the benchmark's final refit).

        The default trains a fresh model from :meth:`get_config` -- the resolved parameters,
        e.g. a tuned lambda -- without a validation set. Sequential models, which read a user's
        latest items as input at scoring time, override it to keep the validated weights and
        take ``dataset`` as input only; see :meth:`digirec.models.sasrec.SASRecModel.refit`.
        """
        self._check_fitted()
        return type(self)(self.get_config()).fit(dataset)

    def _same_index_space(self, dataset: Dataset) -> bool:
        """Whether ``dataset`` uses exactly this model's user and item maps."""
        return (dataset.user_map is self.user_map_ or dataset.user_map == self.user_map_) and (
            dataset.item_map is self.item_map_ or dataset.item_map == self.item_map_
        )

    @abstractmethod
    def _score_users(self, user_idx: IdxArray) -> FloatMatrix:
        """Dense scores ``(len(user_idx), n_items)`` for known users."""

    def _score_histories(self, histories: sp.csr_matrix) -> FloatMatrix:
        """Scores for users given only by a ``(n, n_items)`` history matrix.

        Models that set ``supports_history`` override this.
        """
        raise ConfigError(f"model {self.name!r} cannot score a raw history")

    def _similar_scores(self, item_idx: IdxArray) -> FloatMatrix:
        """Item-to-item scores; by default, score each item as a one-item history."""
        rows = np.arange(len(item_idx))
        hist = sp.csr_matrix(
            (np.ones(len(item_idx), dtype=np.float32), (rows, item_idx)),
            shape=(len(item_idx), self.n_items),
        )
        return self._score_histories(hist)

    def _similar_scores_at(self, item_idx: IdxArray, columns: IdxArray) -> FloatMatrix:
        """Item-to-item scores of ``item_idx`` against ``columns`` only. By default the full
        rows' columns; models with cheap pairwise scores compute just these."""
        return self._similar_scores(item_idx)[:, columns]

    def _get_state(self) -> dict[str, NDArray[Any]]:
        return {}

    def _set_state(self, state: Mapping[str, NDArray[Any]]) -> None:
        del state

    # ------------------------------------------------------------------ helpers
    @property
    def n_items(self) -> int:
        self._check_fitted()
        return len(self.item_map_)

    @property
    def n_users(self) -> int:
        self._check_fitted()
        return len(self.user_map_)

    @property
    def uses_weights(self) -> bool:
        """Whether the model trains on interaction weights (e.g. ``binary=False``): then a
        history's weights (:meth:`score_histories`) count as its training rows did; models
        that train on the binary matrix read the items only."""
        return False

    def _user_matrix(self) -> sp.csr_matrix:
        """The users x items matrix the model trained on: ``seen_`` (binary) unless a model
        that :attr:`uses_weights` keeps its weighted training matrix."""
        return self.seen_

    def user_history(self, user_idx: int) -> tuple[IdxArray, NDArray[np.float32]]:
        """A known user's training items and their weights as the model trained on them
        (1 for each item of a model that does not :attr:`use weights <uses_weights>`).

        ``score_histories([items], [weights])`` of this history is the fold-in of the user's
        own training row (what serving extends with real-time events).
        """
        self._check_fitted()
        if not 0 <= int(user_idx) < self.n_users:
            raise UnknownIdError("user", [str(user_idx)])
        matrix = self._user_matrix()
        lo, hi = matrix.indptr[user_idx], matrix.indptr[user_idx + 1]
        items = np.asarray(matrix.indices[lo:hi], dtype=np.int64)
        weights = np.asarray(matrix.data[lo:hi], dtype=np.float32)
        return items, weights

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load() first")

    def _item_mask(self, item_ids: Sequence[object] | None) -> NDArray[np.bool_] | None:
        if item_ids is None:
            return None
        mask = np.zeros(self.n_items, dtype=bool)
        mask[self.item_map_.to_internal(id_list(item_ids, "item_ids"))] = True
        return mask

    def items_without_interactions(self, item_idx: IdxArray) -> IdxArray:
        """Those of ``item_idx`` that had no training interaction (nothing was learnt about
        them unless the model reads item features: ``supports_cold_items``)."""
        counts = np.diff(self.seen_.tocsc().indptr)
        item_idx = np.asarray(item_idx, dtype=np.int64)
        return np.asarray(item_idx[counts[item_idx] == 0], dtype=np.int64)

    # ------------------------------------------------------------------ scoring (internal ids)
    def score_users(self, user_idx: Sequence[int] | IdxArray) -> FloatMatrix:
        """Dense scores ``(len(user_idx), n_items)`` of known users (float32, a fresh array).

        Nothing is filtered: callers (evaluation, serving) apply their own seen / business
        filters on the full vector.
        """
        self._check_fitted()
        idx = np.asarray(user_idx, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_users):
            raise UnknownIdError("user", [str(i) for i in idx if not 0 <= i < self.n_users])
        return np.array(self._score_users(idx), dtype=np.float32, copy=True)

    def score_histories(
        self,
        histories: Sequence[Sequence[int] | IdxArray],
        weights: Sequence[Sequence[float] | NDArray[np.floating[Any]]] | None = None,
    ) -> FloatMatrix:
        """Dense scores of users given as model item indices, oldest first (new users,
        sessions, a known user's history plus real-time events).

        ``weights`` (one per item, parallel to ``histories``) are the items' interaction
        weights, e.g. the event weights (view 1 ... purchase 8); without them every item
        weighs 1. A model that trains on weights (:attr:`uses_weights`) folds a history in
        with the same weights and confidence as its training rows -- a known user's own
        history (:meth:`user_history`) gives back that user's trained scores -- and an item
        repeated in one history counts with its largest weight (the training default
        ``--duplicates max``). Other models read the items only.
        """
        self._check_fitted()
        if not self.supports_history:
            raise ConfigError(f"model {self.name!r} cannot score a raw history")
        matrix = self._idx_history_matrix(histories, weights)
        return np.array(self._score_histories(matrix), dtype=np.float32, copy=True)

    def score_similar(
        self,
        item_idx: Sequence[int] | IdxArray,
        columns: Sequence[int] | IdxArray | None = None,
    ) -> FloatMatrix:
        """Item-to-item scores ``(len(item_idx), n_items)`` (the item itself not removed).

        With ``columns``, only the scores against those items, ``(len(item_idx), len(columns))``:
        the same values as the full rows' columns, without computing every item's (what an
        explanation of ten items against a history needs on a 100k-item catalogue).
        """
        self._check_fitted()
        idx = np.asarray(item_idx, dtype=np.int64)
        if columns is None:
            return np.array(self._similar_scores(idx), dtype=np.float32, copy=True)
        cols = np.asarray(columns, dtype=np.int64)
        return np.array(self._similar_scores_at(idx, cols), dtype=np.float32, copy=True)

    def forget_users(self, user_idx: Sequence[int] | IdxArray) -> None:
        """Erase what the model learned about these users until the retrain (privacy).

        Their ``seen_`` rows and every array named in :attr:`user_arrays` are zeroed in new
        copies (copy-on-write: a request holding the old arrays finishes consistently);
        ``_forget_users`` handles any other per-user state. Ids stay in the frozen id map.
        """
        self._check_fitted()
        rows = np.unique(np.asarray(user_idx, dtype=np.int64))
        if not rows.size:
            return
        self.seen_ = zero_rows(self.seen_, rows)
        for name in self.user_arrays:
            value = getattr(self, name, None)
            if value is not None:
                setattr(self, name, zero_rows(value, rows))
        self._forget_users(rows)

    def _forget_users(self, user_idx: IdxArray) -> None:
        """Hook: per-user state beyond :attr:`user_arrays` (composite models)."""
        del user_idx

    def _idx_history_matrix(
        self,
        histories: Sequence[Sequence[int] | IdxArray],
        weights: Sequence[Sequence[float] | NDArray[np.floating[Any]]] | None = None,
    ) -> HistoryMatrix:
        """Histories (model item indices) as a :class:`HistoryMatrix`.

        Values are 1, or with ``weights`` and a model that :attr:`uses_weights` each item's
        largest weight in its row. Raises ``UnknownIdError`` for an index outside the model
        and ``ValueError`` for weights that do not match the histories or are not finite
        numbers >= 0.
        """
        if weights is not None and len(weights) != len(histories):
            raise ValueError(
                f"weights must have one list per history: {len(weights)} for "
                f"{len(histories)} histories"
            )
        read_weights = weights is not None and self.uses_weights
        rows: list[NDArray[np.int64]] = []
        cols: list[IdxArray] = []
        vals: list[NDArray[np.float64]] = []
        ordered: list[IdxArray] = []
        for row, items in enumerate(histories):
            idx = np.asarray(items, dtype=np.int64).reshape(-1)
            if idx.size and (idx.min() < 0 or idx.max() >= self.n_items):
                raise UnknownIdError("item", [str(i) for i in idx if not 0 <= i < self.n_items])
            if weights is not None:
                w = np.asarray(weights[row], dtype=np.float64).reshape(-1)
                if w.shape != idx.shape:
                    raise ValueError(f"history {row} has {len(idx)} item(s) but {len(w)} weight(s)")
                if w.size and (not np.isfinite(w).all() or w.min() < 0):
                    raise ValueError(f"weights of history {row} must be finite and >= 0")
                vals.append(w)
            ordered.append(idx)
            rows.append(np.full(len(idx), row, dtype=np.int64))
            cols.append(idx)
        row_arr = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        col_arr = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        shape = (len(histories), self.n_items)
        if read_weights and len(row_arr):
            # The largest weight of a repeated item (the training default --duplicates max).
            val_arr = np.concatenate(vals)
            key = row_arr * self.n_items + col_arr
            unique, inverse = np.unique(key, return_inverse=True)
            best = np.full(len(unique), -np.inf)
            np.maximum.at(best, inverse, val_arr)
            matrix = HistoryMatrix(
                (best.astype(np.float32), (unique // self.n_items, unique % self.n_items)),
                shape=shape,
            )
        else:
            matrix = HistoryMatrix(
                (np.ones(len(row_arr), dtype=np.float32), (row_arr, col_arr)), shape=shape
            )
            matrix.sum_duplicates()
            matrix.data[:] = 1.0
        matrix.ordered = ordered
        return matrix

    # ------------------------------------------------------------------ recommend (internal ids)
    def recommend_idx(
        self,
        user_idx: IdxArray,
        k: int,
        *,
        filter_seen: bool = True,
        seen: sp.csr_matrix | None = None,
        candidates: NDArray[np.bool_] | None = None,
        exclude: NDArray[np.bool_] | None = None,
        batch_size: int = 1024,
    ) -> tuple[IdxArray, FloatMatrix]:
        """Top-``k`` item indices and scores for known users (internal ids; evaluation path).

        Parameters
        ----------
        seen:
            Items to filter per user (defaults to the training matrix) when ``filter_seen``.
        candidates, exclude:
            Boolean item masks: only ``candidates`` may be returned, ``exclude`` never.
        """
        self._check_fitted()
        user_idx = np.asarray(user_idx, dtype=np.int64)
        seen_matrix = self.seen_ if seen is None else seen
        items_out = np.empty((len(user_idx), k), dtype=np.int64)
        scores_out = np.empty((len(user_idx), k), dtype=np.float32)
        rows_per_block = block_rows(self.n_items, batch_size)
        for start in range(0, len(user_idx), rows_per_block):
            batch = user_idx[start : start + rows_per_block]
            scores = self._score_users(batch)
            seen_rows = seen_matrix[batch] if filter_seen else None
            items, vals = self._select(scores, k, seen_rows, candidates, exclude)
            items_out[start : start + len(batch)] = items
            scores_out[start : start + len(batch)] = vals
        return items_out, scores_out

    def _select(
        self,
        scores: FloatMatrix,
        k: int,
        seen_rows: sp.csr_matrix | None,
        candidates: NDArray[np.bool_] | None,
        exclude: NDArray[np.bool_] | None,
    ) -> tuple[IdxArray, FloatMatrix]:
        scores = np.array(scores, dtype=np.float32, copy=True)
        if seen_rows is not None and seen_rows.nnz:
            rows, cols = seen_rows.nonzero()
            scores[rows, cols] = -np.inf
        if candidates is not None:
            scores[:, ~candidates] = -np.inf
        if exclude is not None:
            scores[:, exclude] = -np.inf
        return topk(scores, k, self.tie_ranks_)

    # ------------------------------------------------------------------ public API (external ids)
    def recommend(
        self,
        user_ids: Sequence[object],
        k: int = 10,
        *,
        filter_seen: bool = True,
        candidates: Sequence[object] | None = None,
        exclude: Sequence[object] | None = None,
    ) -> pd.DataFrame:
        """Top-``k`` recommendations for known users.

        Returns
        -------
        DataFrame with columns ``user_id, item_id, score, rank`` (rank starts at 1), users in the
        order given. Unknown user ids raise :class:`UnknownIdError`; lists are shorter than ``k``
        only when fewer items qualify.
        """
        self._check_fitted()
        _check_k(k)
        user_idx = self.user_map_.to_internal(id_list(user_ids, "user_ids"))
        # Keys in the map's own type: int ids in, int ids out.
        user_keys = self.user_map_.to_external(user_idx)
        items, scores = self.recommend_idx(
            user_idx,
            k,
            filter_seen=filter_seen,
            candidates=self._item_mask(candidates),
            exclude=self._item_mask(exclude),
        )
        return self._frame(user_keys, items, scores)

    def recommend_from_history(
        self,
        histories: Mapping[str, Sequence[object]] | Sequence[Sequence[object]],
        k: int = 10,
        *,
        filter_seen: bool = True,
        candidates: Sequence[object] | None = None,
        exclude: Sequence[object] | None = None,
        on_unknown: str = "ignore",
        weights: Mapping[str, Sequence[float]] | Sequence[Sequence[float]] | None = None,
    ) -> pd.DataFrame:
        """Recommend for users given only as item-id histories (new users, sessions).

        ``histories`` maps a key (used as ``user_id`` in the result) to item ids in chronological
        order, or is a list of histories (keys ``"0", "1", ...``). Items unknown to the model are
        ignored (``on_unknown="ignore"``) or raise (``"raise"``). ``weights``, shaped like
        ``histories`` (the same keys, one number per item), are the items' interaction weights
        (e.g. event weights: view 1, purchase 8), read as in :meth:`score_histories`; without
        them every item weighs 1.
        """
        self._check_fitted()
        _check_k(k)
        if not self.supports_history:
            raise ConfigError(f"model {self.name!r} cannot recommend from a raw history")
        if isinstance(histories, Mapping):
            keys = [str(key) for key in histories]
            lists = [id_list(v, "a history") for v in histories.values()]
        elif isinstance(histories, str | bytes):
            raise TypeError(
                "histories must be a mapping or a list of item-id lists, got one string; "
                "pass [[item_id, ...]]"
            )
        else:
            keys = [str(i) for i in range(len(histories))]
            lists = [id_list(v, "a history") for v in histories]
        weight_lists: list[Sequence[float]] | None = None
        if weights is not None:
            if isinstance(histories, Mapping):
                if not isinstance(weights, Mapping) or set(map(str, weights)) != set(keys):
                    raise ValueError("weights must map the same keys as histories")
                by_key = {str(key): value for key, value in weights.items()}
                weight_lists = [by_key[key] for key in keys]
            else:
                if isinstance(weights, Mapping):
                    raise ValueError("weights must be a list of lists, like histories")
                weight_lists = list(weights)
        hist = self._history_matrix(lists, on_unknown, weight_lists)
        if not self.supports_cold_items and getattr(self, "personalised", True) and hist.nnz:
            cold = self.items_without_interactions(np.unique(hist.indices))
            if len(cold):
                # Nothing was learnt about these items: say so instead of silently scoring the
                # history without them.
                names = self.item_map_.to_list()
                shown = ", ".join(repr(names[i]) for i in cold[:10])
                if on_unknown == "raise":
                    raise ConfigError(
                        f"item(s) without training interactions in a history: {shown} "
                        f"(model {self.name!r} cannot use them)"
                    )
                warnings.warn(
                    f"ignored item(s) without training interactions: {shown}",
                    UserWarning,
                    stacklevel=2,
                )
        scores = self._score_histories(hist)
        items, vals = self._select(
            scores,
            k,
            hist if filter_seen else None,
            self._item_mask(candidates),
            self._item_mask(exclude),
        )
        return self._frame(keys, items, vals)

    def _history_matrix(
        self,
        lists: Sequence[Sequence[object]],
        on_unknown: str,
        weights: Sequence[Sequence[float]] | None = None,
    ) -> HistoryMatrix:
        """Histories as a ``(n, n_items)`` matrix that also keeps each row's order (values as
        in :meth:`_idx_history_matrix`; an ignored unknown item drops its weight too).

        The order travels with the matrix (not on the model), so concurrent requests on one
        shared model cannot see each other's histories.
        """
        if weights is not None and len(weights) != len(lists):
            raise ValueError(
                f"weights must have one list per history: {len(weights)} for {len(lists)} histories"
            )
        rows: list[IdxArray] = []
        kept: list[NDArray[np.float64]] = []
        for n, items in enumerate(lists):
            idx, known = self.item_map_.to_internal_masked(list(items))
            if not known.all() and on_unknown == "raise":
                unknown = [str(x) for x, ok in zip(items, known, strict=True) if not ok]
                raise UnknownIdError("item", unknown)
            rows.append(idx[known])
            if weights is not None:
                w = np.asarray(weights[n], dtype=np.float64).reshape(-1)
                if w.shape != known.shape:
                    raise ValueError(f"history {n} has {len(known)} item(s) but {len(w)} weight(s)")
                kept.append(w[known])
        return self._idx_history_matrix(rows, kept if weights is not None else None)

    def similar_items(self, item_ids: Sequence[object], k: int = 10) -> pd.DataFrame:
        """Items most similar to each given item (the item itself excluded).

        Returns
        -------
        DataFrame ``item_id, similar_item_id, score, rank``.
        """
        self._check_fitted()
        _check_k(k)
        item_idx = self.item_map_.to_internal(id_list(item_ids, "item_ids"))
        item_keys = self.item_map_.to_external(item_idx)
        # Popularity baselines answer every item with the same popular list, by design.
        if not self.supports_cold_items and getattr(self, "personalised", True):
            cold = self.items_without_interactions(item_idx)
            if len(cold):
                names = self.item_map_.to_list()
                shown = ", ".join(repr(names[i]) for i in cold[:10])
                # Their scores would be a constant (often -0.0): an arbitrary list, not an answer.
                raise ColdItemError(
                    f"item(s) without training interactions: {shown}; model {self.name!r} "
                    "learns similarities from interactions only (use a content model)"
                )
        scores = np.array(self._similar_scores(item_idx), dtype=np.float32, copy=True)
        scores[np.arange(len(item_idx)), item_idx] = -np.inf
        items, vals = topk(scores, k, self.tie_ranks_)
        frame = self._frame(item_keys, items, vals)
        return frame.rename(columns={C.ITEM_ID: "similar_item_id", C.USER_ID: C.ITEM_ID})

    def _frame(
        self, keys: Sequence[object] | NDArray[Any], items: IdxArray, scores: FloatMatrix
    ) -> pd.DataFrame:
        valid = items >= 0
        n_per_row = valid.sum(axis=1)
        keys_arr = np.asarray(keys)
        key_col = np.repeat(
            keys_arr if keys_arr.dtype.kind in "iu" else keys_arr.astype(object), n_per_row
        )
        flat_items = items[valid]
        ranks = (np.cumsum(valid, axis=1))[valid]
        return pd.DataFrame(
            {
                C.USER_ID: key_col,
                C.ITEM_ID: self.item_map_.to_external(flat_items),
                C.SCORE: scores[valid].astype(np.float64),
                C.RANK: ranks.astype(np.int64),
            }
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Save everything needed to serve (config, id maps, seen items, learned arrays).

        The directory does not need the training data to be loaded and used.
        """
        self._check_fitted()
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        state = dict(self._get_state())
        seen = self.seen_.tocsr()
        state.update(
            {
                "__user_ids": np.asarray(self.user_map_.to_list(), dtype=str),
                "__item_ids": np.asarray(self.item_map_.to_list(), dtype=str),
                # int ids come back as ints after a load too.
                "__id_types": np.asarray([self.user_map_.id_type, self.item_map_.id_type]),
                "__seen_indptr": seen.indptr,
                "__seen_indices": seen.indices,
            }
        )
        np.savez(out / STATE_FILE, **state)  # type: ignore[arg-type]
        meta = {"model": self.name, "class": type(self).__qualname__, "config": self.get_config()}
        (out / MODEL_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
        return out

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Load a model saved by :meth:`save` (the concrete class is found in the registry)."""
        from digirec.models.registry import get_model_class

        src = Path(path)
        meta = json.loads((src / MODEL_FILE).read_text())
        model_cls = get_model_class(meta["model"])
        if cls is not Recommender and not issubclass(model_cls, cls):
            raise ConfigError(f"{src} holds a {meta['model']!r} model, not {cls.__name__}")
        model = model_cls(meta["config"])
        with np.load(src / STATE_FILE, allow_pickle=False) as archive:
            state = {key: archive[key] for key in archive.files}
        user_type, item_type = (
            [str(t) for t in state.pop("__id_types").tolist()]
            if "__id_types" in state
            else ("str", "str")
        )
        if user_type not in ("str", "int") or item_type not in ("str", "int"):
            raise ConfigError(f"{src} has unknown id types {user_type!r}, {item_type!r}")
        model.user_map_ = IdMap(
            state.pop("__user_ids").tolist(),
            kind="user",
            id_type="int" if user_type == "int" else "str",
        )
        model.item_map_ = IdMap(
            state.pop("__item_ids").tolist(),
            kind="item",
            id_type="int" if item_type == "int" else "str",
        )
        indptr = state.pop("__seen_indptr")
        indices = state.pop("__seen_indices")
        model.seen_ = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), indices, indptr),
            shape=(len(model.user_map_), len(model.item_map_)),
        )
        model.tie_ranks_ = tie_break_ranks(len(model.item_map_), model.config.random_state)
        model._set_state(state)
        model.is_fitted = True
        return model


def zero_rows(value: Any, rows: IdxArray) -> Any:
    """A copy of a per-user array or sparse matrix with ``rows`` zeroed."""
    if sp.issparse(value):
        matrix = sp.csr_matrix(value, copy=True)
        for row in rows.tolist():
            matrix.data[matrix.indptr[row] : matrix.indptr[row + 1]] = 0
        matrix.eliminate_zeros()
        return matrix
    array = np.array(value, copy=True)
    array[rows] = 0
    return array


def id_list(values: object, what: str) -> list[object]:
    """A list of ids from what a caller passed where ids are expected.

    A bare ``str`` (or an int) is one id, never a list of characters; ``None`` and other
    non-iterables raise TypeError.
    """
    if isinstance(values, str | bytes | int | np.integer):
        return [values.decode() if isinstance(values, bytes) else values]
    if values is None or not hasattr(values, "__iter__"):
        raise TypeError(f"{what} must be a list of ids, got {type(values).__name__}")
    return list(values)


def _check_k(k: int) -> None:
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
