"""Next-purchase protocol: predict each user's last purchase from every event before it.

``digirec benchmark --target-event purchase``. The leave-one-out protocol asks "which item will
the user touch next?" on first occurrences; a shop asks "what will they buy?". Here:

* **Events.** All events are kept (the Dataset is built with ``duplicates="keep"``); each row
  already carries its event weight (and optional time decay).
* **Test target.** Per user, the last row of the target event type (``purchase``) whose item
  the user had not bought before (a first purchase of that item), provided at least one event
  precedes it. The input history is every event of that user before it, in the stable
  chronological order of :class:`~digirec.data.dataset.Dataset` (same-second events keep file
  order, so a cart logged before a purchase is history). The user's events after the target
  are dropped (nothing from after the target reaches a model).
* **Validation target.** The same user's previous first purchase of an item before the test
  target (again with at least one event before it); its input history is every event before
  it. Users with one qualifying purchase have a test target only; users with none are
  training data only.
* **Training.** For validation: every user's events before their validation target (users
  without one: before their test target; users without a test target: all events). For test:
  additionally the events between the two targets (the validation target included). Within
  each training part the events of a (user, item) pair combine by the run's ``duplicates``
  rule (:func:`~digirec.data.dataset.merge_duplicates`), so no weight sees a later event.
* **Ranking.** All items are ranked; only the items the user already *bought* are excluded.
  Items the user only viewed or carted stay rankable: a shop's next purchase is usually one of
  them (on the Taobao head 249 of 373 held-out purchases were in the buyer's own earlier
  events), and hiding them would score a recommender on items nobody considered buying. Ties
  follow each model's fixed random item permutation, as everywhere.
* **Choice on validation, never test.** Each model's grid (the benchmark's) is searched on the
  validation targets; the chosen setting is refit on the test training part and scored once.
  This is the protocols' one runner (:func:`~digirec.training.tuning.tune_and_refit`) with this
  protocol's validation scoring; fits get no validation set (the validation targets are no
  Dataset), so the refit is a fresh fit of the chosen setting (``retrain``).
* **Weighting arms.** A model with a ``binary`` setting (ALS, EASE, item-kNN) runs twice on the
  same split: ``weighted`` (``binary=False``, the models' default, on the run's rule, e.g. the
  pair's strongest event) and ``binary`` (``binary=True``: every observed pair counts 1, which
  is what first-occurrence training gives); ``model_default`` says which arm is the default.
  The ``comparisons`` entry is the paired difference weighted - binary over the same test
  users with a 95% bootstrap interval (:func:`digirec.evaluation.stats.paired_differences`); a
  verdict other than ``tie`` needs an interval that excludes 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from digirec import __version__
from digirec import columns as C
from digirec.data.dataset import Dataset, merge_duplicates
from digirec.data.events import DuplicatePolicy
from digirec.data.split import position_in_user
from digirec.evaluation.evaluate import metrics_of_recommendations
from digirec.evaluation.stats import (
    CI_METRICS,
    confidence_intervals,
    paired_differences,
    user_sample,
    verdict,
)
from digirec.exceptions import ConfigError
from digirec.models.base import Recommender
from digirec.models.registry import get_model_class
from digirec.training.tuning import TUNING_METRIC, resolve_grid, tune_and_refit

Progress = Callable[[str], None]

PROTOCOL = "next-purchase"
#: Metrics of the markdown table.
TABLE_METRICS = ("ndcg@10", "recall@10", "ndcg@20", "recall@20", "mrr@20")


@dataclass(frozen=True)
class NextPurchaseSplit:
    """Boolean masks over the rows of an all-events Dataset (see the module docstring).

    ``train``, ``between``, ``test_target`` and ``after`` partition the rows; ``valid_target``
    is the subset of ``between`` holding the validation targets.
    """

    train: NDArray[np.bool_]
    between: NDArray[np.bool_]
    valid_target: NDArray[np.bool_]
    test_target: NDArray[np.bool_]
    after: NDArray[np.bool_]

    @property
    def fit_valid(self) -> NDArray[np.bool_]:
        """Rows the models are fitted on for validation."""
        return self.train

    @property
    def fit_test(self) -> NDArray[np.bool_]:
        """Rows the chosen setting is refit on before the test."""
        return self.train | self.between


def next_purchase_split(events: Dataset, target_event: str = "purchase") -> NextPurchaseSplit:
    """Split an all-events Dataset (built with ``duplicates="keep"``) by each user's purchases.

    Raises
    ------
    ConfigError
        The data has no ``event`` column, or no user has a qualifying target.
    """
    table = events.interactions
    if C.EVENT not in table.columns:
        raise ConfigError(
            f"--target-event {target_event} needs an event column (the data has no event types)"
        )
    n = len(table)
    position, _count = position_in_user(events)
    user = events.user_idx
    is_target = (table[C.EVENT].astype(str).str.lower() == target_event).to_numpy()
    # A first purchase of the item by this user (a repeat purchase is not a new item to find).
    pair = pd.Series(user * max(events.n_items, 1) + events.item_idx)
    first_buy = is_target & ~(pair.where(is_target).duplicated() & is_target)
    candidate = first_buy & (position > 0)
    rows = np.arange(n)
    test_pos = _last_per_user(user, rows, candidate, events.n_users)
    has_test = test_pos >= 0
    test_target = np.zeros(n, dtype=bool)
    test_target[test_pos[has_test]] = True
    # The validation target: the last candidate strictly before the user's test target.
    cut = np.where(has_test, test_pos, n)  # row index of the test target (rows are per user)
    before_test = candidate & (rows < cut[user])
    valid_pos = _last_per_user(user, rows, before_test, events.n_users)
    has_valid = valid_pos >= 0
    valid_target = np.zeros(n, dtype=bool)
    valid_target[valid_pos[has_valid]] = True
    valid_cut = np.where(has_valid, valid_pos, cut)
    after = has_test[user] & (rows > cut[user])
    between = (rows >= valid_cut[user]) & (rows < cut[user])
    train = ~(after | between | test_target)
    if not has_test.any():
        raise ConfigError(
            f"no user has a {target_event!r} event after at least one other event: nothing to "
            "predict (check --event-weights names / the event column)"
        )
    return NextPurchaseSplit(
        train=train,
        between=between,
        valid_target=valid_target,
        test_target=test_target,
        after=after,
    )


def _last_per_user(
    user: NDArray[np.int64], rows: NDArray[np.int64], mask: NDArray[np.bool_], n_users: int
) -> NDArray[np.int64]:
    """Per user, the largest row index where ``mask`` holds (``-1`` when none)."""
    out = np.full(n_users, -1, dtype=np.int64)
    np.maximum.at(out, user[mask], rows[mask])
    return out


def training_part(events: Dataset, mask: NDArray[np.bool_], duplicates: DuplicatePolicy) -> Dataset:
    """The masked events with each (user, item) pair combined by ``duplicates`` (same id maps)."""
    sub = events.subset(mask)
    merged, _ = merge_duplicates(sub.interactions, duplicates)
    return Dataset(
        user_map=events.user_map,
        item_map=events.item_map,
        interactions=merged,
        items=events.items,
        users=events.users,
        name=events.name,
        stats=events.stats,
        extras=events.extras,
    )


def bought_matrix(events: Dataset, mask: NDArray[np.bool_], target_event: str) -> sp.csr_matrix:
    """Users x items: the items each user bought within the masked rows (what is excluded)."""
    table = events.interactions
    bought = mask & (table[C.EVENT].astype(str).str.lower() == target_event).to_numpy()
    matrix = sp.csr_matrix(
        (
            np.ones(int(bought.sum()), dtype=np.float32),
            (events.user_idx[bought], events.item_idx[bought]),
        ),
        shape=(events.n_users, events.n_items),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


@dataclass(frozen=True)
class _Targets:
    users: NDArray[np.int64]
    truth: sp.csr_matrix  # rows aligned with users
    exclude: sp.csr_matrix  # users x items (all users)


def _targets(
    events: Dataset, target: NDArray[np.bool_], history: NDArray[np.bool_], target_event: str
) -> _Targets:
    users = np.sort(events.user_idx[target])
    truth = sp.csr_matrix(
        (
            np.ones(int(target.sum()), dtype=np.float32),
            (events.user_idx[target], events.item_idx[target]),
        ),
        shape=(events.n_users, events.n_items),
    )
    return _Targets(users, truth[users], bought_matrix(events, history, target_event))


def _rank(model: Recommender, targets: _Targets, k: int) -> NDArray[np.int64]:
    reco, _ = model.recommend_idx(targets.users, k, filter_seen=True, seen=targets.exclude)
    return reco


@dataclass(frozen=True)
class Arm:
    """One way of training a model: the duplicates rule and the fixed settings it implies."""

    name: str
    duplicates: DuplicatePolicy
    params: Mapping[str, Any]


def arms_for(model_name: str, duplicates: DuplicatePolicy) -> list[Arm]:
    """``weighted`` and ``binary`` arms for models with a ``binary`` setting, else one arm."""
    config_class = get_model_class(model_name).config_class
    if "binary" in config_class.model_fields:
        return [
            Arm("weighted", duplicates, {"binary": False}),
            Arm("binary", "first", {"binary": True}),
        ]
    return [Arm("as-configured", duplicates, {})]


def is_model_default(model_name: str, arm: Arm) -> bool:
    """Whether the arm's fixed settings are the model's defaults (``weighted``: since
    ``binary=False`` became the default of ALS, EASE and item-kNN)."""
    fields = get_model_class(model_name).config_class.model_fields
    return all(fields[key].default == value for key, value in arm.params.items())


def run_next_purchase(
    events: Dataset,
    models: Sequence[str],
    *,
    target_event: str = "purchase",
    duplicates: DuplicatePolicy = "max",
    ks: Sequence[int] = (10, 20),
    tune: bool = True,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the next-purchase protocol (module docstring) and return the results document.

    Parameters
    ----------
    events:
        All events: a Dataset built with ``duplicates="keep"``.
    models:
        Registered model names.
    target_event:
        The event type to predict.
    duplicates:
        How the training events of a pair combine in the ``weighted`` arm (and for models
        without a ``binary`` setting).
    tune, params, grids:
        As in :func:`digirec.evaluation.benchmark.run_benchmark`; an arm's ``binary`` setting
        overrides ``params``.
    """
    say = progress or (lambda _msg: None)
    if events.stats is not None and events.stats.duplicates != "keep":
        raise ConfigError(
            "run_next_purchase needs every event: build the Dataset with duplicates='keep'"
        )
    ks = tuple(sorted({*ks, 10}))
    max_k = max(ks)
    split = next_purchase_split(events, target_event)
    valid = _targets(events, split.valid_target, split.fit_valid, target_event)
    test = _targets(events, split.test_target, split.fit_test, target_event)
    seen_before = _targets_in_history(events, split)
    say(
        f"{events.name}: {events.n_users} users, {events.n_items} items, {events.n_interactions} "
        f"events; {len(valid.users)} validation and {len(test.users)} test purchases"
    )
    parts: dict[DuplicatePolicy, tuple[Dataset, Dataset]] = {}

    def part(rule: DuplicatePolicy) -> tuple[Dataset, Dataset]:
        if rule not in parts:
            parts[rule] = (
                training_part(events, split.fit_valid, rule),
                training_part(events, split.fit_test, rule),
            )
        return parts[rule]

    def validation_score(model: Recommender) -> dict[str, float]:
        """The ranking metrics of the validation purchases (NaN without any)."""
        if not len(valid.users):
            return {TUNING_METRIC: float("nan")}
        reco = _rank(model, valid, max_k)
        return metrics_of_recommendations(reco, valid.truth, ks=ks, n_items=events.n_items)

    results: list[dict[str, Any]] = []
    samples: dict[tuple[str, str], Any] = {}
    for name in models:
        for arm in arms_for(name, duplicates):
            fit_valid, fit_test = part(arm.duplicates)
            base = {**dict((params or {}).get(name, {})), **arm.params}
            # The arm's fixed settings are not searched (``binary`` is the arm).
            grid = {k: v for k, v in resolve_grid(name, tune, grids).items() if k not in arm.params}
            run = tune_and_refit(
                name,
                fit_valid,
                None,
                fit_test,
                tune=tune,
                params={**(params or {}), name: base},
                grids={**(grids or {}), name: grid},
                progress=_prefixed(say, f"({arm.name} arm) "),
                score=validation_score,
                retrain=True,
            )
            best = run.search.best
            say(
                f"[{name}/{arm.name}] chose {best.params} "
                f"(valid {TUNING_METRIC}={best.valid[TUNING_METRIC]:.4f})"
            )
            model, fit_test_seconds = run.model, run.fit_seconds
            reco = _rank(model, test, max_k)
            test_metrics = metrics_of_recommendations(
                reco, test.truth, ks=ks, n_items=events.n_items, train=fit_test
            )
            sample = user_sample(test.users, reco, test.truth, ks=ks, n_items=events.n_items)
            samples[(name, arm.name)] = sample
            say(f"[{name}/{arm.name}] test {TUNING_METRIC}={test_metrics[TUNING_METRIC]:.4f}")
            results.append(
                {
                    "model": name,
                    "arm": arm.name,
                    "duplicates": arm.duplicates,
                    "model_default": is_model_default(name, arm),
                    "params": best.params,
                    "valid": best.valid,
                    "test": test_metrics,
                    "test_ci95": confidence_intervals(sample, CI_METRICS),
                    "n_settings": len(run.search.trials),
                    "tuning_seconds": run.search.search_seconds,
                    "fit_seconds": fit_test_seconds,
                }
            )
    comparisons = []
    for name in models:
        if (name, "weighted") in samples and (name, "binary") in samples:
            diff = paired_differences(
                samples[(name, "weighted")], samples[(name, "binary")], CI_METRICS
            )
            comparisons.append(
                {
                    "model": name,
                    "weighted_minus_binary": diff,
                    "verdict": verdict(diff[TUNING_METRIC]["ci95"]),
                }
            )
    return {
        "protocol": PROTOCOL,
        "target_event": target_event,
        "dataset": {
            "name": events.name,
            "n_users": int(events.n_users),
            "n_items": int(events.n_items),
            "n_events": int(events.n_interactions),
        },
        "split": {
            "n_valid_targets": len(valid.users),
            "n_test_targets": len(test.users),
            "n_fit_valid_events": int(split.fit_valid.sum()),
            "n_fit_test_events": int(split.fit_test.sum()),
            "n_events_after_test_target": int(split.after.sum()),
            "n_test_targets_in_own_history": int(seen_before),
            "validation_target": (
                "the user's previous first purchase of an item before the test target"
            ),
            "excluded_from_ranking": f"items the user already had a {target_event!r} event for",
        },
        "duplicates": duplicates,
        "ks": list(ks),
        "tuned": tune,
        "tuning_metric": TUNING_METRIC,
        "digirec_version": __version__,
        "results": results,
        "comparisons": comparisons,
    }


def _prefixed(say: Progress, prefix: str) -> Progress:
    """``say`` with ``prefix`` before every line."""
    return lambda line: say(prefix + line)


def _targets_in_history(events: Dataset, split: NextPurchaseSplit) -> int:
    """How many test targets the buyer had an earlier event for (viewed, carted ...)."""
    hist = sp.csr_matrix(
        (
            np.ones(int(split.fit_test.sum())),
            (events.user_idx[split.fit_test], events.item_idx[split.fit_test]),
        ),
        shape=(events.n_users, events.n_items),
    )
    users = events.user_idx[split.test_target]
    items = events.item_idx[split.test_target]
    return int((np.asarray(hist[users, items]).ravel() > 0).sum())


def next_purchase_markdown(document: Mapping[str, Any]) -> str:
    """A markdown table of the test metrics with intervals, and the weighting comparisons."""
    ds, split = document["dataset"], document["split"]
    lines = [
        f"### {ds['name']} — next {document['target_event']} "
        f"({'tuned on validation' if document.get('tuned') else 'fixed settings'})",
        "",
        f"{ds['n_users']:,} users, {ds['n_items']:,} items, {ds['n_events']:,} events; "
        f"{split['n_valid_targets']:,} validation / {split['n_test_targets']:,} test targets "
        f"({split['n_test_targets_in_own_history']:,} of the test items were in the buyer's "
        "own earlier events). Training rule of the weighted arm: "
        f"`{document['duplicates']}`.",
        "",
        "| model | arm | " + " | ".join(TABLE_METRICS) + " | params |",
        "|" + "|".join(["---"] * (len(TABLE_METRICS) + 3)) + "|",
    ]
    for r in document["results"]:
        labelled = r.get("model_default") and r["arm"] != "as-configured"
        cells = [r["model"], f"{r['arm']} (default)" if labelled else r["arm"]]
        for m in TABLE_METRICS:
            value = r["test"].get(m)
            ci = r.get("test_ci95", {}).get(m)
            text = "–" if value is None else f"{value:.4f}"
            if ci is not None and value is not None:
                text += f" [{ci[0]:.4f}, {ci[1]:.4f}]"
            cells.append(text)
        shown = {k: v for k, v in r["params"].items() if k != "random_state"}
        cells.append("`" + ", ".join(f"{k}={v}" for k, v in shown.items()) + "`")
        lines.append("| " + " | ".join(cells) + " |")
    if document.get("comparisons"):
        lines += ["", "| model | weighted - binary ndcg@10 [95% CI] | verdict |", "|---|---|---|"]
        for c in document["comparisons"]:
            d = c["weighted_minus_binary"][TUNING_METRIC]
            lines.append(
                f"| {c['model']} | {d['diff']:+.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}] "
                f"| {c['verdict']} |"
            )
    return "\n".join(lines) + "\n"
