"""Content kNN: item-item cosine similarity of catalogue attributes and text (a cold-start
baseline).

Each item is a vector of two blocks, each L2-normalised and weighted:

- its catalogue features (:func:`digirec.features.content.catalog_matrix`: brand / category
  one-hot, genres / feature tags multi-hot, price bands and standardised specs), weight
  ``sqrt(1 - text_weight)``;
- the sparse TF-IDF of its text (title, brand, category, description; word uni- and bigrams
  and character n-grams), weight ``sqrt(text_weight)``;

and the whole row is normalised again, so the dot product of two items is their cosine
similarity, ``(1 - text_weight)`` times the catalogue cosine plus ``text_weight`` times the
text cosine. Both recipes (vocabularies, IDF, price and spec moments) are fitted on the
**training items only** (items with a training interaction) and then applied to every row, so a
cold item is featurised as a new product would be.

A user (or a given history) is the mean of their history's item vectors; an item's score is
the dot product with that mean -- the average cosine similarity of the item to the user's
items. Nothing behavioural enters: a cold item is scored exactly like a warm one, which makes
this the honest reference for any content model ("does the model know more than the
catalogue?").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import Field

from digirec.data.dataset import Dataset
from digirec.exceptions import ConfigError
from digirec.features.content import (
    catalog_matrix,
    l2_normalise_rows,
    text_tfidf_matrix,
    training_items,
)
from digirec.features.text import DEFAULT_TEXT_FIELDS
from digirec.models.base import FloatMatrix, IdxArray, ModelConfig, Recommender

#: Catalogues up to this size get a cached dense item-item cosine matrix (12k items: 0.6 GB).
DENSE_SIMILARITY_MAX_ITEMS = 12_000


class ContentKNNConfig(ModelConfig):
    """Configuration of :class:`ContentKNNModel`.

    Attributes
    ----------
    text_weight:
        Share of the text cosine in the item similarity (the rest is the catalogue cosine).
        Where one block is missing the other gets the whole weight.
    text_fields:
        Catalogue columns joined into an item's text.
    """

    text_weight: float = Field(0.5, ge=0.0, le=1.0, description="Share of the text cosine.")
    text_fields: tuple[str, ...] = Field(
        DEFAULT_TEXT_FIELDS, description="Catalogue columns joined into the item text."
    )


class ContentKNNModel(Recommender):
    """Item-item content similarity; users are the mean of their items (see the module doc).

    Attributes
    ----------
    item_vectors_:
        ``(n_items, n_features)`` float32 CSR, unit rows (zero for an item without content).
    """

    name: ClassVar[str] = "contentknn"
    config_class: ClassVar[type[ModelConfig]] = ContentKNNConfig
    supports_history: ClassVar[bool] = True
    supports_cold_items: ClassVar[bool] = True
    requires_item_features: ClassVar[bool] = True
    config: ContentKNNConfig

    item_vectors_: sp.csr_matrix
    _similarity: NDArray[np.float32] | None = None

    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        del valid  # nothing is learned from interactions beyond which items are "training"
        if dataset.items is None:
            raise ConfigError("contentknn needs item features: the dataset has no item table")
        cfg = self.config
        fit_rows = training_items(dataset)
        blocks: list[tuple[sp.csr_matrix, float]] = []
        # A block with weight 0 is skipped unless it is the only one (see below).
        catalog = catalog_matrix(dataset.items, fit_rows) if cfg.text_weight < 1.0 else None
        if catalog is not None:
            blocks.append((l2_normalise_rows(catalog), 1.0 - cfg.text_weight))
        text = (
            text_tfidf_matrix(
                dataset.items, fit_rows, cfg.text_fields, random_state=cfg.random_state
            )
            if cfg.text_weight > 0.0 or catalog is None
            else None
        )
        if text is not None:
            blocks.append((l2_normalise_rows(text), cfg.text_weight))
        if not blocks:
            raise ConfigError("contentknn: the catalogue has neither attributes nor text")
        total = sum(weight for _, weight in blocks)
        if total <= 0:
            # The one block present got weight 0 (e.g. text_weight=1 without text): use it whole.
            blocks = [(matrix, 1.0) for matrix, _ in blocks]
            total = float(len(blocks))
        weighted = [matrix * np.float32(np.sqrt(weight / total)) for matrix, weight in blocks]
        self.item_vectors_ = l2_normalise_rows(sp.hstack(weighted, format="csr"))
        self._similarity = None

    def _item_similarity(self) -> NDArray[np.float32] | None:
        """The dense ``(n_items, n_items)`` cosine matrix, built once on first use when it
        fits in :data:`DENSE_SIMILARITY_MAX_ITEMS` (a text vocabulary has tens of thousands
        of columns: scoring through it per batch costs far more than one product)."""
        if self._similarity is None and self.n_items <= DENSE_SIMILARITY_MAX_ITEMS:
            x = self.item_vectors_
            self._similarity = np.asarray((x @ x.T).toarray(), dtype=np.float32)
        return self._similarity

    # ------------------------------------------------------------------ scoring
    def _score_rows(self, histories: sp.csr_matrix) -> FloatMatrix:
        """Mean history vector against every item: ``mean_j x_j . x_i``."""
        h = sp.csr_matrix(histories, dtype=np.float32)
        counts = np.asarray(h.sum(axis=1), dtype=np.float32).ravel()
        scale = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
        mean = sp.csr_matrix(sp.diags(scale) @ h)
        similarity = self._item_similarity()
        if similarity is not None:
            return np.asarray(mean @ similarity, dtype=np.float32)
        users = mean @ self.item_vectors_
        return np.asarray((users @ self.item_vectors_.T).toarray(), dtype=np.float32)

    def _score_users(self, user_idx: IdxArray) -> FloatMatrix:
        return self._score_rows(self.seen_[np.asarray(user_idx, dtype=np.int64)])

    def _score_histories(self, histories: sp.csr_matrix) -> FloatMatrix:
        return self._score_rows(histories)

    def _similar_scores(self, item_idx: IdxArray) -> FloatMatrix:
        similarity = self._item_similarity()
        if similarity is not None:
            return np.array(similarity[np.asarray(item_idx, dtype=np.int64)], dtype=np.float32)
        rows = self.item_vectors_[np.asarray(item_idx, dtype=np.int64)]
        return np.asarray((rows @ self.item_vectors_.T).toarray(), dtype=np.float32)

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, NDArray[Any]]:
        x = self.item_vectors_
        return {
            "item_vectors.indptr": x.indptr.astype(np.int64),
            "item_vectors.indices": x.indices.astype(np.int64),
            "item_vectors.data": x.data.astype(np.float32),
            "item_vectors.shape": np.asarray(x.shape, dtype=np.int64),
        }

    def _set_state(self, state: Mapping[str, NDArray[Any]]) -> None:
        n_rows, n_cols = (int(v) for v in state["item_vectors.shape"])
        self.item_vectors_ = sp.csr_matrix(
            (
                np.asarray(state["item_vectors.data"], dtype=np.float32),
                np.asarray(state["item_vectors.indices"]),
                np.asarray(state["item_vectors.indptr"]),
            ),
            shape=(n_rows, n_cols),
        )
        self._similarity = None
