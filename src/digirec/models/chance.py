"""The chance baseline: every item gets a random score (registered as ``random``).

A ranking model is only worth something when it beats chance, and in a cold-start view the
usual baseline, popularity, scores every new item 0 -- "beats popularity" then only says that a
model reaches new items at all. This model ranks uniformly at random, reproducibly: a user's
scores are drawn from a generator seeded by ``(random_state, user_idx)``, so a batch equals
per-user calls, a refit gives the same lists, and two users get independent orders. Its
expected NDCG@10 is the chance level of the view it is evaluated in (e.g. among the held-out
items only, ``--cold-candidates cold``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from digirec.data.dataset import Dataset
from digirec.models.base import FloatMatrix, IdxArray, ModelConfig, Recommender

#: Seed-sequence word that keeps item-to-item draws apart from user draws.
_ITEM_STREAM = 1


class RandomModel(Recommender):
    """Uniformly random scores, seeded per user (see the module doc)."""

    name: ClassVar[str] = "random"
    #: Not personalised: the service labels its lists "popular" (a fallback-level list).
    personalised: ClassVar[bool] = False
    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    # Chance ranks a new item like any other: it "supports" cold items by construction.
    supports_cold_items: ClassVar[bool] = True

    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        del dataset, valid  # nothing to learn

    def _draw(self, keys: IdxArray, stream: int) -> FloatMatrix:
        out = np.empty((len(keys), self.n_items), dtype=np.float32)
        seed = int(self.config.random_state)
        for row, key in enumerate(np.asarray(keys, dtype=np.int64)):
            rng = np.random.default_rng([seed, stream, int(key)])
            out[row] = rng.random(self.n_items, dtype=np.float32)
        return out

    def _score_users(self, user_idx: IdxArray) -> FloatMatrix:
        return self._draw(user_idx, 0)

    def _similar_scores(self, item_idx: IdxArray) -> FloatMatrix:
        return self._draw(item_idx, _ITEM_STREAM)
