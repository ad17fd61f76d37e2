"""The benchmark protocol (DESIGN.md section 3): split -> tune on validation -> refit -> test.

Leave-one-out by time: per user the last interaction is the test target, the second-to-last the
validation target, the rest train (users with fewer than 3 interactions stay in train). All items
are ranked; the user's input history is excluded; ties follow a fixed random item permutation.
Hyperparameters are chosen on validation only, then the model is refit on train + validation and
scored once on test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from digirec import __version__
from digirec.data.dataset import Dataset
from digirec.data.split import leave_one_out
from digirec.evaluation.evaluate import evaluate_model
from digirec.training.tuning import (
    TUNING_GRIDS,
    TUNING_METRIC,
    Trial,
    grid_search,
    grid_size,
    reuse_searches,
)

Progress = Callable[[str], None]

#: Test metrics always reported in the markdown table, in this order.
TABLE_METRICS = ("ndcg@10", "recall@10", "ndcg@20", "recall@20", "mrr@20", "coverage@10")


def run_benchmark(
    dataset: Dataset,
    models: Sequence[str],
    *,
    ks: Sequence[int] = (10, 20),
    tune: bool = True,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the leave-one-out protocol for each model and return the results document.

    Parameters
    ----------
    dataset:
        The full data set (all interactions).
    models:
        Registered model names.
    tune:
        Search each model's grid on validation; otherwise use ``params`` (or defaults).
    params:
        Fixed settings per model; with ``tune`` they are the base that the grid overrides.
    grids:
        Override the default search space per model.
    """
    say = progress or (lambda _msg: None)
    params = params or {}
    # The tuning metric (ndcg@10) is always reported, whatever else is asked for.
    ks = tuple(sorted({*ks, 10}))
    masks = leave_one_out(dataset)
    train = dataset.subset(masks.train)
    valid = dataset.subset(masks.valid)
    train_valid = dataset.subset(masks.train | masks.valid)
    test = dataset.subset(masks.test)
    item_categories = dataset.item_codes("category")
    say(
        f"{dataset.name}: {dataset.n_users} users, {dataset.n_items} items, "
        f"{dataset.n_interactions} interactions; valid {valid.n_interactions}, "
        f"test {test.n_interactions} targets"
    )

    results: list[dict[str, Any]] = []
    # The hybrid tunes its components on the same split: reuse those searches.
    with reuse_searches():
        for name in models:
            base = dict(params.get(name, {}))
            grid = (grids or {}).get(name, TUNING_GRIDS.get(name, {})) if tune else {}
            n_settings = grid_size(grid)
            say(
                f"[{name}] {f'tuning {n_settings} setting(s)' if tune else 'fixed setting'}"
                " on validation"
            )
            report = _trial_reporter(name, n_settings, say)
            search = grid_search(
                name, train, valid, grid=grid, base_params=base, ks=ks, on_trial=report,
                keep_best_model=True,
            )  # fmt: skip
            best = search.best
            assert search.best_model is not None
            say(f"[{name}] refit on train+valid with {best.params}")
            start = time.perf_counter()
            model = search.best_model.refit(train_valid)
            fit_seconds = time.perf_counter() - start
            test_metrics = evaluate_model(
                model, test, ks=ks, train=train_valid, item_categories=item_categories
            )
            say(
                f"[{name}] test {TUNING_METRIC}={test_metrics[TUNING_METRIC]:.4f} "
                f"(fit {fit_seconds:.1f}s)"
            )
            entry: dict[str, Any] = {}
            history = getattr(search.best_model, "history_", None)
            if history is not None:
                # Torch models: how long the chosen setting trained on train alone.
                entry["training"] = {
                    "epochs": history.n_epochs,
                    "best_epoch": history.best_epoch,
                    "seconds_per_epoch": history.seconds_per_epoch,
                }
            results.append(
                {
                    "model": name,
                    "params": best.params,
                    "valid": best.valid,
                    "test": test_metrics,
                    "fit_seconds": fit_seconds,
                    # Fitting the chosen setting on train (with early stopping for torch
                    # models), and the whole search; fit_seconds is the final refit only.
                    "train_seconds": best.fit_seconds,
                    "tuning_seconds": sum(t.fit_seconds for t in search.trials),
                    "tuning": [
                        {
                            "params": t.params,
                            "valid": {TUNING_METRIC: t.valid[TUNING_METRIC]},
                            "fit_seconds": t.fit_seconds,
                        }
                        for t in search.trials
                    ]
                    if tune
                    else [],
                    **entry,
                }
            )

    return {
        "dataset": {
            "name": dataset.name,
            "n_users": dataset.n_users,
            "n_items": dataset.n_items,
            "n_interactions": dataset.n_interactions,
        },
        "protocol": "leave-one-out",
        "split": {
            "n_train": int(masks.train.sum()),
            "n_valid": int(masks.valid.sum()),
            "n_test": int(masks.test.sum()),
        },
        "ks": list(ks),
        "tuned": tune,
        "tuning_metric": TUNING_METRIC,
        "digirec_version": __version__,
        "results": results,
    }


def _trial_reporter(name: str, n_settings: int, say: Progress) -> Callable[[Trial], None]:
    """A progress callback that numbers the trials of one model's search."""
    done = 0

    def report(trial: Trial) -> None:
        nonlocal done
        done += 1
        say(
            f"[{name}] {done}/{n_settings} {TUNING_METRIC}={trial.valid[TUNING_METRIC]:.4f} "
            f"({trial.fit_seconds:.1f}s) {trial.params}"
        )

    return report


def to_markdown(document: Mapping[str, Any]) -> str:
    """A markdown table of the test metrics (best value per column in bold)."""
    ds = document["dataset"]
    rows = document["results"]
    columns = [m for m in TABLE_METRICS if any(m in r["test"] for r in rows)]
    best = {
        m: max((r["test"].get(m, float("-inf")) for r in rows), default=float("nan"))
        for m in columns
    }
    header = ["model", *columns, "valid ndcg@10", "fit s", "tuning s", "params"]
    lines = [
        f"### {ds['name']} — {document['protocol']}, "
        f"{'tuned on validation' if document.get('tuned') else 'fixed settings'}",
        "",
        f"{ds['n_users']:,} users, {ds['n_items']:,} items, {ds['n_interactions']:,} interactions.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * len(header)) + "|",
    ]
    for r in rows:
        cells = [r["model"]]
        for m in columns:
            value = r["test"].get(m)
            text = "–" if value is None or np.isnan(value) else f"{value:.4f}"
            if value is not None and value == best[m] and len(rows) > 1:
                text = f"**{text}**"
            cells.append(text)
        cells.append(f"{r['valid'].get(TUNING_METRIC, float('nan')):.4f}")
        cells.append(f"{r['fit_seconds']:.1f}")
        tuning_seconds = r.get("tuning_seconds")
        cells.append("–" if tuning_seconds is None else f"{tuning_seconds:.1f}")
        shown = {k: v for k, v in r["params"].items() if k != "random_state"}
        cells.append("`" + ", ".join(f"{k}={v}" for k, v in shown.items()) + "`")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
