"""Evaluate a fitted model on held-out interactions with full ranking over all items.

No sampled negatives: every item in the catalogue is ranked, the user's input history is
filtered, and ties are broken by the model's fixed random item permutation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from digirec.data.dataset import Dataset
from digirec.evaluation.beyond import (
    average_recommended_popularity,
    catalog_coverage,
    gini_exposure,
    intra_list_diversity,
    item_popularity,
    novelty,
)
from digirec.evaluation.metrics import compute_ranking_metrics
from digirec.models.base import Recommender

DEFAULT_KS: tuple[int, ...] = (10, 20)


def holdout_truth(holdout: Dataset) -> sp.csr_matrix:
    """Binary users x items relevance matrix of the held-out interactions."""
    return holdout.user_item_matrix(binary=True)


def evaluate_model(
    model: Recommender,
    holdout: Dataset,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    train: Dataset | None = None,
    item_categories: NDArray[np.int64] | None = None,
    batch_size: int = 1024,
) -> dict[str, float]:
    """Rank all items for every user with held-out interactions and compute metrics.

    Parameters
    ----------
    model:
        A model fitted on the input history; its own seen-matrix is filtered.
    holdout:
        The held-out interactions (same id maps as the training data).
    ks:
        Cut-offs; metric keys are ``name@k``.
    train:
        Training data, for the popularity-based beyond-accuracy metrics (novelty, ARP).
    item_categories:
        Category code per item for intra-list diversity (optional).
    """
    _users, reco, truth_rows = rank_holdout(model, holdout, max(ks), batch_size=batch_size)
    return metrics_of_recommendations(
        reco, truth_rows, ks=ks, n_items=holdout.n_items, train=train,
        item_categories=item_categories,
    )  # fmt: skip


def rank_holdout(
    model: Recommender, holdout: Dataset, k: int, *, batch_size: int = 1024
) -> tuple[NDArray[np.int64], NDArray[np.int64], sp.csr_matrix]:
    """The ranked top ``k`` of every user with held-out interactions, over all items.

    Returns ``(users, reco, truth_rows)``: the users (internal indices), their lists (one row
    per user) and their rows of the binary relevance matrix -- what :func:`evaluate_model`
    averages, and what :mod:`digirec.evaluation.stats` resamples per user.
    """
    truth = holdout_truth(holdout)
    users = np.flatnonzero(np.diff(truth.indptr) > 0).astype(np.int64)
    reco, _ = model.recommend_idx(users, k, batch_size=batch_size)
    return users, reco, truth[users]


def metrics_of_recommendations(
    reco: NDArray[np.int64],
    truth_rows: sp.csr_matrix,
    *,
    ks: Sequence[int],
    n_items: int,
    train: Dataset | None = None,
    item_categories: NDArray[np.int64] | None = None,
) -> dict[str, float]:
    """Accuracy and beyond-accuracy metrics of ranked lists ``reco`` (one row per user) against
    the matching rows of the relevance matrix -- the metric set of :func:`evaluate_model`."""
    results = compute_ranking_metrics(reco, truth_rows, ks=tuple(ks))
    # Built once, not per cut-off: it needs the whole training matrix.
    pop = item_popularity(train.user_item_matrix(binary=True)) if train is not None else None
    for k in ks:
        results[f"coverage@{k}"] = float(catalog_coverage(reco, n_items, k))
        results[f"gini@{k}"] = float(gini_exposure(reco, n_items, k))
        if train is not None and pop is not None:
            results[f"novelty@{k}"] = float(np.nanmean(novelty(reco, pop, train.n_users, k)))
            results[f"arp@{k}"] = float(np.nanmean(average_recommended_popularity(reco, pop, k)))
        if item_categories is not None:
            div = intra_list_diversity(reco, k, item_categories=item_categories)
            results[f"diversity@{k}"] = float(np.nanmean(div))
    results["n_users_evaluated"] = float(reco.shape[0])
    return results
