"""Learning curves: test accuracy as each user's training history grows.

The split is the leave-one-out protocol of the benchmark (DESIGN.md section 3), unchanged: the
validation and test targets are the same at every point. For a fraction ``f`` each user keeps
the **most recent** ``ceil(f * n_u)`` of their ``n_u`` training interactions. Keeping the newest
end (rather than the oldest) keeps the kept history adjacent to the validation and test targets,
so a smaller fraction means "less history" and never "older history with a time gap" -- the
curve then measures the amount of data, not staleness. ``ceil`` keeps at least one interaction
for every user, so the set of users never changes along the curve, and the kept sets are nested
(a larger fraction keeps a superset).

At each fraction the model is tuned on validation over its grid (fit on the reduced training
part), refit with the chosen setting on the reduced training part + validation, and scored once
on test. Each point records the fraction, the mean number of interactions per user that the
final fit saw, and the test NDCG@10 / Recall@10 (also @20).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from digirec import __version__
from digirec.data.dataset import Dataset
from digirec.data.split import leave_one_out, position_in_user
from digirec.evaluation.evaluate import metrics_of_recommendations, rank_holdout
from digirec.evaluation.stats import confidence_intervals, user_sample
from digirec.training.tuning import TUNING_METRIC, grid_size, resolve_grid, tune_and_refit

__all__ = [
    "DEFAULT_FRACTIONS",
    "PROTOCOL",
    "keep_recent",
    "learning_curve_markdown",
    "learning_curve_svg",
    "parse_fractions",
    "run_learning_curve",
]

Progress = Callable[[str], None]

PROTOCOL = "learning-curve"
DEFAULT_FRACTIONS: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 1.0)
#: Test metrics stored on every point (the report plots the first one present).
POINT_METRICS = ("ndcg@10", "recall@10", "ndcg@20", "recall@20")


def parse_fractions(values: Sequence[float] | str) -> tuple[float, ...]:
    """Validate fractions (a sequence or ``"0.1,0.5,1"``): each in ``(0, 1]``; sorted, unique.

    Raises
    ------
    ValueError
        On text that is not a number, an empty list, or a value outside ``(0, 1]``.
    """
    if isinstance(values, str):
        parts = [p.strip() for p in values.split(",") if p.strip()]
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"fractions must be comma-separated numbers, got {values!r}") from None
    else:
        numbers = [float(v) for v in values]
    if not numbers:
        raise ValueError("give at least one fraction")
    bad = [v for v in numbers if not (0.0 < v <= 1.0)]  # also rejects NaN
    if bad:
        raise ValueError(f"fractions must be in (0, 1], got {bad}")
    return tuple(sorted(set(numbers)))


def keep_recent(dataset: Dataset, train: NDArray[np.bool_], fraction: float) -> NDArray[np.bool_]:
    """The most recent ``ceil(fraction * n_u)`` training rows of every user.

    Parameters
    ----------
    dataset:
        The data set (rows grouped by user in chronological order).
    train:
        Mask of the training rows; per user they must come before the user's other rows (true
        of :func:`~digirec.data.split.leave_one_out`, whose targets are each user's last rows).
    fraction:
        In ``(0, 1]``; ``1`` keeps every training row.

    Returns
    -------
    numpy.ndarray
        A boolean mask, a subset of ``train``; nested in ``fraction``.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    train = np.asarray(train, dtype=bool)
    position, _ = position_in_user(dataset)
    n_train = np.bincount(dataset.user_idx[train], minlength=dataset.n_users)
    # The float product can land just above an integer (0.3 * 10 = 3.0000000000000004); round
    # it first so ceil does not keep one interaction too many.
    n_keep = np.ceil(np.round(fraction * n_train, 9)).astype(np.int64)
    first_kept = (n_train - n_keep)[dataset.user_idx]
    return train & (position >= first_kept)


def run_learning_curve(
    dataset: Dataset,
    models: Sequence[str],
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    ks: Sequence[int] = (10, 20),
    tune: bool = True,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train each model on growing fractions of every user's history and score it on test.

    Parameters
    ----------
    dataset:
        The full data set.
    models:
        Registered model names.
    fractions:
        Shares of each user's training history to keep (most recent first), in ``(0, 1]``.
    ks:
        Cut-offs of the stored test metrics (``10`` is always added).
    tune:
        Search each model's grid on validation at every fraction; otherwise ``params``.
    params, grids:
        As in :func:`digirec.evaluation.benchmark.run_benchmark`.
    progress:
        Called with one line per step.

    Returns
    -------
    dict
        ``{"dataset", "protocol": "learning-curve", "split", "fractions", "ks", "tuned",
        "tuning_metric", "digirec_version", "learning_curve": {model: [point, ...]},
        "results": [...]}``. A point is ``{"fraction", "interactions_per_user", "n_train",
        "ndcg@10", "recall@10", "ndcg@20", "recall@20", "valid_ndcg@10", "fit_seconds",
        "params"}``. ``results`` holds each model at the largest fraction in the benchmark
        shape, so ``digirec report`` renders the document (table and curve).
    """
    say = progress or (lambda _msg: None)
    params = params or {}
    fractions = parse_fractions(fractions)
    ks = tuple(sorted({*ks, 10}))
    masks = leave_one_out(dataset)
    valid, test = dataset.subset(masks.valid), dataset.subset(masks.test)
    item_categories = dataset.item_codes("category")
    kept = {f: keep_recent(dataset, masks.train, f) for f in fractions}
    say(
        f"{dataset.name}: {dataset.n_users} users, {int(masks.train.sum())} training "
        f"interactions; fractions {list(fractions)}"
    )

    curves: dict[str, list[dict[str, Any]]] = {}
    results: list[dict[str, Any]] = []
    for name in models:
        grid = resolve_grid(name, tune, grids)
        points: list[dict[str, Any]] = []
        final_test: dict[str, float] = {}
        for fraction in fractions:
            train_f = dataset.subset(kept[fraction])
            fit_mask = kept[fraction] | masks.valid
            fit_data = dataset.subset(fit_mask)
            # The protocol's runner: search on validation, then the benchmark's refit (a fresh
            # fit, or SASRec's validated weights on new input).
            run = tune_and_refit(
                name, train_f, valid, fit_data, tune=tune, params=params, grids=grids, ks=ks
            )
            best = run.search.best
            fit_seconds = run.fit_seconds
            users, reco, truth_rows = rank_holdout(run.model, test, max(ks))
            metrics = metrics_of_recommendations(
                reco, truth_rows, ks=ks, n_items=test.n_items, train=fit_data,
                item_categories=item_categories,
            )  # fmt: skip
            sample = user_sample(users, reco, truth_rows, ks=ks, n_items=test.n_items)
            per_user = fit_data.n_interactions / max(1, dataset.n_users)
            point: dict[str, Any] = {
                "fraction": fraction,
                "interactions_per_user": per_user,
                "n_train": fit_data.n_interactions,
                **{m: metrics[m] for m in POINT_METRICS if m in metrics},
                # 95% bootstrap intervals over the test users (digirec.evaluation.stats).
                "test_ci95": confidence_intervals(
                    sample, [m for m in POINT_METRICS if m in metrics]
                ),
                f"valid_{TUNING_METRIC}": best.valid[TUNING_METRIC],
                "fit_seconds": fit_seconds,
                "params": best.params,
            }
            points.append(point)
            final_test = metrics  # fractions are sorted: the last one is the largest
            say(
                f"[{name}] fraction {fraction:g} ({per_user:.1f} interactions/user, "
                f"{grid_size(grid)} setting(s)): test ndcg@10={metrics['ndcg@10']:.4f} "
                f"recall@10={metrics['recall@10']:.4f}"
            )
        curves[name] = points
        results.append(
            {
                "model": name,
                "params": points[-1]["params"],
                "valid": {TUNING_METRIC: points[-1][f"valid_{TUNING_METRIC}"]},
                "test": final_test,
                "fit_seconds": points[-1]["fit_seconds"],
                "tuning": [],
                "fraction": fractions[-1],
            }
        )

    return {
        "dataset": {
            "name": dataset.name,
            "n_users": dataset.n_users,
            "n_items": dataset.n_items,
            "n_interactions": dataset.n_interactions,
        },
        "protocol": PROTOCOL,
        "split": {
            "n_train": int(masks.train.sum()),
            "n_valid": int(masks.valid.sum()),
            "n_test": int(masks.test.sum()),
        },
        "fractions": list(fractions),
        "ks": list(ks),
        "tuned": tune,
        "tuning_metric": TUNING_METRIC,
        "digirec_version": __version__,
        "learning_curve": curves,
        "results": results,
    }


def learning_curve_markdown(document: Mapping[str, Any]) -> str:
    """One markdown table per model: fraction, interactions per user, test metrics, fit time."""
    ds = document["dataset"]
    lines = [
        f"### {ds['name']} — learning curve (leave-one-out, most recent history kept), "
        f"{'tuned on validation' if document.get('tuned') else 'fixed settings'}",
        "",
    ]
    header = ["fraction", "interactions/user", "ndcg@10", "recall@10", "fit s"]
    for model, points in document["learning_curve"].items():
        lines += [
            f"#### {model}",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "|".join(["---"] * len(header)) + "|",
        ]
        for p in points:
            cells = [
                f"{p['fraction']:g}",
                f"{p['interactions_per_user']:.1f}",
                _cell(p.get("ndcg@10")),
                _cell(p.get("recall@10")),
                f"{p['fit_seconds']:.1f}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.4f}"


def learning_curve_svg(document: Mapping[str, Any], metric: str = "ndcg@10") -> str:
    """The curve as a standalone SVG (the report's own line chart): ``metric`` against the
    mean number of interactions per user, one line per model."""
    from digirec.evaluation.report import svg_line_chart

    series = {
        str(model): [
            (float(p["interactions_per_user"]), float(p[metric]))
            for p in points
            if p.get(metric) is not None and math.isfinite(p[metric])
        ]
        for model, points in document["learning_curve"].items()
    }
    return svg_line_chart(
        f"Learning curve: test {metric} by training interactions per user",
        series,
        chart_id="learning-curve",
        x_label="training interactions per user",
        y_label=f"test {metric}",
    )
