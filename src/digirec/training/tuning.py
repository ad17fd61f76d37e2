"""Hyperparameter search on the validation split (never on test).

Each registered model has a documented grid. ``grid_search`` fits every setting on the training
part, scores it on the validation targets with full ranking, and returns all trials with the best
one first. The benchmark then refits the winner on train + validation.

:func:`tune_and_refit` is the one tune -> refit step of every protocol (benchmark, cold-start
slices, learning curve, next purchase, the rating folds) and of ``digirec train --tune``; a
protocol passes its own validation scoring, metric direction, model factory or refit rule
instead of writing the loop again (``tests/unit/test_one_runner.py`` checks that none does).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, Self, TypeVar, overload

import numpy as np

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
    # Item-kNN fits take about a second: the grid is wide. The earlier one (20..500, shrink
    # 0..100) chose its top neighbours on three real sets and its bottom on Office, where 5
    # then won too: the grid now starts at the natural bound of one neighbour.
    "itemknn": {
        # Instruments (2018, 9,922 items) then chose 2000, the top, then 5000: the grid now
        # ends at its natural top, None (every co-occurring item, no pruning).
        "n_neighbors": [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, None],
        # Cell Phones (2014) chose shrink 1000, the top: widened to 10000.
        "shrink": [0.0, 10.0, 100.0, 1000.0, 10000.0],
    },
    "ease": {"lambda": [10.0, 25.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0]},
    # iALS chose regularization 10 (then the top) on all four real sets and alpha at an edge on
    # three: the grid now reaches past both ends that were chosen. 64 factors never won and is
    # dropped; factors stop at 256 as a compute budget (see BUDGET_CAPPED), not as an optimum.
    "als": {
        "factors": [128, 256],
        # Instruments then chose 300, the top: widened to 1000 and 3000.
        "regularization": [1.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0],
        # Office (2018 partial) then chose alpha 100, the new top: widened again to 300; Cell
        # Phones (2014) then chose 300 (with regularization 1000): widened to 1000.
        "alpha": [0.5, 2.0, 10.0, 40.0, 100.0, 300.0, 1000.0],
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
    # Cold-start baselines: chance has nothing to tune; content kNN the text / catalogue mix.
    "random": {},
    "contentknn": {"text_weight": [0.0, 0.25, 0.5, 0.75, 1.0]},
    # SLIST: 36 closed-form solves. inference_decay only changes scoring and is the last key,
    # so its 4 values reuse each solve (models/slist.py). Brackets the ML-100K optimum (alpha
    # 0.95, lambda 3, position_decay 4, inference_decay 8; lambda 1 and 10 both lost).
    "slist": {
        "alpha": [0.8, 0.95, 0.99],
        "lambda": [1.0, 3.0, 10.0, 30.0],
        "position_decay": [2.0, 4.0, 8.0],
        "inference_decay": [4.0, 8.0, 16.0, 32.0],
    },
}

TUNING_METRIC = "ndcg@10"

#: Grid dimensions whose top is a compute budget, not a bracket around an optimum (a larger
#: value costs more time or memory per fit than the default benchmark can spend on 2 cores).
#: Every other numeric dimension must contain its optimum: a committed benchmark result that
#: chose the edge of one of them fails ``tests/unit/test_grid_edges.py``.
BUDGET_CAPPED: dict[str, frozenset[str]] = {"als": frozenset({"factors"})}

#: Values below which a dimension cannot go (a 0 shrinkage is no shrinkage): choosing them is
#: not an edge effect.
NATURAL_LOWER_BOUNDS: dict[str, float] = {"shrink": 0.0, "weight_decay": 0.0, "n_neighbors": 1}

#: Dimensions whose ``None`` value is their natural top (item-kNN's ``n_neighbors=None`` keeps
#: every co-occurring item): a grid that searched ``None`` has no upper edge, and choosing
#: ``None`` is not an edge effect.
UNBOUNDED_BY_NONE: frozenset[str] = frozenset({"n_neighbors"})


class Tunable(Protocol):
    """What the runner needs from a model: a fit (validation optional), the resolved settings,
    and a refit of those settings on other data. Every :class:`Recommender` is one; a protocol
    with models of its own (the rating folds' bias baseline) passes a factory for them."""

    def fit(self, dataset: Dataset, valid: Dataset | None = None) -> Any: ...

    def get_config(self) -> dict[str, Any]: ...

    def refit(self, dataset: Dataset) -> Self: ...


#: The model type a search fits (:class:`Recommender` unless a protocol passes a factory).
M = TypeVar("M", bound=Tunable)


@dataclass
class Trial:
    """One fitted setting and its validation metrics."""

    params: dict[str, Any]
    valid: dict[str, float]
    fit_seconds: float
    #: Time of searches the fit reused from earlier in the run instead of repeating them (the
    #: hybrid's component searches): part of this setting's honest cost, not of its wall time.
    reused_seconds: float = 0.0
    #: The grid values of this trial as listed (``params`` is the model's resolved config).
    setting: dict[str, Any] = field(default_factory=dict)

    @property
    def cost_seconds(self) -> float:
        """What fitting this setting costs without reuse: its fit plus the searches it reused."""
        return self.fit_seconds + self.reused_seconds


@dataclass
class SearchResult(Generic[M]):
    """All trials of a search, best first by the tuning metric.

    ``best_model`` is the fitted best model when the search was asked to keep it.
    """

    trials: list[Trial] = field(default_factory=list)
    best_model: M | None = None
    #: Whether this result was returned from an earlier identical search (no fit was run).
    reused: bool = False

    @property
    def best(self) -> Trial:
        return self.trials[0]

    @property
    def search_seconds(self) -> float:
        """The cost of the whole search (every setting's fit, reused searches included)."""
        return sum(t.cost_seconds for t in self.trials)


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
_SEARCHES: ContextVar[dict[tuple[Any, ...], tuple[SearchResult[Any], Dataset, Dataset]] | None] = (
    ContextVar("digirec_searches", default=None)
)
#: Fits of one fixed setting in the active :func:`reuse_searches` scope, by (model name, train
#: id, valid id, setting): what a hybrid's fixed component needs, whatever the search scored.
_FITS: ContextVar[
    dict[tuple[str, int, int, str], tuple[Recommender, float, Dataset, Dataset]] | None
] = ContextVar("digirec_fits", default=None)
#: Refits already done in the active :func:`reuse_searches` scope, by (model id, data set id).
_REFITS: ContextVar[
    dict[tuple[int, int], tuple[Recommender, float, Recommender, Dataset]] | None
] = ContextVar("digirec_refits", default=None)


@contextmanager
def reuse_searches() -> Iterator[None]:
    """Within the block, an identical ``grid_search`` returns the earlier result.

    The benchmark tunes EASE, SASRec, ... and then a hybrid of them, whose components are tuned
    on the same split with the same grids: the second search would refit every setting for the
    same answer (for SASRec on Instruments, tens of minutes). Results are kept only for the
    block, together with the data sets they were computed on.
    """
    token = _SEARCHES.set({})
    fits = _FITS.set({})
    refits = _REFITS.set({})
    try:
        yield
    finally:
        _REFITS.reset(refits)
        _FITS.reset(fits)
        _SEARCHES.reset(token)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _fit_key(
    model_name: str, train: Dataset, valid: Dataset | None, params: Mapping[str, Any]
) -> tuple[str, int, int, str]:
    return (model_name, id(train), id(valid), _canonical(dict(params)))


def _remember_fit(
    model_name: str,
    train: Dataset,
    valid: Dataset | None,
    params: Mapping[str, Any],
    model: Recommender,
    seconds: float,
) -> None:
    """Keep a one-setting fit for :func:`fit_setting` (inside :func:`reuse_searches` only)."""
    fits = _FITS.get()
    if fits is not None and valid is not None:
        # The data sets are kept with the model so their ids cannot be reused meanwhile.
        fits[_fit_key(model_name, train, valid, params)] = (model, seconds, train, valid)


def fit_setting(
    model_name: str, params: Mapping[str, Any], train: Dataset, valid: Dataset | None
) -> tuple[Recommender, float]:
    """``(model, reused_seconds)``: ``model_name`` fitted with the fixed ``params`` on ``train``.

    Inside :func:`reuse_searches`, a fit of the same model, setting and split earlier in the
    block (the benchmark's ``--no-tune`` run of that model, or another hybrid's component) is
    returned instead of fitting again, with that fit's seconds as ``reused_seconds`` (0 when
    fitted here), whatever cut-offs the earlier search scored. A hybrid's fixed components go
    through this.
    """
    fits = _FITS.get()
    hit = None if fits is None else fits.get(_fit_key(model_name, train, valid, params))
    if hit is not None:
        return hit[0], hit[1]
    start = time.perf_counter()
    model = create_model(model_name, dict(params)).fit(train, valid)
    _remember_fit(model_name, train, valid, params, model, time.perf_counter() - start)
    return model, 0.0


def refit_model(model: Recommender, data: Dataset) -> tuple[Recommender, float]:
    """``(model.refit(data), reused_seconds)``.

    Inside :func:`reuse_searches` the refit of the same fitted model on the same data set is
    done once: a hybrid's components are the benchmark's standalone models, refit on the same
    train + validation. ``reused_seconds`` is what the reused refit took (0 when refit here), so
    callers can report the cost without reuse.
    """
    cache = _REFITS.get()
    key = (id(model), id(data))
    if cache is not None and key in cache:
        return cache[key][0], cache[key][1]
    start = time.perf_counter()
    refitted = model.refit(data)
    seconds = time.perf_counter() - start
    if cache is not None:
        # The model and data set are kept with the result so their ids cannot be reused.
        cache[key] = (refitted, seconds, model, data)
    return refitted, 0.0


def _search_key(
    model_name: str,
    train: Dataset,
    valid: Dataset,
    grid: Mapping[str, Sequence[Any]],
    base_params: Mapping[str, Any] | None,
    eval_ks: Sequence[int],
    metric: str,
) -> tuple[Any, ...]:
    return (
        model_name,
        id(train),
        id(valid),
        _canonical({k: list(v) for k, v in grid.items()}),
        _canonical(dict(base_params or {})),
        tuple(eval_ks),
        metric,
    )


def grid_search(
    model_name: str,
    train: Dataset,
    valid: Dataset | None,
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    base_params: Mapping[str, Any] | None = None,
    ks: Sequence[int] = (10, 20),
    metric: str = TUNING_METRIC,
    on_trial: Callable[[Trial], None] | None = None,
    keep_best_model: bool = False,
    score: Callable[[Recommender], dict[str, float]] | None = None,
    greater_is_better: bool = True,
) -> SearchResult[Recommender]:
    """Fit each grid setting on ``train`` and rank them by ``metric`` on ``valid``.

    Ties in the metric keep the grid order, so the search is deterministic. With
    ``keep_best_model`` the best fitted model is returned too. Inside :func:`reuse_searches`
    an identical earlier search is returned without refitting.

    ``score`` replaces the default validation scoring (full ranking of ``valid``'s targets):
    a protocol that scores a fitted model its own way (the cold-start slices, next purchase)
    passes it; each fit still gets ``valid`` for early stopping (``None``: fits without
    validation, which needs a ``score``). Such searches are never reused. ``metric`` is a key
    of the scores; ``greater_is_better=False`` picks the smallest (an error such as RMSE).
    """
    grid = TUNING_GRIDS.get(model_name, {}) if grid is None else grid
    return _search(
        model_name,
        lambda params: create_model(model_name, params),
        train,
        valid,
        grid=grid,
        base_params=base_params,
        ks=ks,
        metric=metric,
        on_trial=on_trial,
        keep_best_model=keep_best_model,
        score=score,
        greater_is_better=greater_is_better,
        cacheable=True,
    )


def _search(
    model_name: str,
    make: Callable[[dict[str, Any]], M],
    train: Dataset,
    valid: Dataset | None,
    *,
    grid: Mapping[str, Sequence[Any]],
    base_params: Mapping[str, Any] | None,
    ks: Sequence[int],
    metric: str,
    on_trial: Callable[[Trial], None] | None,
    keep_best_model: bool,
    score: Callable[[M], dict[str, float]] | None,
    greater_is_better: bool,
    cacheable: bool,
) -> SearchResult[M]:
    """:func:`grid_search` for any model ``make`` builds from a setting (see there).

    Only a registry search (``cacheable``) scored the default way is reused: it is the one
    whose result its key determines.
    """
    if score is None and valid is None:
        raise ValueError("a search without a validation set needs a score function")
    sign = 1.0 if greater_is_better else -1.0
    cache: dict[tuple[Any, ...], tuple[SearchResult[Any], Dataset, Dataset]] | None = None
    key: tuple[Any, ...] = ()
    eval_ks: list[int] = []
    if score is None:
        # The tuning metric's cut-off is always evaluated, whatever the reported cut-offs are.
        eval_ks = sorted({*ks, _cutoff(metric)})
        if cacheable and valid is not None:
            cache = _SEARCHES.get()
            key = _search_key(model_name, train, valid, grid, base_params, eval_ks, metric)
            key += (greater_is_better,)
            if cache is not None and key in cache:
                cached: SearchResult[M] = cache[key][0]
                if cached.best_model is not None or not keep_best_model:
                    return replace(cached, reused=True)
    trials: list[Trial] = []
    best_model: M | None = None
    best_score = float("-inf")
    for setting in iter_grid(grid):
        params = {**(base_params or {}), **setting}
        model = make(params)
        start = time.perf_counter()
        model.fit(train, valid)
        fit_seconds = time.perf_counter() - start
        if cacheable and not grid and isinstance(model, Recommender):
            # A fixed setting (--no-tune): a hybrid's fixed component of the same model,
            # setting and split is this very fit (fit_setting).
            _remember_fit(model_name, train, valid, params, model, fit_seconds)
        if score is not None:
            metrics = score(model)
        elif isinstance(model, Recommender) and valid is not None:
            metrics = evaluate_model(model, _unseen_part(model, valid), ks=eval_ks)
        else:
            raise TypeError(
                f"{type(model).__name__} is no Recommender: its search needs a score function"
            )
        trial = Trial(
            params=model.get_config(),
            valid=metrics,
            fit_seconds=fit_seconds,
            reused_seconds=float(getattr(model, "reused_search_seconds_", 0.0)),
            setting=dict(setting),
        )
        trials.append(trial)
        # NaN (no scorable validation user) ranks last, never first.
        value = _ranked(sign * metrics[metric])
        if keep_best_model and (best_model is None or value > best_score):
            best_model, best_score = model, value
        if on_trial is not None:
            on_trial(trial)
    order = sorted(range(len(trials)), key=lambda i: (-_ranked(sign * trials[i].valid[metric]), i))
    result = SearchResult(trials=[trials[i] for i in order], best_model=best_model)
    if cache is not None:
        # The data sets are stored with the result so their ids cannot be reused meanwhile.
        assert valid is not None
        cache[key] = (result, train, valid)
    return result


def _ranked(value: float) -> float:
    """A metric value for ranking settings (larger is better): NaN counts as the worst."""
    return value if value == value else float("-inf")


def _unseen_part(model: Recommender, valid: Dataset) -> Dataset:
    """The validation part a fitted model is scored on: the users its own fit did not choose
    anything on, when it says so (``unseen_valid_users_``: the hybrid's weight search uses half
    the validation users and is scored on the other half), else all of ``valid``."""
    users = getattr(model, "unseen_valid_users_", None)
    if users is None or len(users) == 0:
        return valid
    return valid.subset(np.isin(valid.user_idx, users))


# ---------------------------------------------------------------------------- the runner
def resolve_grid(
    name: str, tune: bool, grids: Mapping[str, Mapping[str, Sequence[Any]]] | None
) -> dict[str, list[Any]]:
    """The search space of ``name`` in a run: the run's ``--grid`` entry, else the documented
    grid; empty (one fixed setting) without tuning."""
    if not tune:
        return {}
    grid = (grids or {}).get(name, TUNING_GRIDS.get(name, {}))
    return {k: list(v) for k, v in grid.items()}


def run_settings(
    name: str,
    params: Mapping[str, Mapping[str, Any]] | None,
    grids: Mapping[str, Mapping[str, Sequence[Any]]] | None,
    *,
    tune: bool = True,
) -> dict[str, Any]:
    """The base parameters of ``name`` in a run (its ``--params`` entry); a model made of other
    models (the hybrid) also hands each component the run's entries for that component, fixed
    when the run does not tune (``--no-tune``: no component grid is searched either)."""
    from digirec.models.hybrid import HybridModel, with_run_settings
    from digirec.models.registry import get_model_class

    params = params or {}
    base = dict(params.get(name, {}))
    if issubclass(get_model_class(name), HybridModel):
        base = with_run_settings(base, params, grids, tune=tune)
    return base


@dataclass
class TunedModel(Generic[M]):
    """One model through the protocol: the search on validation and the refit of its winner.

    Attributes
    ----------
    name:
        Registered model name (or the protocol's own name for a model its factory builds).
    search:
        The validation search (trials best first).
    model:
        The winner refit on the refit data (``Recommender.refit``, or a fresh fit of the
        chosen setting with ``retrain``).
    fit_seconds:
        Time of the final refit only.
    tuned:
        Whether a grid was searched (else one fixed setting).
    metric:
        The validation metric the search ranked by.
    """

    name: str
    search: SearchResult[M]
    model: M
    fit_seconds: float
    tuned: bool
    metric: str = TUNING_METRIC

    def result(self) -> dict[str, Any]:
        """The fields every protocol's result entry shares (``test`` is added by the caller).

        ``train_seconds`` is the chosen setting's fit on the tuning part (early stopping for
        torch models), ``tuning_seconds`` the whole search including searches it reused (the
        hybrid's components), ``fit_seconds`` the final refit.
        """
        best = self.search.best
        entry: dict[str, Any] = {
            "model": self.name,
            "params": best.params,
            "valid": best.valid,
            "fit_seconds": self.fit_seconds,
            "train_seconds": best.fit_seconds,
            "tuning_seconds": self.search.search_seconds,
            "tuning": [
                {
                    "params": t.params,
                    "valid": {self.metric: t.valid[self.metric]},
                    "fit_seconds": t.fit_seconds,
                }
                for t in self.search.trials
            ]
            if self.tuned
            else [],
        }
        history = getattr(self.search.best_model, "history_", None)
        if history is not None:
            # Torch models: how long the chosen setting trained on the tuning part.
            entry["training"] = {
                "epochs": history.n_epochs,
                "best_epoch": history.best_epoch,
                "seconds_per_epoch": history.seconds_per_epoch,
            }
        fit_info = getattr(self.model, "fit_info_", None)
        if fit_info:
            # What the refit model chose for this data (e.g. EASE's dense or head+neighbours
            # variant under the memory budget, SASRec's full or sampled softmax).
            entry["fit_info"] = fit_info
        return entry


@overload
def tune_and_refit(
    name: str,
    train: Dataset,
    valid: Dataset | None,
    refit_data: Dataset,
    *,
    tune: bool = ...,
    params: Mapping[str, Mapping[str, Any]] | None = ...,
    grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = ...,
    ks: Sequence[int] = ...,
    progress: Callable[[str], None] | None = ...,
    score: Callable[[Recommender], dict[str, float]] | None = ...,
    metric: str = ...,
    greater_is_better: bool = ...,
    retrain: bool = ...,
    make: None = ...,
) -> TunedModel[Recommender]: ...


@overload
def tune_and_refit(
    name: str,
    train: Dataset,
    valid: Dataset | None,
    refit_data: Dataset,
    *,
    tune: bool = ...,
    params: Mapping[str, Mapping[str, Any]] | None = ...,
    grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = ...,
    ks: Sequence[int] = ...,
    progress: Callable[[str], None] | None = ...,
    score: Callable[[M], dict[str, float]] | None = ...,
    metric: str = ...,
    greater_is_better: bool = ...,
    retrain: bool = ...,
    make: Callable[[dict[str, Any]], M],
) -> TunedModel[M]: ...


def tune_and_refit(
    name: str,
    train: Dataset,
    valid: Dataset | None,
    refit_data: Dataset,
    *,
    tune: bool = True,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
    ks: Sequence[int] = (10, 20),
    progress: Callable[[str], None] | None = None,
    score: Callable[[Any], dict[str, float]] | None = None,
    metric: str = TUNING_METRIC,
    greater_is_better: bool = True,
    retrain: bool = False,
    make: Callable[[dict[str, Any]], Any] | None = None,
) -> TunedModel[Any]:
    """The protocol's model step, the same for every protocol and for ``digirec train --tune``:
    search ``name``'s grid fitted on ``train`` and scored on ``valid``, then refit the winner on
    ``refit_data`` (``Recommender.refit``). Testing is the caller's (each protocol scores its
    own slices).

    Parameters
    ----------
    valid:
        Passed to every fit (early stopping); ``None`` fits without validation and needs a
        ``score``.
    params, grids:
        The run's ``--params`` / ``--grid`` (per model name); see :func:`run_settings`. With a
        ``make`` factory, ``params[name]`` is the base setting as it is.
    progress:
        Called with one line per trial and one for the refit.
    score:
        The protocol's validation scoring of a fitted model (see :func:`grid_search`).
    metric, greater_is_better:
        The key of the validation scores the search ranks by, and its direction (an error
        such as the rating folds' RMSE: ``False``).
    retrain:
        Refit by a fresh fit of the chosen setting (its resolved ``get_config()``, e.g. the
        epochs early stopping chose) on ``refit_data`` instead of ``refit``: for protocols
        that define the refit as a retrain (next purchase, whose search fits without
        validation; the rating folds).
    make:
        Builds the model from a setting (default: the registry model ``name``): a protocol's
        own models (the rating folds' bias baseline) go through the same runner.
    """
    say = progress or (lambda _msg: None)
    grid = resolve_grid(name, tune, grids)
    n_settings = grid_size(grid)
    done = 0

    def report(trial: Trial) -> None:
        nonlocal done
        done += 1
        say(
            f"[{name}] {done}/{n_settings} {metric}={trial.valid[metric]:.4f} "
            f"({trial.fit_seconds:.1f}s) {trial.params}"
        )

    def registered(setting: dict[str, Any]) -> Recommender:
        return create_model(name, setting)

    factory: Callable[[dict[str, Any]], Any] = registered if make is None else make
    base = (
        run_settings(name, params, grids, tune=tune)
        if make is None
        else dict((params or {}).get(name, {}))
    )
    search = _search(
        name,
        factory,
        train,
        valid,
        grid=grid,
        base_params=base,
        ks=ks,
        metric=metric,
        on_trial=report,
        keep_best_model=True,
        score=score,
        greater_is_better=greater_is_better,
        cacheable=make is None,
    )
    assert search.best_model is not None
    say(f"[{name}] {'retrain' if retrain else 'refit'} with {search.best.params}")
    start = time.perf_counter()
    reused = 0.0
    if retrain:
        model = factory(dict(search.best.params))
        model.fit(refit_data)
    else:
        model, reused = refit_model(search.best_model, refit_data)
    # The cost without reuse: refits this one reused (a hybrid's components) count too.
    fit_seconds = time.perf_counter() - start + reused
    fit_seconds += float(getattr(model, "reused_refit_seconds_", 0.0))
    return TunedModel(
        name=name,
        search=search,
        model=model,
        fit_seconds=fit_seconds,
        tuned=tune,
        metric=metric,
    )
