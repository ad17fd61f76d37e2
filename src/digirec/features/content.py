"""Item content features fitted on the *training* items only.

Every content model (the content kNN baseline, the two-tower item tower, SASRec's text
embeddings) turns catalogue rows into vectors with a fitted recipe: a catalogue vocabulary, a
TF-IDF vocabulary and IDF weights, SVD / PCA components, price and spec moments. Fitting that
recipe on the whole catalogue lets the held-out items shape the features -- in a cold-items
evaluation the test items' words would be in the vocabulary and their directions in the SVD,
which a shop never has for a product that is not yet on sale. The helpers here fit on the rows
of the items that have at least one training interaction (:func:`training_items`) and then
transform **every** catalogue row with the frozen recipe, so a cold item is featurised exactly
as a new product would be: unseen words and values fall out or into the ``<other>`` bucket.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from digirec.data.dataset import Dataset
from digirec.features.catalog import CatalogConfig, CatalogFeaturizer
from digirec.features.text import DEFAULT_TEXT_FIELDS, TfidfEncoder, item_texts

__all__ = [
    "catalog_matrix",
    "l2_normalise_rows",
    "text_svd_vectors",
    "text_tfidf_matrix",
    "training_items",
]


def training_items(dataset: Dataset) -> NDArray[np.bool_]:
    """Items with at least one interaction in ``dataset`` (the rows a recipe may be fitted on).

    A data set without any interaction (nothing to learn from) falls back to every item, so the
    helpers still return features.
    """
    counts = np.bincount(dataset.item_idx, minlength=dataset.n_items)
    mask = counts > 0
    return mask if mask.any() else np.ones(dataset.n_items, dtype=bool)


def _fit_frame(items: pd.DataFrame, fit_rows: NDArray[np.bool_]) -> pd.DataFrame:
    rows = np.asarray(fit_rows, dtype=bool)
    if rows.shape != (len(items),):
        raise ValueError(f"fit_rows has shape {rows.shape}, the catalogue {len(items)} rows")
    return items.reset_index(drop=True)[rows].reset_index(drop=True)


def catalog_matrix(
    items: pd.DataFrame,
    fit_rows: NDArray[np.bool_],
    config: CatalogConfig | None = None,
) -> sp.csr_matrix | None:
    """Catalogue features (one-hot / multi-hot fields, price bands, specs) of every row.

    The :class:`~digirec.features.catalog.CatalogFeaturizer` is fitted on the ``fit_rows``
    only. ``None`` when the catalogue yields no column.
    """
    featurizer = CatalogFeaturizer(config or CatalogConfig()).fit(_fit_frame(items, fit_rows))
    matrix = featurizer.transform(items.reset_index(drop=True))
    return matrix if matrix.shape[1] else None


def text_tfidf_matrix(
    items: pd.DataFrame,
    fit_rows: NDArray[np.bool_],
    fields: Sequence[str] = DEFAULT_TEXT_FIELDS,
    *,
    random_state: int = 0,
) -> sp.csr_matrix | None:
    """L2-normalised sparse TF-IDF rows of every item's text; vocabulary and IDF from
    ``fit_rows``. ``None`` when the fitted rows have no text at all."""
    texts = item_texts(items, tuple(fields))
    fitted = [t for t, keep in zip(texts, fit_rows, strict=True) if keep]
    if not any(fitted):
        return None
    # dim=1: the SVD is not used here, only the vocabulary and IDF weights.
    encoder = TfidfEncoder(1, random_state=random_state).fit(fitted)
    return encoder.transform_sparse(texts).astype(np.float32)


def text_svd_vectors(
    items: pd.DataFrame,
    fit_rows: NDArray[np.bool_],
    dim: int,
    fields: Sequence[str] = DEFAULT_TEXT_FIELDS,
    *,
    random_state: int = 0,
) -> NDArray[np.float32] | None:
    """Dense ``(n_items, dim)`` TF-IDF + SVD (LSA) vectors, unit rows; the vocabulary, IDF and
    SVD are fitted on ``fit_rows``. ``None`` when the fitted rows have no text at all."""
    texts = item_texts(items, tuple(fields))
    fitted = [t for t, keep in zip(texts, fit_rows, strict=True) if keep]
    if not any(fitted):
        return None
    encoder = TfidfEncoder(dim, random_state=random_state).fit(fitted)
    return encoder.encode(texts)


def l2_normalise_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit length (zero rows stay zero)."""
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ matrix, dtype=np.float32)
