"""Evaluate a fitted model on held-out interactions with full ranking over all items.

No sampled negatives: every item in the catalogue is ranked, the user's input history is
filtered, and ties are broken by the model's fixed random item permutation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.idmap import IdMap
from digirec.evaluation.beyond import (
    average_recommended_popularity,
    catalog_coverage,
    gini_exposure,
    intra_list_diversity,
    item_popularity,
    novelty,
)
from digirec.evaluation.metrics import PAD, compute_ranking_metrics
from digirec.exceptions import ConfigError, SchemaError
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
    check_same_index_space(model, holdout)
    truth = holdout_truth(holdout)
    users = np.flatnonzero(np.diff(truth.indptr) > 0).astype(np.int64)
    reco, _ = model.recommend_idx(users, k, batch_size=batch_size)
    return users, reco, truth[users]


def check_same_index_space(model: Recommender, holdout: Dataset) -> None:
    """Refuse to score a model on a holdout whose id maps differ from the model's.

    Internal indices only mean the same user and item when both come from one Dataset (or its
    ``subset``); two Datasets built separately number their ids differently, and comparing
    indices would give plausible but wrong numbers.

    Raises
    ------
    ConfigError
        The user or item maps differ (in ids or order).
    """
    for kind, mine, theirs in (
        ("user", getattr(model, "user_map_", None), holdout.user_map),
        ("item", getattr(model, "item_map_", None), holdout.item_map),
    ):
        if mine is not None and mine is not theirs and mine != theirs:
            raise ConfigError(
                f"the model's {kind} id map differs from the holdout's ({len(mine)} vs "
                f"{len(theirs)} {kind}s, or another order): build both from one Dataset "
                "(split it with digirec.leave_one_out and Dataset.subset), or compare "
                "recommendation frames with digirec.calc_metrics"
            )


def calc_metrics(
    recommendations: pd.DataFrame,
    test: pd.DataFrame,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    metrics: Sequence[str] = ("ndcg", "recall", "precision", "mrr", "hit_rate", "map"),
) -> dict[str, float]:
    """Ranking metrics of a recommendations frame against a test frame, by external ids.

    Parameters
    ----------
    recommendations:
        ``user_id, item_id`` and ``rank`` (1 = best) or, without ``rank``, ``score`` (higher
        is better; equal scores keep the frame's order): the output of ``recommend``.
    test:
        ``user_id, item_id``: the relevant items per user (repeated pairs count once).
    ks:
        Cut-offs; keys are ``name@k``.
    metrics:
        Names from :data:`digirec.evaluation.metrics.RANKING_METRICS`.

    Returns
    -------
    dict
        ``{"ndcg@10": ..., ...}``, averaged over the users of ``test`` (a test user without
        recommendations counts with 0), plus ``n_users_evaluated``. Recommendations for users
        outside ``test`` are ignored. Ids are compared as text, so int and str ids match.

    Raises
    ------
    SchemaError
        A required column is missing.
    """
    for frame, name in ((recommendations, "recommendations"), (test, "test")):
        for column in (C.USER_ID, C.ITEM_ID):
            if column not in frame.columns:
                raise SchemaError(f"the {name} frame has no {column!r} column", field=column)
    if C.RANK not in recommendations.columns and C.SCORE not in recommendations.columns:
        raise SchemaError("the recommendations frame needs a 'rank' or 'score' column")
    truth_users = test[C.USER_ID].astype(str).to_numpy(dtype=object)
    truth_items = test[C.ITEM_ID].astype(str).to_numpy(dtype=object)
    users = IdMap.from_values(truth_users, kind="user")
    reco_items = recommendations[C.ITEM_ID].astype(str).to_numpy(dtype=object)
    items = IdMap.from_values(np.concatenate([truth_items, reco_items]), kind="item")
    truth = sp.csr_matrix(
        (
            np.ones(len(test), dtype=np.float32),
            (users.to_internal(truth_users), items.to_internal(truth_items)),
        ),
        shape=(len(users), len(items)),
    )
    truth.sum_duplicates()
    truth.data[:] = 1.0
    frame = recommendations.assign(
        _user=recommendations[C.USER_ID].astype(str), _pos=np.arange(len(recommendations))
    )
    frame = frame[frame["_user"].isin(set(users.to_list()))]
    if C.RANK in frame.columns:
        frame = frame.sort_values(["_user", C.RANK, "_pos"], kind="stable")
    else:
        frame = frame.assign(_neg=-frame[C.SCORE].astype(float))
        frame = frame.sort_values(["_user", "_neg", "_pos"], kind="stable")
    max_k = max(ks)
    reco = np.full((len(users), max_k), PAD, dtype=np.int64)
    row = users.to_internal(frame["_user"].to_numpy(dtype=object))
    col = items.to_internal(frame[C.ITEM_ID].astype(str).to_numpy(dtype=object))
    # Position of each recommendation inside its user's sorted list.
    starts = np.r_[0, np.flatnonzero(row[1:] != row[:-1]) + 1]
    place = np.arange(len(row)) - np.repeat(starts, np.diff(np.r_[starts, len(row)]))
    keep = place < max_k
    reco[row[keep], place[keep]] = col[keep]
    results = compute_ranking_metrics(reco, truth, ks=tuple(ks), metrics=tuple(metrics))
    results["n_users_evaluated"] = float(len(users))
    return results


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
