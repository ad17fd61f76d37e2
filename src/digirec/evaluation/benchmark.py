"""The benchmark protocol (DESIGN.md section 3): split -> tune on validation -> refit -> test.

Leave-one-out by time: per user the last interaction is the test target, the second-to-last the
validation target, the rest train (users with fewer than 3 interactions stay in train). All items
are ranked; the user's input history is excluded; ties follow a fixed random item permutation.
Hyperparameters are chosen on validation only, then the model is refit on train + validation and
scored once on test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from digirec import __version__
from digirec.data.dataset import Dataset
from digirec.data.split import SplitMasks, leave_one_out
from digirec.evaluation.evaluate import metrics_of_recommendations, rank_holdout
from digirec.evaluation.stats import (
    BASELINE_MODELS,
    CI_METRICS,
    N_RESAMPLES,
    RANDOM_STATE,
    UserSample,
    compare_with_baseline,
    user_sample,
    verdict,
)
from digirec.training.tuning import (
    TUNING_METRIC,
    grid_size,
    resolve_grid,
    reuse_searches,
    tune_and_refit,
)

Progress = Callable[[str], None]

#: Test metrics always reported in the markdown table, in this order.
TABLE_METRICS = ("ndcg@10", "recall@10", "ndcg@20", "recall@20", "mrr@20", "coverage@10")

#: How the intervals of a results document were computed (stored in it and under each table).
STATS_NOTE = (
    f"Intervals: 95% percentile bootstrap over test users ({N_RESAMPLES} draws, seed "
    f"{RANDOM_STATE}; the same draws for every model, so differences are paired)."
)


def run_benchmark(
    dataset: Dataset,
    models: Sequence[str],
    *,
    ks: Sequence[int] = (10, 20),
    tune: bool = True,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
    progress: Progress | None = None,
    masks: SplitMasks | None = None,
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
    masks:
        The leave-one-out split when another engine computed it (the Spark engine splits
        with window functions; tests pin it to :func:`leave_one_out`); default: computed here.
    """
    say = progress or (lambda _msg: None)
    params = params or {}
    # The tuning metric (ndcg@10) is always reported, whatever else is asked for.
    ks = tuple(sorted({*ks, 10}))
    masks = leave_one_out(dataset) if masks is None else masks
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
    samples: dict[str, UserSample] = {}
    # The hybrid tunes its components on the same split: reuse those searches.
    with reuse_searches():
        for name in models:
            n_settings = grid_size(resolve_grid(name, tune, grids))
            say(
                f"[{name}] {f'tuning {n_settings} setting(s)' if tune else 'fixed setting'}"
                " on validation"
            )
            run = tune_and_refit(
                name, train, valid, train_valid, tune=tune, params=params, grids=grids, ks=ks,
                progress=say,
            )  # fmt: skip
            users, reco, truth_rows = rank_holdout(run.model, test, max(ks))
            test_metrics = metrics_of_recommendations(
                reco, truth_rows, ks=ks, n_items=test.n_items, train=train_valid,
                item_categories=item_categories,
            )  # fmt: skip
            samples[name] = user_sample(users, reco, truth_rows, ks=ks, n_items=test.n_items)
            say(
                f"[{name}] test {TUNING_METRIC}={test_metrics[TUNING_METRIC]:.4f} "
                f"(fit {run.fit_seconds:.1f}s)"
            )
            entry = run.result()
            results.append({**entry, "test": test_metrics})
    # Intervals over the test users, and each model against the best baseline on validation.
    baseline = compare_with_baseline(results, samples)
    if baseline is not None:
        say(f"best single baseline on validation: {baseline}")

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
        "best_baseline": baseline,
        "stats": STATS_NOTE,
        "results": results,
    }


def _ci_text(interval: Sequence[float] | None) -> str:
    if interval is None or any(np.isnan(v) for v in interval):
        return ""
    return f" [{interval[0]:.4f}, {interval[1]:.4f}]"


def _diff_text(entry: Mapping[str, Any] | None) -> str:
    """``+0.0123 [0.0050, 0.0190] better`` (the verdict only when the interval excludes 0)."""
    if not entry:
        return "–"
    word = verdict(entry["ci95"])
    tag = "" if word == "tie" else f" **{word}**"
    return f"{entry['diff']:+.4f}{_ci_text(entry['ci95'])}{tag}"


def to_markdown(document: Mapping[str, Any]) -> str:
    """Markdown tables of the test metrics, with 95% intervals and paired differences.

    The first table has each metric's value (the best value per column in bold: the highest
    point estimate, not a claim), NDCG@10 with its bootstrap interval over users, and the
    paired difference in NDCG@10 against the best single baseline (chosen on validation); a
    model is marked **better** / **worse** only when that interval excludes 0. The second table
    gives the paired difference for every metric.
    """
    ds = document["dataset"]
    rows = document["results"]
    columns = [m for m in TABLE_METRICS if any(m in r["test"] for r in rows)]
    best = {
        m: max((r["test"].get(m, float("-inf")) for r in rows), default=float("nan"))
        for m in columns
    }
    baseline = document.get("best_baseline")
    diff_header = f"Δ ndcg@10 vs {baseline} [95% CI]" if baseline else "Δ ndcg@10"
    header = ["model"]
    for m in columns:
        header.append(f"{m} [95% CI]" if m == TUNING_METRIC else m)
        if m == TUNING_METRIC:
            header.append(diff_header)
    header += ["valid ndcg@10", "fit s", "tuning s", "params"]
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
            if m == TUNING_METRIC:
                text += _ci_text(r.get("test_ci95", {}).get(m))
                cells.append(text)
                cells.append(_diff_text(r.get("vs_best_baseline", {}).get(m)))
                continue
            cells.append(text)
        cells.append(f"{r['valid'].get(TUNING_METRIC, float('nan')):.4f}")
        cells.append(f"{r['fit_seconds']:.1f}")
        tuning_seconds = r.get("tuning_seconds")
        cells.append("–" if tuning_seconds is None else f"{tuning_seconds:.1f}")
        shown = {k: v for k, v in r["params"].items() if k != "random_state"}
        cells.append("`" + ", ".join(f"{k}={v}" for k, v in shown.items()) + "`")
        lines.append("| " + " | ".join(cells) + " |")
    if baseline and any("vs_best_baseline" in r for r in rows):
        metrics = [m for m in CI_METRICS if m in columns]
        lines += [
            "",
            f"Paired difference against **{baseline}** (the best of "
            f"{', '.join(BASELINE_MODELS)} on validation NDCG@10), mean over test users with a "
            "95% paired bootstrap interval; **better** / **worse** only when the interval "
            "excludes 0.",
            "",
            "| model | " + " | ".join(f"Δ {m}" for m in metrics) + " |",
            "|" + "|".join(["---"] * (len(metrics) + 1)) + "|",
        ]
        for r in rows:
            if r["model"] == baseline or "vs_best_baseline" not in r:
                continue
            vs = r["vs_best_baseline"]
            lines.append(
                "| " + " | ".join([r["model"], *(_diff_text(vs.get(m)) for m in metrics)]) + " |"
            )
    if any("test_ci95" in r for r in rows):
        lines += ["", STATS_NOTE]
    return "\n".join(lines) + "\n"
