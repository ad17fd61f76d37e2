"""The offline score of a served model on a held-out split of its own shop's data.

An operator looking at the dashboard asks "how good is the model I am serving, on *my* data?".
Benchmark files answer that for public data sets; this module answers it for the bundle: at
train / retrain time, :func:`evaluate_for_bundle` holds out every user's last interaction
(leave-one-out by time, DESIGN.md section 3), fits a fresh copy of the model with the same
config on the rest, ranks all items for those users, and writes NDCG@10 and Recall@10 with 95%
bootstrap intervals over users, plus the paired difference with a popularity baseline, into
``evaluation.json`` next to the bundle's manifest. The served model itself (fitted on all data)
is untouched; the score is that of the same recipe one interaction per user earlier.

The cost is one more fit of the model on the training part (the refit is what makes the
score honest: a model scored on interactions it was trained on would look perfect).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digirec.data.dataset import Dataset
    from digirec.models.base import Recommender

__all__ = ["EVALUATION_FILE", "evaluate_for_bundle", "holdout_evaluation", "read_evaluation"]

#: The file in a bundle folder that holds the held-out score.
EVALUATION_FILE = "evaluation.json"
#: The metrics written (each with an interval).
METRICS = ("ndcg@10", "recall@10")


def holdout_evaluation(
    model: Recommender, dataset: Dataset, *, random_state: int = 0
) -> dict[str, Any] | None:
    """Score ``model``'s recipe on a leave-one-out split of ``dataset``.

    Returns ``None`` when no user has the three interactions the split needs. Otherwise a
    JSON-ready mapping: ``protocol``, ``n_users_evaluated``, ``metrics`` (``{name: value}``),
    ``ci95`` (``{name: [lo, hi]}``), ``vs_popular`` (paired difference with the popularity
    baseline, ``{name: {"diff", "ci95"}}``), ``fit_seconds`` of the held-out fit and
    ``computed_at``.
    """
    from digirec.data.split import leave_one_out
    from digirec.evaluation.evaluate import rank_holdout
    from digirec.evaluation.stats import confidence_intervals, paired_differences, user_sample
    from digirec.models.popular import PopularModel

    masks = leave_one_out(dataset)
    if not masks.test.any():
        return None
    # Train on everything but each user's last interaction (validation included: nothing is
    # tuned here, the served config is taken as it is).
    train = dataset.subset(~masks.test)
    test = dataset.subset(masks.test)
    started = time.perf_counter()
    copy = type(model).from_config(model.get_config()).fit(train)
    fit_seconds = time.perf_counter() - started
    k = 10
    users, reco, truth = rank_holdout(copy, test, k)
    sample = user_sample(users, reco, truth, ks=(k,), n_items=test.n_items)
    pop_users, pop_reco, pop_truth = rank_holdout(PopularModel().fit(train), test, k)
    pop_sample = user_sample(pop_users, pop_reco, pop_truth, ks=(k,), n_items=test.n_items)
    metrics = {m: float(sample.values[m].mean()) for m in METRICS}
    return {
        "protocol": "leave-one-out: each user's last interaction held out, all items ranked",
        "model": model.name,
        "n_users_evaluated": int(sample.n_users),
        "n_items": int(test.n_items),
        "metrics": metrics,
        "ci95": confidence_intervals(sample, METRICS, random_state=random_state),
        "vs_popular": paired_differences(sample, pop_sample, METRICS, random_state=random_state),
        "fit_seconds": fit_seconds,
        "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def evaluate_for_bundle(
    model: Recommender, dataset: Dataset, bundle: str | Path, *, random_state: int = 0
) -> dict[str, Any] | None:
    """:func:`holdout_evaluation` written to ``bundle/evaluation.json`` (nothing when ``None``)."""
    evaluation = holdout_evaluation(model, dataset, random_state=random_state)
    if evaluation is not None:
        path = Path(bundle) / EVALUATION_FILE
        path.write_text(json.dumps(evaluation, indent=2, sort_keys=True), encoding="utf-8")
    return evaluation


def read_evaluation(bundle: str | Path | None) -> dict[str, Any] | None:
    """The held-out score of a bundle, or ``None`` (no bundle path, no file, unreadable)."""
    if bundle is None:
        return None
    path = Path(bundle) / EVALUATION_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
