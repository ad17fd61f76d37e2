"""Item and user features: catalogue columns, text and image embeddings, user profiles.

Modules
-------
catalog
    Brand / category / spec one-hot and multi-hot columns and price bands
    (:func:`build_item_features` -> :class:`ItemFeatures`).
text
    :class:`TfidfEncoder` (no extra dependency), :class:`MiniLMEncoder` and
    :class:`MultilingualUSEEncoder` (the ``text`` extra), :func:`encode_items`.
image
    Precomputed image vectors, synthetic product pictures, :class:`SmallImageCNN` (imports
    torch).
profile
    User profiles (:func:`build_profiles` -> :class:`UserProfiles`).
cache
    The on-disk embedding cache.

Names are resolved lazily, so ``import digirec.features`` imports neither torch nor scipy's
linear algebra until a feature is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CatalogConfig": "catalog",
    "CatalogFeaturizer": "catalog",
    "ItemFeatures": "catalog",
    "build_item_features": "catalog",
    "TextEncoder": "text",
    "TfidfEncoder": "text",
    "MiniLMEncoder": "text",
    "MultilingualUSEEncoder": "text",
    "encode_items": "text",
    "item_texts": "text",
    "EmbeddingCache": "cache",
    "ImageVectors": "image",
    "SmallImageCNN": "image",
    "load_image_vectors": "image",
    "render_product_image": "image",
    "render_product_images": "image",
    "UserProfiles": "profile",
    "build_profiles": "profile",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'digirec.features' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"digirec.features.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
