"""Implicit-feedback ALS trained by Spark MLlib; serves like any digirec model, without Spark.

Training runs :class:`pyspark.ml.recommendation.ALS` with ``implicitPrefs=True`` (the ``spark``
extra and Java 17 are needed to *fit*); the learned factors are then plain numpy arrays, so a
saved model -- and a bundle written by ``digirec train --engine spark`` -- loads and serves with
neither pyspark nor a JVM installed.

Spark's conventions differ from ``implicit``'s (:mod:`digirec.models.als`), and this model keeps
Spark's, so that a setting means what the Spark documentation says:

- confidence of an observed pair is ``c_ui = 1 + alpha * r_ui`` (``implicit``: ``alpha * x_ui``),
  unobserved pairs have confidence 1, preference is 1 where ``r_ui > 0``;
- the L2 penalty of a user (item) factor is ``regularization * n_u`` -- scaled by the user's
  (item's) number of ratings ("ALS-WR"); ``implicit`` uses one constant for every row.

So a user factor solves ``(VᵀV + Vᵀ(C_u - I)V + reg·n_u·I) u = Vᵀ C_u p_u``; :meth:`fold_in`
solves exactly that for a new history with the item factors fixed (one more half-sweep), which
is also how Spark computes the final user factors (items first, then users, in every iteration).
"""

from __future__ import annotations

from typing import ClassVar

import scipy.sparse as sp
from pydantic import Field

from digirec.data.dataset import Dataset
from digirec.models.als import ALSModel, als_fold_in
from digirec.models.base import FloatMatrix, ModelConfig


class SparkALSConfig(ModelConfig):
    """Configuration of :class:`SparkALSModel` (Spark MLlib's ALS parameters).

    Attributes
    ----------
    factors:
        Rank of the factorisation (Spark's ``rank``).
    regularization:
        Spark's ``regParam``; each factor's penalty is this times its number of ratings.
    alpha:
        Spark's ``alpha``: an observed pair has confidence ``1 + alpha * r_ui``.
    iterations:
        Spark's ``maxIter`` (each iteration solves all items, then all users).
    binary:
        Ratings are the interaction weights (``False``, the default, as for ``als``) or 1 for
        every observed pair (``True``).
    n_blocks:
        Spark's ``numUserBlocks`` and ``numItemBlocks``: how many partitions the factors are
        split into. The random initial factors are drawn per block, so the result depends on
        it: it is part of the setting, not a tuning knob for speed only.
    random_state:
        Spark's ``seed`` (a fit is deterministic for a given seed and ``n_blocks``) and the
        tie-break.
    """

    factors: int = Field(64, ge=1, description="Latent dimension (Spark's rank).")
    regularization: float = Field(
        0.1, ge=0, description="Spark's regParam, scaled by each row's number of ratings."
    )
    alpha: float = Field(10.0, ge=0, description="Confidence of an observed pair: 1 + alpha*r.")
    iterations: int = Field(15, ge=1, description="ALS iterations (Spark's maxIter).")
    # Weighted by default like the single-machine iALS, so --event-weights act on both engines.
    binary: bool = Field(
        False, description="Weighted by the event weights (False) or binary (True) ratings."
    )
    n_blocks: int = Field(4, ge=1, description="Spark's numUserBlocks / numItemBlocks.")


class SparkALSModel(ALSModel):
    """iALS from Spark MLlib with digirec's factor layout (see the module docstring).

    Scores are ``U @ Vᵀ``; :meth:`similar_items` is the cosine of item factors; histories get
    an exact fold-in in Spark's convention. Fitting needs a Spark session: the active one, or a
    local one started by :func:`digirec.engines.spark.spark_session`.

    Attributes
    ----------
    user_factors_:
        ``(n_users, factors)`` float32; users without a training interaction have zeros.
    item_factors_:
        ``(n_items, factors)`` float32; items without a training interaction have zeros (the
        solution of their normal equations with no rating, as in ``implicit``).
    """

    name: ClassVar[str] = "spark-als"
    config_class: ClassVar[type[ModelConfig]] = SparkALSConfig
    supports_history: ClassVar[bool] = True
    config: SparkALSConfig  # type: ignore[assignment]

    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        del valid
        from digirec.engines.spark import fit_spark_als, ratings_frame

        ratings = ratings_frame(dataset, binary=self.config.binary)
        self.user_items_ = None if self.config.binary else dataset.user_item_matrix()
        self.user_factors_, self.item_factors_ = fit_spark_als(
            ratings, self.config, n_users=dataset.n_users, n_items=dataset.n_items
        )

    def fold_in(self, histories: sp.csr_matrix) -> FloatMatrix:
        """User factors for ``(n, n_items)`` histories, item factors fixed (Spark's equations)."""
        return als_fold_in(
            histories,
            self.item_factors_,
            self.config.regularization,
            self.config.alpha,
            confidence_offset=1.0,
            scale_regularization=True,
            gram=self.item_gram(),
        )
