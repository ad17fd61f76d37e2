"""Popularity baselines: global popularity and popularity within the user's categories.

Both models are the floor every personalised model must beat, and the fallbacks the service uses
(``source="popular"`` / ``"popular_in_category"``). They learn one number per item, so they fit in
milliseconds and serve any user, including users known only by a short history.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import Field

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.exceptions import ConfigError
from digirec.models.base import FloatMatrix, IdxArray, ModelConfig, Recommender

SECONDS_PER_DAY = 86_400.0


class PopularConfig(ModelConfig):
    """Configuration of :class:`PopularModel`.

    Attributes
    ----------
    weighting:
        ``"users"`` counts the distinct users who interacted with an item; ``"weight"`` sums the
        interaction weights (event weights, time decay) of the dataset instead.
    recent_days:
        If set, only events in the last ``recent_days`` days of the data (counted back from the
        newest timestamp) contribute, so the list follows current demand. Events without a
        timestamp are then ignored; a dataset without any timestamp is a :class:`ConfigError`.
        ``None`` uses all events.
    random_state:
        Seeds the tie-break between items of equal popularity.
    """

    weighting: Literal["users", "weight"] = Field(
        "users", description="'users': distinct users per item; 'weight': summed weights."
    )
    recent_days: float | None = Field(
        None, gt=0, description="Count only events in the last N days of the data (None: all)."
    )


class PopularModel(Recommender):
    """Most popular items, the same list for every user.

    ``score(u, i) = pop(i)``: the number of distinct users of item ``i`` (or the summed weight,
    see :class:`PopularConfig`). Histories are accepted but ignored: a new user gets the same list
    minus the items already in the history. :meth:`similar_items` also returns the most popular
    items (popularity carries no notion of similarity; the service labels it ``popular``).

    Attributes
    ----------
    item_scores_:
        ``(n_items,)`` float32 popularity of each item.
    """

    name: ClassVar[str] = "pop"
    personalised: ClassVar[bool] = False
    config_class: ClassVar[type[ModelConfig]] = PopularConfig
    supports_history: ClassVar[bool] = True
    config: PopularConfig

    item_scores_: NDArray[np.float32]

    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        del valid
        self.item_scores_ = item_popularity(dataset, self.config)

    def _tile(self, n_rows: int) -> FloatMatrix:
        # A read-only broadcast view is enough: the base class copies before filtering.
        return np.broadcast_to(self.item_scores_, (n_rows, len(self.item_scores_)))

    def _score_users(self, user_idx: IdxArray) -> FloatMatrix:
        return self._tile(len(user_idx))

    def _score_histories(self, histories: sp.csr_matrix) -> FloatMatrix:
        return self._tile(histories.shape[0])

    def _similar_scores(self, item_idx: IdxArray) -> FloatMatrix:
        return self._tile(len(item_idx))

    def _get_state(self) -> dict[str, NDArray[Any]]:
        return {"item_scores": self.item_scores_}

    def _set_state(self, state: Mapping[str, NDArray[Any]]) -> None:
        self.item_scores_ = np.asarray(state["item_scores"], dtype=np.float32)


class CategoryPopularConfig(PopularConfig):
    """Configuration of :class:`CategoryPopularModel`.

    Attributes
    ----------
    category_column:
        Catalogue column (in ``dataset.items``) holding each item's category.
    global_weight:
        Weight of the global popularity term ``global_weight * pop(i) / max pop``. It orders the
        items of categories the user never visited (and items without a category), and gives users
        without category data a plain popularity list. Keep it small (< 1) so that the user's own
        categories come first.
    weighting, recent_days, random_state:
        As in :class:`PopularConfig`.
    """

    category_column: str = Field(
        C.CATEGORY, min_length=1, description="Catalogue column with the item category."
    )
    global_weight: float = Field(
        0.01, ge=0, description="Weight of the normalised global popularity term."
    )


class CategoryPopularModel(Recommender):
    """Popular items in the categories the user interacts with.

    ::

        score(u, i) = share_u(cat(i)) * pop(i) / max_{j in cat(i)} pop(j)
                      + w * pop(i) / max_j pop(j)

    where ``share_u(c)`` is the fraction of the user's (binary) history in category ``c`` and
    ``w`` is ``global_weight``. Popularity is normalised within each category, so the most
    popular item of the user's dominant category always comes first (for ``w`` small) and each
    visited category contributes its best sellers in proportion to the user's share; items of
    unvisited or unknown categories follow by global popularity. Histories work the same way,
    which makes this the ``popular_in_category`` fallback for new users and sessions.
    :meth:`similar_items` scores a one-item history: popular items of the same category.

    Attributes
    ----------
    item_category_:
        ``(n_items,)`` int64 category code of each item (``-1``: unknown).
    item_pop_in_category_:
        ``(n_items,)`` float32 popularity divided by the maximum in the item's category.
    item_pop_global_:
        ``(n_items,)`` float32 popularity divided by the global maximum.
    """

    name: ClassVar[str] = "catpop"
    personalised: ClassVar[bool] = False
    non_personal_source: ClassVar[str] = "popular_in_category"
    config_class: ClassVar[type[ModelConfig]] = CategoryPopularConfig
    supports_history: ClassVar[bool] = True
    requires_item_features: ClassVar[bool] = True
    config: CategoryPopularConfig

    item_category_: NDArray[np.int64]
    item_pop_in_category_: NDArray[np.float32]
    item_pop_global_: NDArray[np.float32]

    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        del valid
        column = self.config.category_column
        codes = dataset.item_codes(column)
        if codes is None:
            raise ConfigError(
                f"model 'catpop' needs item categories: dataset.items must have a {column!r} "
                "column (load a catalogue with the interactions, or set category_column)"
            )
        pop = item_popularity(dataset, self.config).astype(np.float64)
        self.item_category_ = codes
        self.item_pop_global_ = _normalise(pop, np.zeros_like(codes)).astype(np.float32)
        self.item_pop_in_category_ = _normalise(pop, codes).astype(np.float32)

    @property
    def n_categories_(self) -> int:
        return int(self.item_category_.max(initial=-1)) + 1

    def _category_onehot(self) -> sp.csr_matrix:
        """``(n_items, n_categories)`` indicator matrix; items without category have no entry."""
        known = np.flatnonzero(self.item_category_ >= 0)
        return sp.csr_matrix(
            (np.ones(len(known), dtype=np.float32), (known, self.item_category_[known])),
            shape=(len(self.item_category_), self.n_categories_),
        )

    def _score_histories(self, histories: sp.csr_matrix) -> FloatMatrix:
        counts = np.asarray((histories @ self._category_onehot()).todense(), dtype=np.float32)
        lengths = np.asarray(histories.sum(axis=1), dtype=np.float32).reshape(-1, 1)
        # Shares over the whole history (items without category count in the denominator), so a
        # user who mostly buys uncategorised items leans on the global term.
        shares = counts / np.maximum(lengths, 1.0)
        known = self.item_category_ >= 0
        scores = np.zeros((histories.shape[0], len(self.item_category_)), dtype=np.float32)
        scores[:, known] = shares[:, self.item_category_[known]] * self.item_pop_in_category_[known]
        scores += self.config.global_weight * self.item_pop_global_
        return scores

    def _score_users(self, user_idx: IdxArray) -> FloatMatrix:
        # The binary training history is stored by the base class (and saved with the model).
        return self._score_histories(self.seen_[user_idx])

    def _get_state(self) -> dict[str, NDArray[Any]]:
        return {
            "item_category": self.item_category_,
            "item_pop_in_category": self.item_pop_in_category_,
            "item_pop_global": self.item_pop_global_,
        }

    def _set_state(self, state: Mapping[str, NDArray[Any]]) -> None:
        self.item_category_ = np.asarray(state["item_category"], dtype=np.int64)
        self.item_pop_in_category_ = np.asarray(state["item_pop_in_category"], dtype=np.float32)
        self.item_pop_global_ = np.asarray(state["item_pop_global"], dtype=np.float32)


# ---------------------------------------------------------------------- helpers
def item_popularity(dataset: Dataset, config: PopularConfig) -> NDArray[np.float32]:
    """Popularity of every item under ``config`` (``weighting``, ``recent_days``).

    Returns
    -------
    ``(n_items,)`` float32: distinct users (``"users"``) or summed weights (``"weight"``).
    """
    if config.recent_days is not None:
        dataset = dataset.subset(_recent_mask(dataset, config.recent_days))
    matrix = dataset.user_item_matrix(binary=config.weighting == "users")
    return np.asarray(matrix.sum(axis=0), dtype=np.float32).ravel()


def _recent_mask(dataset: Dataset, days: float) -> NDArray[np.bool_]:
    """Interactions within ``days`` of the newest timestamp (rows without timestamp excluded)."""
    ts = dataset.interactions[C.TIMESTAMP].to_numpy(dtype=np.float64)
    known = ~np.isnan(ts)
    if not known.any():
        raise ConfigError("recent_days needs timestamps, but the dataset has none")
    start = ts[known].max() - days * SECONDS_PER_DAY
    # NaN compares False, so rows without a timestamp drop out here.
    return np.asarray(ts >= start, dtype=bool)


def _normalise(values: NDArray[np.float64], groups: NDArray[np.int64]) -> NDArray[np.float64]:
    """Divide each value by the maximum of its group (groups ``-1`` are their own group)."""
    keys = np.where(groups >= 0, groups, -1)
    _, inverse = np.unique(keys, return_inverse=True)
    group_max = np.zeros(inverse.max(initial=-1) + 1, dtype=np.float64)
    np.maximum.at(group_max, inverse, values)
    denom = group_max[inverse]
    return np.divide(values, denom, out=np.zeros_like(values), where=denom > 0)
