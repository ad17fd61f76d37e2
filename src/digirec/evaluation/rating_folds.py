"""Explicit ratings on MovieLens-100K's official folds ``u1..u5`` (protocol ``ml100k-folds``).

GroupLens ships ml-100k with five disjoint 80/20 splits (``u{i}.base`` / ``u{i}.test``,
tab-separated ``user item rating timestamp``); RMSE and MAE averaged over them are the numbers
rating-prediction papers and libraries quote for this data set. Per fold:

1. **Tuning on base only.** A random ``valid_fraction`` of the ``u{i}.base`` ratings (exactly
   ``round(valid_fraction · n_base)`` rows, fixed seed) is held out as validation; every setting
   of a model's grid is fitted on the rest and scored by validation RMSE. ``u{i}.test`` is not
   read until the chosen settings are refitted, so nothing about the test ratings can leak into
   the choice. Torch models also stop early on this validation RMSE.
2. **Refit.** The chosen setting is refitted on the whole ``u{i}.base``; a torch model trains
   exactly the epoch count early stopping chose (``with_best_epochs``), without validation.
   Steps 1 and 2 are the protocols' one runner (:func:`~digirec.training.tuning.tune_and_refit`)
   with this protocol's scoring (validation RMSE, smaller is better), its model factory (the
   baseline below is no registry model) and a refit that is a fresh fit of the chosen setting.
3. **Test.** The refitted model predicts every ``u{i}.test`` rating. A pair whose user or item has
   no rating in the fitting data gets the damped-bias fallback ``μ + b_u + b_i`` of
   :class:`BiasBaseline` fitted on the same data (the unknown side's bias is 0); the number of
   such pairs is reported. Every prediction is clipped to the rating range of the base fold
   ([1, 5] on ml-100k).

Models are registry names whose estimator has ``predict_ratings`` (``mf`` with the explicit
objective, ``autorec``) plus two models that live here:

- ``baseline``: :class:`BiasBaseline`, global mean + damped user and item biases;
- ``blend``: least squares ``y ≈ w_0 + Σ_m w_m p_m`` over the *validation* predictions of the
  other models of the run (each at its chosen setting, fitted on the tuning part), applied to
  their refitted test predictions. Its ``fit_seconds`` is the sum of its components'.

Per fold the report has RMSE, MAE, the test count, the fallback count and the refit time; per
model the unweighted mean of the five fold metrics and their standard deviation (population,
``ddof=0``, as the Surprise library reports it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.formats.movielens import read_ratings
from digirec.data.tables import LoadReport
from digirec.evaluation.metrics import mae, rmse
from digirec.exceptions import ConfigError
from digirec.models.registry import create_model
from digirec.training.tuning import tune_and_refit

__all__ = [
    "BASELINE",
    "BLEND",
    "DEFAULT_GRIDS",
    "DEFAULT_MODELS",
    "DEFAULT_PARAMS",
    "PROTOCOL",
    "BiasBaseline",
    "RatingFold",
    "aggregate_folds",
    "carve_validation",
    "load_rating_folds",
    "rating_folds_markdown",
    "run_rating_folds",
]

PROTOCOL = "ml100k-folds"
#: The damped-bias model of this module (not a registry model).
BASELINE = "baseline"
#: The validation-fitted linear blend of the run's other models.
BLEND = "blend"
#: What ``models=[]`` runs: the reference, the two learned models, and their blend.
DEFAULT_MODELS: tuple[str, ...] = (BASELINE, "mf", "autorec", BLEND)

#: Fixed settings per model (``params=`` overrides them key by key). Torch models use one thread:
#: at ml-100k size a step is too small to gain from more, and on a shared machine extra threads
#: spin against each other (a 50x slowdown was measured with two threads on two busy cores).
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    BASELINE: {"reg_item": 10.0, "reg_user": 15.0, "n_iterations": 10},
    "mf": {
        "objective": "explicit",
        "factors": 64,
        "lr": 5e-3,
        "weight_decay": 1e-4,
        "batch_size": 1024,
        "epochs": 100,
        "patience": 5,
        "n_threads": 1,
        "show_progress": False,
    },
    "autorec": {
        "objective": "explicit",
        "hidden": 500,
        "lr": 2e-3,
        "weight_decay": 100.0,
        "batch_size": 256,
        "epochs": 100,
        "patience": 10,
        "n_threads": 1,
        "show_progress": False,
    },
    BLEND: {},
}

#: Grids searched on validation when ``tune=True`` (``grids=`` replaces a model's grid).
DEFAULT_GRIDS: dict[str, dict[str, list[Any]]] = {
    BASELINE: {"reg_item": [2.0, 5.0, 10.0, 25.0], "reg_user": [2.0, 5.0, 15.0]},
    "mf": {"weight_decay": [1e-4, 3e-4, 5e-4]},
    "autorec": {"weight_decay": [30.0, 100.0, 300.0]},
}

_N_FOLDS = 5
#: Row-selection columns of a fold frame.
_PAIR = (C.USER_ID, C.ITEM_ID)


class RatingModel(Protocol):
    """What the protocol needs from a model: fit, rating prediction and its resolved config
    (and, for the runner's type, a refit)."""

    def fit(self, dataset: Dataset, valid: Dataset | None = None) -> Any: ...

    def refit(self, dataset: Dataset) -> Self: ...

    def predict_ratings(
        self, user_ids: Sequence[object], item_ids: Sequence[object]
    ) -> NDArray[np.float64]: ...

    def get_config(self) -> dict[str, Any]: ...


# ---------------------------------------------------------------------- data
@dataclass(frozen=True)
class RatingFold:
    """One official split: ``u{index}.base`` and ``u{index}.test`` as rating frames.

    Frames have the columns ``user_id``, ``item_id`` (strings), ``rating`` and ``timestamp``.
    """

    index: int
    base: pd.DataFrame
    test: pd.DataFrame


def load_rating_folds(data_dir: Path, n_folds: int = _N_FOLDS) -> list[RatingFold]:
    """Read ``u1.base/u1.test`` ... ``u{n_folds}.base/test`` from an ml-100k folder.

    Parameters
    ----------
    data_dir:
        The ml-100k folder (the one holding ``u.data`` and the fold files).
    n_folds:
        How many folds to read (ml-100k has 5).

    Returns
    -------
    The folds in order. A missing file raises :class:`ConfigError` naming it.
    """
    folds: list[RatingFold] = []
    for index in range(1, n_folds + 1):
        frames = []
        for part in ("base", "test"):
            path = Path(data_dir) / f"u{index}.{part}"
            if not path.is_file():
                raise ConfigError(
                    f"{path} is missing: protocol {PROTOCOL!r} needs the ml-100k folds "
                    f"u1..u{n_folds}.base/.test"
                )
            frame = read_ratings(path, "100k", "error", LoadReport())
            frames.append(
                frame[[C.USER_ID, C.ITEM_ID, C.RATING, C.TIMESTAMP]].reset_index(drop=True)
            )
        folds.append(RatingFold(index=index, base=frames[0], test=frames[1]))
    return folds


def carve_validation(n_rows: int, fraction: float, random_state: int) -> NDArray[np.bool_]:
    """A mask selecting exactly ``round(fraction · n_rows)`` rows uniformly at random.

    Parameters
    ----------
    n_rows:
        Number of base ratings.
    fraction:
        Share held out for validation, in ``(0, 1)``.
    random_state:
        Seed of the draw (the same seed gives the same mask).
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"valid fraction must be in (0, 1), got {fraction}")
    n_valid = round(fraction * n_rows)
    mask = np.zeros(n_rows, dtype=bool)
    mask[np.random.default_rng(random_state).permutation(n_rows)[:n_valid]] = True
    return mask


def _pairs(dataset: Dataset) -> pd.DataFrame:
    """The dataset's ratings with external ids (``user_id``, ``item_id``, ``rating``)."""
    return pd.DataFrame(
        {
            C.USER_ID: dataset.user_map.to_external(dataset.user_idx),
            C.ITEM_ID: dataset.item_map.to_external(dataset.item_idx),
            C.RATING: dataset.interactions[C.RATING].to_numpy(dtype=np.float64),
        }
    )


# ---------------------------------------------------------------------- the baseline
@dataclass
class BiasBaseline:
    """Global mean plus damped user and item biases: ``r̂_ui = μ + b_u + b_i``.

    The biases minimise ``Σ (r - μ - b_u - b_i)² + reg_user Σ b_u² + reg_item Σ b_i²`` by a few
    rounds of alternating exact updates (each is a damped mean of residuals, so a user or item
    with few ratings is pulled towards 0). An unknown user or item has bias 0, which makes this
    the natural fallback for cold pairs.

    Parameters
    ----------
    reg_item, reg_user:
        Damping of the item and user biases (pseudo-counts of ratings at the mean).
    n_iterations:
        Alternating rounds (item biases first); 10 is converged to ~1e-4 on ml-100k.
    """

    reg_item: float = 10.0
    reg_user: float = 15.0
    n_iterations: int = 10
    global_mean_: float = field(default=float("nan"), init=False)
    user_bias_: pd.Series = field(default_factory=lambda: pd.Series(dtype=float), init=False)
    item_bias_: pd.Series = field(default_factory=lambda: pd.Series(dtype=float), init=False)

    def fit(self, dataset: Dataset, valid: Dataset | None = None) -> Self:
        """Fit on ``dataset``'s ratings (``valid`` is ignored: nothing stops early)."""
        del valid
        return self.fit_frame(_pairs(dataset))

    def refit(self, dataset: Dataset) -> Self:
        """A fresh baseline with these settings fitted on ``dataset``."""
        return type(self)(**self.get_config()).fit_frame(_pairs(dataset))

    def fit_frame(self, frame: pd.DataFrame) -> Self:
        """Fit on a frame with ``user_id``, ``item_id`` and ``rating`` columns."""
        ratings = frame[C.RATING].to_numpy(dtype=np.float64)
        if len(ratings) == 0:
            raise ValueError("BiasBaseline needs at least one rating")
        users, user_index = pd.factorize(frame[C.USER_ID].astype(str))
        items, item_index = pd.factorize(frame[C.ITEM_ID].astype(str))
        mu = float(ratings.mean())
        user_count = np.bincount(users, minlength=len(user_index))
        item_count = np.bincount(items, minlength=len(item_index))
        b_user = np.zeros(len(user_index))
        b_item = np.zeros(len(item_index))
        for _ in range(self.n_iterations):
            residual = ratings - mu - b_user[users]
            b_item = np.bincount(items, residual, len(item_index)) / (self.reg_item + item_count)
            residual = ratings - mu - b_item[items]
            b_user = np.bincount(users, residual, len(user_index)) / (self.reg_user + user_count)
        self.global_mean_ = mu
        self.user_bias_ = pd.Series(b_user, index=pd.Index(user_index, dtype=object))
        self.item_bias_ = pd.Series(b_item, index=pd.Index(item_index, dtype=object))
        return self

    def predict_ratings(
        self, user_ids: Sequence[object], item_ids: Sequence[object]
    ) -> NDArray[np.float64]:
        """``μ + b_u + b_i`` for each pair; unknown ids contribute a bias of 0 (not clipped)."""
        if np.isnan(self.global_mean_):
            raise ConfigError("BiasBaseline is not fitted")
        users = pd.Index([str(u) for u in user_ids], dtype=object)
        items = pd.Index([str(i) for i in item_ids], dtype=object)
        b_user = self.user_bias_.reindex(users).fillna(0.0).to_numpy(dtype=np.float64)
        b_item = self.item_bias_.reindex(items).fillna(0.0).to_numpy(dtype=np.float64)
        return np.asarray(self.global_mean_ + b_user + b_item, dtype=np.float64)

    def get_config(self) -> dict[str, Any]:
        """The settings, as registry models report them."""
        return {
            "reg_item": self.reg_item,
            "reg_user": self.reg_user,
            "n_iterations": self.n_iterations,
        }


# ---------------------------------------------------------------------- prediction with fallback
@dataclass(frozen=True)
class _Known:
    """Who has a rating in the fitting data, and the fallback fitted on that data."""

    users: pd.Index
    items: pd.Index
    fallback: BiasBaseline
    rating_range: tuple[float, float]

    @classmethod
    def of(cls, dataset: Dataset) -> _Known:
        frame = _pairs(dataset)
        ratings = frame[C.RATING].to_numpy(dtype=np.float64)
        return cls(
            users=pd.Index(pd.unique(frame[C.USER_ID]), dtype=object),
            items=pd.Index(pd.unique(frame[C.ITEM_ID]), dtype=object),
            fallback=BiasBaseline().fit_frame(frame),
            rating_range=(float(ratings.min()), float(ratings.max())),
        )

    def predict(self, model: RatingModel, pairs: pd.DataFrame) -> tuple[NDArray[np.float64], int]:
        """Clipped predictions for ``pairs`` and how many came from the fallback."""
        users = pairs[C.USER_ID].to_numpy(dtype=object)
        items = pairs[C.ITEM_ID].to_numpy(dtype=object)
        known = np.asarray(pd.Index(users).isin(self.users), dtype=bool) & np.asarray(
            pd.Index(items).isin(self.items), dtype=bool
        )
        predicted = self.fallback.predict_ratings(users, items)
        if known.any():
            # Only pairs whose user and item both have training ratings go to the model: a
            # user or item that sits in the id maps without ratings (validation-only) would be
            # scored from untrained parameters.
            predicted[known] = model.predict_ratings(users[known], items[known])
        return np.clip(predicted, *self.rating_range), int((~known).sum())


def _fold_metrics(truth: NDArray[np.float64], predicted: NDArray[np.float64]) -> dict[str, float]:
    return {"rmse": rmse(truth, predicted), "mae": mae(truth, predicted)}


# ---------------------------------------------------------------------- aggregation
def aggregate_folds(folds: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Mean and population standard deviation (``ddof=0``) of the fold RMSE and MAE.

    Each fold counts once, whatever its size (the folds of ml-100k all hold 20,000 ratings).

    Parameters
    ----------
    folds:
        Fold records with ``rmse`` and ``mae``.

    Returns
    -------
    ``{"rmse", "mae", "rmse_std", "mae_std"}``.
    """
    if not folds:
        raise ValueError("no folds to aggregate")
    rmses = np.asarray([f["rmse"] for f in folds], dtype=np.float64)
    maes = np.asarray([f["mae"] for f in folds], dtype=np.float64)
    return {
        "rmse": float(rmses.mean()),
        "mae": float(maes.mean()),
        "rmse_std": float(rmses.std()),
        "mae_std": float(maes.std()),
    }


# ---------------------------------------------------------------------- the run
def _make(name: str, config: Mapping[str, Any]) -> RatingModel:
    if name == BASELINE:
        return BiasBaseline(**dict(config))
    model = create_model(name, dict(config))
    if not callable(getattr(model, "predict_ratings", None)):
        raise ConfigError(f"model {name!r} cannot predict ratings (no predict_ratings)")
    return cast("RatingModel", model)


@dataclass(frozen=True)
class _FoldData:
    """One fold, ready to fit: the tuning split of base, base itself, and the test pairs."""

    fold: int
    train: Dataset
    valid: Dataset
    base: Dataset
    test: pd.DataFrame
    valid_pairs: pd.DataFrame
    train_known: _Known
    base_known: _Known


@dataclass
class _Tuned:
    """One model's outcome on one fold."""

    chosen: dict[str, Any]
    valid_rmse: float
    valid_predictions: NDArray[np.float64]
    test_predictions: NDArray[np.float64]
    record: dict[str, Any]


def _run_model(
    name: str,
    fixed: Mapping[str, Any],
    grid: Mapping[str, Sequence[Any]] | None,
    *,
    tune: bool,
    split: _FoldData,
    say: Callable[[str], None],
) -> _Tuned:
    """Tune ``name`` on (train, valid), refit on base with the winner, predict test."""
    base, test, fold = split.base, split.test, split.fold
    valid_pairs = split.valid_pairs
    valid_truth = valid_pairs[C.RATING].to_numpy(dtype=np.float64)

    def valid_score(model: RatingModel) -> dict[str, float]:
        predicted, _ = split.train_known.predict(model, valid_pairs)
        return {"rmse": rmse(valid_truth, predicted)}

    def make(config: dict[str, Any]) -> RatingModel:
        return _make(name, config)

    start = time.perf_counter()
    # Ties in validation RMSE keep the earlier (grid-order) setting. The refit is a fresh fit
    # of the chosen setting on base without validation: get_config after the tuning fit
    # carries the early-stopping epoch count, so a torch model trains exactly those epochs.
    run = tune_and_refit(
        name,
        split.train,
        split.valid,
        base,
        tune=tune,
        params={name: dict(fixed)},
        grids={name: dict(grid or {})},
        progress=lambda line: say(f"fold {fold} {line}"),
        score=valid_score,
        metric="rmse",
        greater_is_better=False,
        retrain=True,
        make=make,
    )
    fit_seconds = run.fit_seconds
    tune_seconds = time.perf_counter() - start - fit_seconds
    best, resolved = run.search.best, run.search.best.params
    valid_rmse = best.valid["rmse"]
    assert run.search.best_model is not None
    # The blend's design matrix: the chosen setting's validation predictions (as scored).
    valid_predicted, _ = split.train_known.predict(run.search.best_model, valid_pairs)
    test_predicted, n_fallback = split.base_known.predict(run.model, test)
    chosen = dict(best.setting)
    if "epochs" in resolved:
        chosen["epochs"] = resolved["epochs"]
    truth = test[C.RATING].to_numpy(dtype=np.float64)
    record = {
        "fold": fold,
        **_fold_metrics(truth, test_predicted),
        "n_test": len(test),
        "n_fallback": n_fallback,
        "valid_rmse": valid_rmse,
        "fit_seconds": fit_seconds,
        "tune_seconds": tune_seconds,
    }
    say(
        f"fold {fold} {name}: test rmse {record['rmse']:.4f} mae {record['mae']:.4f} "
        f"with {chosen} (refit {fit_seconds:.1f} s)"
    )
    return _Tuned(chosen, valid_rmse, valid_predicted, test_predicted, record)


def _blend(
    components: Mapping[str, _Tuned],
    valid_truth: NDArray[np.float64],
    test: pd.DataFrame,
    rating_range: tuple[float, float],
    fold: int,
) -> _Tuned:
    """Least-squares blend fitted on the components' validation predictions."""
    names = list(components)
    design_valid = np.column_stack(
        [np.ones(len(valid_truth))] + [components[n].valid_predictions for n in names]
    )
    weights, *_ = np.linalg.lstsq(design_valid, valid_truth, rcond=None)
    design_test = np.column_stack(
        [np.ones(len(test))] + [components[n].test_predictions for n in names]
    )
    valid_predicted = np.clip(design_valid @ weights, *rating_range)
    test_predicted = np.clip(design_test @ weights, *rating_range)
    truth = test[C.RATING].to_numpy(dtype=np.float64)
    valid_rmse = rmse(valid_truth, valid_predicted)
    chosen: dict[str, Any] = {
        "intercept": float(weights[0]),
        "weights": {n: float(w) for n, w in zip(names, weights[1:], strict=True)},
    }
    record = {
        "fold": fold,
        **_fold_metrics(truth, test_predicted),
        "n_test": len(test),
        # A pair is a fallback for the blend when it is one for any component.
        "n_fallback": max(int(components[n].record["n_fallback"]) for n in names),
        "valid_rmse": valid_rmse,
        "fit_seconds": float(sum(components[n].record["fit_seconds"] for n in names)),
        "tune_seconds": float(sum(components[n].record["tune_seconds"] for n in names)),
    }
    return _Tuned(chosen, valid_rmse, valid_predicted, test_predicted, record)


def run_rating_folds(
    data_dir: Path,
    models: Sequence[str],
    *,
    tune: bool = True,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
    progress: Callable[[str], None] | None = None,
    valid_fraction: float = 0.1,
    random_state: int = 0,
    n_folds: int = _N_FOLDS,
) -> dict[str, Any]:
    """Run the ``ml100k-folds`` rating protocol (see the module docstring).

    Parameters
    ----------
    data_dir:
        The ml-100k folder with ``u1..u5.base/.test``.
    models:
        Model names: ``baseline``, ``blend`` or registry models with ``predict_ratings``
        (``mf``, ``autorec``). Empty: :data:`DEFAULT_MODELS`. ``blend`` combines every other
        model of the list and is computed after them wherever it is listed.
    tune:
        Search each model's grid on the validation part; ``False`` fits the fixed settings only
        (torch models still stop early on validation).
    params:
        Per model, settings that override :data:`DEFAULT_PARAMS` key by key.
    grids:
        Per model, a grid ``{param: [values]}`` replacing the model's default grid; its keys
        override ``params`` for the settings tried.
    progress:
        Receives one line per fitted setting and per fold result.
    valid_fraction, random_state:
        Share of each base fold held out for tuning, and the seed of that draw.
    n_folds:
        Number of folds read (5 for ml-100k; fewer for a quick run).

    Returns
    -------
    ``{"dataset": {...}, "protocol": "ml100k-folds", "results": [...]}``; each result holds
    ``model``, ``params`` (the chosen setting per fold), ``folds`` (per-fold ``rmse``, ``mae``,
    ``n_test``, ``n_fallback``, ``valid_rmse``, ``fit_seconds``, ``tune_seconds``), ``test``
    (means and standard deviations) and ``fit_seconds`` (mean refit time per fold).
    """
    say = progress or (lambda _message: None)
    names = list(models) or list(DEFAULT_MODELS)
    if len(set(names)) != len(names):
        raise ConfigError(f"models are listed twice: {names}")
    base_names = [n for n in names if n != BLEND]
    if BLEND in names and not base_names:
        raise ConfigError("'blend' needs at least one other model to combine")
    params = params or {}
    grids = grids or {}
    # Unknown or non-rating models fail here, before any fold is fitted.
    for name in base_names:
        _make(name, {**DEFAULT_PARAMS.get(name, {}), **params.get(name, {})})

    folds = load_rating_folds(data_dir, n_folds)
    per_model: dict[str, list[_Tuned]] = {n: [] for n in names}
    fold_info: list[dict[str, Any]] = []
    for fold in folds:
        base = Dataset.from_interactions(fold.base, name=f"u{fold.index}.base")
        mask = carve_validation(base.n_interactions, valid_fraction, random_state + fold.index)
        train, valid = base.subset(~mask), base.subset(mask)
        base_pairs = _pairs(base)
        cold_user = ~fold.test[C.USER_ID].isin(base_pairs[C.USER_ID])
        cold_item = ~fold.test[C.ITEM_ID].isin(base_pairs[C.ITEM_ID])
        fold_info.append(
            {
                "fold": fold.index,
                "n_base": len(fold.base),
                "n_train": train.n_interactions,
                "n_valid": valid.n_interactions,
                "n_test": len(fold.test),
                "n_test_unseen_user": int(cold_user.sum()),
                "n_test_unseen_item": int(cold_item.sum()),
                "n_test_fallback": int((cold_user | cold_item).sum()),
            }
        )
        say(
            f"fold {fold.index}: {train.n_interactions} train / {valid.n_interactions} valid "
            f"/ {len(fold.test)} test ratings, {int((cold_user | cold_item).sum())} test "
            "ratings need the fallback"
        )
        split = _FoldData(
            fold=fold.index,
            train=train,
            valid=valid,
            base=base,
            test=fold.test,
            valid_pairs=_pairs(valid),
            train_known=_Known.of(train),
            base_known=_Known.of(base),
        )
        outcomes: dict[str, _Tuned] = {}
        for name in base_names:
            fixed = {**DEFAULT_PARAMS.get(name, {}), **params.get(name, {})}
            grid = grids[name] if name in grids else DEFAULT_GRIDS.get(name)
            outcomes[name] = _run_model(name, fixed, grid, tune=tune, split=split, say=say)
            per_model[name].append(outcomes[name])
        if BLEND in names:
            valid_truth = split.valid_pairs[C.RATING].to_numpy(dtype=np.float64)
            blended = _blend(
                outcomes, valid_truth, fold.test, split.base_known.rating_range, fold.index
            )
            per_model[BLEND].append(blended)
            say(
                f"fold {fold.index} blend: test rmse {blended.record['rmse']:.4f} "
                f"mae {blended.record['mae']:.4f} with {blended.chosen}"
            )

    results = []
    for name in names:
        outcomes_of = per_model[name]
        records = [o.record for o in outcomes_of]
        results.append(
            {
                "model": name,
                "params": [o.chosen for o in outcomes_of],
                "fixed_params": (
                    {n: DEFAULT_PARAMS.get(n, {}) | dict(params.get(n, {})) for n in base_names}
                    if name == BLEND
                    else {**DEFAULT_PARAMS.get(name, {}), **params.get(name, {})}
                ),
                "grid": (
                    None
                    if name == BLEND or not tune
                    else {
                        k: list(v)
                        for k, v in (
                            grids[name] if name in grids else DEFAULT_GRIDS.get(name, {})
                        ).items()
                    }
                ),
                "folds": records,
                "test": aggregate_folds(records),
                "fit_seconds": float(np.mean([r["fit_seconds"] for r in records])),
                "tune_seconds": float(np.sum([r["tune_seconds"] for r in records])),
            }
        )
    return {
        "dataset": {
            "name": Path(data_dir).name,
            "path": str(data_dir),
            "n_folds": len(folds),
            "valid_fraction": valid_fraction,
            "valid_random_state": random_state,
            "folds": fold_info,
        },
        "protocol": PROTOCOL,
        "tuned": tune,
        "results": results,
    }


# ---------------------------------------------------------------------- markdown
def _format_params(chosen: Mapping[str, Any]) -> str:
    if not chosen:
        return "defaults"
    parts = []
    for key, value in chosen.items():
        if isinstance(value, Mapping):
            inner = ", ".join(f"{k}={v:.3f}" for k, v in value.items())
            parts.append(f"{key}=({inner})")
        elif isinstance(value, float):
            parts.append(f"{key}={value:.4g}")
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def rating_folds_markdown(document: Mapping[str, Any]) -> str:
    """A markdown report of :func:`run_rating_folds` output.

    One table of 5-fold means (best RMSE and MAE in bold), one of the per-fold RMSE, and the
    settings chosen per fold.
    """
    dataset = document["dataset"]
    results = document["results"]
    folds = dataset["folds"]
    n_fallback = ", ".join(f"u{f['fold']}: {f['n_test_fallback']}" for f in folds)
    lines = [
        f"### {dataset['name']} — official folds u1..u{dataset['n_folds']} "
        f"({document['protocol']})",
        "",
        f"Tuned on a random {dataset['valid_fraction']:.0%} of each `u*.base` "
        f"(seed {dataset['valid_random_state']} + fold), refitted on the whole base, "
        "evaluated on `u*.test`; predictions clipped to [1, 5]. Test ratings whose user or item "
        f"has no base rating use the bias fallback ({n_fallback}). Mean ± population std over "
        "folds.",
    ]
    if any(r["model"] == BLEND for r in results):
        lines += [
            "",
            "`blend` is a least-squares combination (with intercept) of the other models, fitted "
            "on their validation predictions; its times are the sums of its components'.",
        ]
    lines += [
        "",
        "| model | rmse | mae | valid rmse | refit s / fold | tuning s (all folds) |",
        "|---|---|---|---|---|---|",
    ]
    if results:
        best_rmse = min(r["test"]["rmse"] for r in results)
        best_mae = min(r["test"]["mae"] for r in results)
    for r in results:
        test = r["test"]
        rmse_text = f"{test['rmse']:.4f} ± {test['rmse_std']:.4f}"
        mae_text = f"{test['mae']:.4f} ± {test['mae_std']:.4f}"
        if test["rmse"] == best_rmse:
            rmse_text = f"**{rmse_text}**"
        if test["mae"] == best_mae:
            mae_text = f"**{mae_text}**"
        valid_mean = float(np.mean([f["valid_rmse"] for f in r["folds"]]))
        lines.append(
            f"| {r['model']} | {rmse_text} | {mae_text} | {valid_mean:.4f} | "
            f"{r['fit_seconds']:.1f} | {r['tune_seconds']:.0f} |"
        )
    fold_heads = [f"u{f['fold']}" for f in folds]
    lines += [
        "",
        "Per-fold test RMSE / MAE:",
        "",
        "| model | " + " | ".join(fold_heads) + " |",
        "|---|" + "---|" * len(fold_heads),
    ]
    for r in results:
        cells = [f"{f['rmse']:.4f} / {f['mae']:.4f}" for f in r["folds"]]
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    lines += ["", "Chosen settings per fold:", ""]
    for r in results:
        chosen = "; ".join(
            f"u{f['fold']}: `{_format_params(p)}`"
            for f, p in zip(r["folds"], r["params"], strict=True)
        )
        lines.append(f"- **{r['model']}**: {chosen}")
    return "\n".join(lines) + "\n"
