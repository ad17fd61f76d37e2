"""Hyperparameter search on the validation split (never on test).

Each registered model has a documented grid. ``grid_search`` fits every setting on the training
part, scores it on the validation targets with full ranking, and returns all trials with the best
one first. The benchmark then refits the winner on train + validation.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from digirec.data.dataset import Dataset
from digirec.evaluation.evaluate import evaluate_model
from digirec.models.base import Recommender
from digirec.models.registry import create_model

#: Search spaces per model (cartesian product of the listed values). Documented in
#: docs/benchmark.md; chosen to bracket the settings that published tuning studies found best for
#: sparse e-commerce data (EASE lambda 10..2000; iALS with strong regularisation).
TUNING_GRIDS: dict[str, dict[str, list[Any]]] = {
    "pop": {},
    "catpop": {"global_weight": [0.01, 0.1, 1.0]},
    "itemknn": {"n_neighbors": [20, 50, 100, 200, 500], "shrink": [0.0, 10.0, 100.0]},
    "ease": {"lambda": [10.0, 25.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0]},
    "als": {
        "factors": [64, 128, 256],
        "regularization": [0.01, 0.1, 1.0, 10.0],
        "alpha": [2.0, 10.0, 40.0],
    },
    "bpr": {
        "factors": [64, 128],
        "learning_rate": [0.01, 0.05],
        "regularization": [0.001, 0.01],
    },
    # Torch models stop early on validation NDCG@10 inside each fit, so the number of epochs is
    # not searched. MF (full softmax): width and Adam weight decay (4 fits, seconds each on
    # ML-100K). SASRec: one setting (the SASRec-CE reference: 2 blocks, hidden 64, dropout 0.3)
    # tuned by early stopping only -- one fit on Instruments is ~15 minutes on 2 CPU cores, and
    # the whole default benchmark must stay under 45; widen it with e.g.
    # --grid '{"sasrec": {"dropout": [0.2, 0.3, 0.5]}}' when there is time or a GPU.
    "mf": {"factors": [64, 128], "weight_decay": [0.0, 1e-4]},
    "sasrec": {},
}

TUNING_METRIC = "ndcg@10"


@dataclass
class Trial:
    """One fitted setting and its validation metrics."""

    params: dict[str, Any]
    valid: dict[str, float]
    fit_seconds: float


@dataclass
class SearchResult:
    """All trials of a search, best first by the tuning metric.

    ``best_model`` is the fitted best model when the search was asked to keep it.
    """

    trials: list[Trial] = field(default_factory=list)
    best_model: Recommender | None = None

    @property
    def best(self) -> Trial:
        return self.trials[0]


def iter_grid(grid: Mapping[str, Sequence[Any]]) -> Iterator[dict[str, Any]]:
    """All combinations of a grid, in a fixed order (an empty grid yields one empty setting)."""
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        yield dict(zip(keys, values, strict=True))


def grid_size(grid: Mapping[str, Sequence[Any]]) -> int:
    size = 1
    for values in grid.values():
        size *= len(values)
    return size


def _cutoff(metric: str) -> int:
    name, _, k = metric.partition("@")
    if not name or not k.isdigit():
        raise ValueError(f"tuning metric must look like 'ndcg@10', got {metric!r}")
    return int(k)


#: Searches already run in the active :func:`reuse_searches` scope, by what determines them.
_SEARCHES: ContextVar[dict[tuple[Any, ...], tuple[SearchResult, Dataset, Dataset]] | None] = (
    ContextVar("digirec_searches", default=None)
)


@contextmanager
def reuse_searches() -> Iterator[None]:
    """Within the block, an identical ``grid_search`` returns the earlier result.

    The benchmark tunes EASE, SASRec, ... and then a hybrid of them, whose components are tuned
    on the same split with the same grids: the second search would refit every setting for the
    same answer (for SASRec on Instruments, tens of minutes). Results are kept only for the
    block, together with the data sets they were computed on.
    """
    token = _SEARCHES.set({})
    try:
        yield
    finally:
        _SEARCHES.reset(token)


def _search_key(
    model_name: str,
    train: Dataset,
    valid: Dataset,
    grid: Mapping[str, Sequence[Any]],
    base_params: Mapping[str, Any] | None,
    eval_ks: Sequence[int],
    metric: str,
) -> tuple[Any, ...]:
    def canonical(value: Any) -> str:
        return json.dumps(value, sort_keys=True, default=repr)

    return (
        model_name,
        id(train),
        id(valid),
        canonical({k: list(v) for k, v in grid.items()}),
        canonical(dict(base_params or {})),
        tuple(eval_ks),
        metric,
    )


def grid_search(
    model_name: str,
    train: Dataset,
    valid: Dataset,
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    base_params: Mapping[str, Any] | None = None,
    ks: Sequence[int] = (10, 20),
    metric: str = TUNING_METRIC,
    on_trial: Callable[[Trial], None] | None = None,
    keep_best_model: bool = False,
) -> SearchResult:
    """Fit each grid setting on ``train`` and rank them by ``metric`` on ``valid``.

    Ties in the metric keep the grid order, so the search is deterministic. With
    ``keep_best_model`` the best fitted model is returned too. Inside :func:`reuse_searches`
    an identical earlier search is returned without refitting.
    """
    grid = TUNING_GRIDS.get(model_name, {}) if grid is None else grid
    # The tuning metric's cut-off is always evaluated, whatever the reported cut-offs are.
    eval_ks = sorted({*ks, _cutoff(metric)})
    cache = _SEARCHES.get()
    key = _search_key(model_name, train, valid, grid, base_params, eval_ks, metric)
    if cache is not None and key in cache:
        cached = cache[key][0]
        if cached.best_model is not None or not keep_best_model:
            return cached
    trials: list[Trial] = []
    best_model: Recommender | None = None
    best_score = float("-inf")
    for setting in iter_grid(grid):
        params = {**(base_params or {}), **setting}
        model = create_model(model_name, params)
        start = time.perf_counter()
        model.fit(train, valid)
        fit_seconds = time.perf_counter() - start
        metrics = evaluate_model(model, valid, ks=eval_ks)
        trial = Trial(params=model.get_config(), valid=metrics, fit_seconds=fit_seconds)
        trials.append(trial)
        if keep_best_model and metrics[metric] > best_score:
            best_model, best_score = model, metrics[metric]
        if on_trial is not None:
            on_trial(trial)
    order = sorted(range(len(trials)), key=lambda i: (-trials[i].valid[metric], i))
    result = SearchResult(trials=[trials[i] for i in order], best_model=best_model)
    if cache is not None:
        # The data sets are stored with the result so their ids cannot be reused meanwhile.
        cache[key] = (result, train, valid)
    return result
