"""Hybrid blend: a weighted sum of several models' per-user normalised scores.

Different models see different signals — EASE the co-occurrence structure, SASRec the order of
recent items, content models what a product is — and their errors are only partly correlated, so
a blend beats each part. Weights are fitted on the validation split (never on test):

1. each component is tuned on validation over its grid -- the component's ``grid`` if given,
   else the documented ``TUNING_GRIDS`` entry -- unless its parameters are marked ``fixed``
   (inside a benchmark, :func:`with_run_settings` hands each component the run's ``--params``
   and ``--grid`` for that model, so the hybrid's EASE is the benchmark's EASE);
2. the validation users are split 50/50 (seeded): the weight search sees one half only, and the
   hybrid is scored on the other half (``unseen_valid_users_``), so its validation figure is not
   the maximum over the weight grid on the users that chose the weights;
3. each component's scores for (a sample of) the search half are z-normalised per user, and a
   grid over the weight simplex is searched for the best NDCG@10.

``fit`` leaves ``config`` alone (a second ``fit(train, valid)`` tunes again); the choices are
learned attributes (``specs_``, ``weights_``). :meth:`get_config` of a fitted hybrid returns the
resolved setting -- chosen component parameters and weights, ``tune=False`` -- so the
benchmark's refit on train + validation (and a saved bundle) reuses them without looking at
validation again. ``reused_search_seconds_`` is the fitting time of the component searches that
were reused from earlier in the same benchmark, so the hybrid's reported tuning time includes
them; ``reused_refit_seconds_`` (on a refit hybrid) is the same for the components' refits.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from digirec.data.dataset import Dataset
from digirec.evaluation.metrics import ndcg_at_k
from digirec.exceptions import ConfigError
from digirec.models.base import (
    FloatMatrix,
    IdxArray,
    ModelConfig,
    Recommender,
    binary_history,
)
from digirec.retrieval.topk import block_rows, topk

STATE_SEPARATOR = "::"


class ComponentSpec(BaseModel):
    """One blended model: registry name, parameters, weight."""

    model_config = ConfigDict(extra="forbid")

    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    fixed: bool = Field(False, description="Use params as given (no validation search).")
    grid: dict[str, list[Any]] | None = Field(
        None, description="Search space of this component; None = its TUNING_GRIDS entry."
    )
    weight: float | None = Field(None, ge=0, description="Blend weight; None = fit on validation.")


#: The default blend: a linear item-item model (co-occurrence), a factor model (smooth global
#: structure) and a sequential model (order of the latest items). Weights are fitted on
#: validation, so a part that does not help a data set gets weight 0.
DEFAULT_COMPONENTS = ("ease", "als", "sasrec")


def _default_components() -> list[ComponentSpec]:
    return [ComponentSpec.model_validate({"model": name}) for name in DEFAULT_COMPONENTS]


class HybridConfig(ModelConfig):
    """Configuration of :class:`HybridModel`.

    Attributes
    ----------
    components:
        The blended models (default: :data:`DEFAULT_COMPONENTS`).
    tune:
        Tune components and weights on validation when ``fit`` gets a validation set.
    weight_step:
        Resolution of the weight simplex grid (0.1 -> weights 0, 0.1, ..., 1).
    max_valid_users:
        Validation users sampled for the weight search (memory: users x items floats per model;
        fewer when they would not fit the memory budget, see ``n_weight_search_users_``).
    """

    components: list[ComponentSpec] = Field(default_factory=_default_components, min_length=1)
    tune: bool = True
    weight_step: float = Field(0.1, gt=0, le=1)
    max_valid_users: int = Field(4000, ge=100)


class HybridModel(Recommender):
    """Weighted blend of registered models (see module docstring)."""

    name: ClassVar[str] = "hybrid"
    config_class: ClassVar[type[ModelConfig]] = HybridConfig
    supports_history: ClassVar[bool] = True
    config: HybridConfig

    components_: list[Recommender]
    weights_: NDArray[np.float64]
    specs_: list[ComponentSpec]
    unseen_valid_users_: IdxArray | None
    reused_search_seconds_: float
    reused_refit_seconds_: float

    # ------------------------------------------------------------------ fit
    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        from digirec.training.tuning import TUNING_GRIDS, fit_setting, grid_search

        tune = self.config.tune and valid is not None
        specs = [spec.model_copy(deep=True) for spec in self.config.components]
        components: list[Recommender] = []
        self.reused_search_seconds_ = 0.0
        for spec in specs:
            grid = TUNING_GRIDS.get(spec.model, {}) if spec.grid is None else spec.grid
            # Through grid_search even for an empty grid: inside a benchmark the search of the
            # same model on the same split is then reused instead of refitted.
            if tune and not spec.fixed:
                assert valid is not None
                search = grid_search(
                    spec.model, dataset, valid, grid=grid, base_params=spec.params,
                    keep_best_model=True,
                )  # fmt: skip
                assert search.best_model is not None
                model = search.best_model
                if search.reused:
                    # Its cost was paid earlier in the run; count it here too (honest time).
                    self.reused_search_seconds_ += search.search_seconds
            else:
                model, reused = fit_setting(spec.model, spec.params, dataset, valid)
                self.reused_search_seconds_ += reused
            # The resolved parameters (e.g. a tuned lambda, or the epochs early stopping chose)
            # replace the searched ones, so a refit reproduces this setting.
            spec.params = model.get_config()
            spec.fixed = True
            spec.grid = None
            components.append(model)
        self.components_ = components

        self.unseen_valid_users_ = None
        given = [spec.weight for spec in specs]
        if all(w is not None for w in given):
            weights = np.asarray(given, dtype=np.float64)
        elif tune:
            assert valid is not None
            search_users, self.unseen_valid_users_ = self._split_valid_users(valid)
            weights = self._search_weights(valid, search_users)
        else:
            weights = np.full(len(specs), 1.0 / len(specs))
        if weights.sum() <= 0:
            raise ConfigError("hybrid weights must not all be zero")
        self.weights_ = weights / weights.sum()
        for spec, weight in zip(specs, self.weights_, strict=True):
            spec.weight = float(weight)
        self.specs_ = specs
        # Learned, not written into config (a second fit tunes again); get_config() returns it.
        self.fitted_config_ = self.config.model_copy(update={"components": specs, "tune": False})

    @property
    def fit_info_(self) -> dict[str, Any]:
        """What each component chose while fitting (their ``fit_info_``, e.g. EASE's variant)."""
        self._check_fitted()
        info: dict[str, Any] = {
            f"{i}:{model.name}": part
            for i, model in enumerate(self.components_)
            if (part := getattr(model, "fit_info_", None))
        }
        searched = getattr(self, "n_weight_search_users_", None)
        if searched is not None:
            info["weight_search_users"] = searched
        return info

    def refit(self, dataset: Dataset) -> Recommender:
        """Each component refit its own way (:meth:`Recommender.refit`), the same weights."""
        self._check_fitted()
        if not self._same_index_space(dataset):
            return super().refit(dataset)
        from digirec.training.tuning import refit_model

        clone = copy.copy(self)
        clone.seen_ = dataset.user_item_matrix(binary=True)
        refits = [refit_model(model, dataset) for model in self.components_]
        clone.components_ = [model for model, _ in refits]
        # Inside a benchmark the components' refits are the standalone models' (reused).
        clone.reused_refit_seconds_ = sum(seconds for _, seconds in refits)
        return clone

    def _split_valid_users(self, valid: Dataset) -> tuple[IdxArray, IdxArray]:
        """The validation users in two seeded halves: (weight search, held-out report).

        With fewer than 2 validation users the search uses them all and nothing is held out.
        """
        truth = valid.user_item_matrix(binary=True)
        users = np.flatnonzero(np.diff(truth.indptr) > 0).astype(np.int64)
        if len(users) < 2:
            return users, users[:0]
        # A generator of its own (seed + 1), so the halves do not depend on the sample below.
        rng = np.random.default_rng(self.config.random_state + 1)
        shuffled = rng.permutation(users)
        half = len(users) // 2
        return np.sort(shuffled[half:]), np.sort(shuffled[:half])

    def _search_weights(self, valid: Dataset, users: IdxArray) -> NDArray[np.float64]:
        """Best weights on the simplex grid by NDCG@10 on (a sample of) ``users``."""
        truth = valid.user_item_matrix(binary=True)
        rng = np.random.default_rng(self.config.random_state)
        n_users = min(self.config.max_valid_users, _weight_search_users(self))
        if len(users) > n_users:
            users = np.sort(rng.choice(users, n_users, replace=False))
        self.n_weight_search_users_ = len(users)
        seen_rows = self.seen_[users]
        rows, cols = seen_rows.nonzero()
        normalised = []
        for model in self.components_:
            scores = _zscore(model._score_users(users))
            scores[rows, cols] = -np.inf
            normalised.append(scores)
        best_weights = np.zeros(len(normalised))
        best_value = -1.0
        # Blended and ranked block by block: a (users x items) blend per weight setting would
        # allocate (and page-fault) the whole matrix 66 times on a wide catalogue.
        step = block_rows(normalised[0].shape[1], len(users))
        reco = np.empty((len(users), 10), dtype=np.int64)
        for weights in simplex_grid(len(normalised), self.config.weight_step):
            for start in range(0, len(users), step):
                block = [part[start : start + step] for part in normalised]
                reco[start : start + step] = topk(_blend(block, weights), 10, self.tie_ranks_)[0]
            value = float(np.nanmean(ndcg_at_k(reco, truth[users], 10)))
            if value > best_value + 1e-12:
                best_value, best_weights = value, weights
        return best_weights

    # ------------------------------------------------------------------ scoring
    def _score_users(self, user_idx: IdxArray) -> FloatMatrix:
        return _blend([_zscore(m._score_users(user_idx)) for m in self.components_], self.weights_)

    @property
    def uses_weights(self) -> bool:
        """Whether any component trains on weights (it then reads a history's weights)."""
        return any(model.uses_weights for model in getattr(self, "components_", ()))

    def _user_matrix(self) -> sp.csr_matrix:
        # Every component trained on the same data: a weighted one holds its weighted matrix.
        for model in self.components_:
            if model.uses_weights:
                return model._user_matrix()
        return self.seen_

    def _score_histories(self, histories: sp.csr_matrix) -> FloatMatrix:
        parts = []
        binary: sp.csr_matrix | None = None
        for model in self.components_:
            if not model.supports_history:
                raise ConfigError(f"hybrid component {model.name!r} cannot score a raw history")
            if model.uses_weights:
                rows = histories
            else:  # a binary-trained component reads the items only, as on its own
                binary = binary_history(histories) if binary is None else binary
                rows = binary
            parts.append(_zscore(model._score_histories(rows)))
        return _blend(parts, self.weights_)

    def _similar_scores(self, item_idx: IdxArray) -> FloatMatrix:
        return _blend(
            [_zscore(m._similar_scores(item_idx)) for m in self.components_], self.weights_
        )

    # ------------------------------------------------------------------ persistence
    def _forget_users(self, user_idx: IdxArray) -> None:
        for model in self.components_:
            model.forget_users(user_idx)

    def _get_state(self) -> dict[str, NDArray[Any]]:
        state: dict[str, NDArray[Any]] = {"weights": self.weights_}
        for i, model in enumerate(self.components_):
            for key, value in model._get_state().items():
                state[f"c{i}{STATE_SEPARATOR}{key}"] = value
        return state

    def _set_state(self, state: Mapping[str, NDArray[Any]]) -> None:
        from digirec.models.registry import create_model

        self.weights_ = np.asarray(state["weights"], dtype=np.float64)
        components = []
        for i, spec in enumerate(self.config.components):
            prefix = f"c{i}{STATE_SEPARATOR}"
            model = create_model(spec.model, spec.params)
            model.user_map_, model.item_map_ = self.user_map_, self.item_map_
            model.seen_, model.tie_ranks_ = self.seen_, self.tie_ranks_
            model._set_state(
                {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            )
            model.is_fitted = True
            components.append(model)
        self.components_ = components


def _weight_search_users(model: HybridModel) -> int:
    """Most validation users whose scores fit the memory budget during the weight search.

    The search holds one ``(users, n_items)`` float32 score matrix per component plus the
    blend and its top-k copy: 4,000 users x 100,000 items x 5 arrays would be 8 GB. At least
    100 users are kept (the config's lower bound).
    """
    from digirec.memory import dense_bytes, memory_budget_bytes

    per_user = dense_bytes((1, model.seen_.shape[1]), np.float32, len(model.components_) + 2)
    return max(100, memory_budget_bytes() // per_user)


def simplex_grid(n: int, step: float) -> list[NDArray[np.float64]]:
    """All weight vectors of length ``n`` on a grid of ``step`` that sum to 1."""
    units = round(1 / step)
    out = []
    for combo in itertools.product(range(units + 1), repeat=n):
        if sum(combo) == units:
            out.append(np.asarray(combo, dtype=np.float64) / units)
    return out


def _zscore(scores: FloatMatrix) -> FloatMatrix:
    """Per-row standardisation, so models with different score scales can be added."""
    scores = np.asarray(scores, dtype=np.float32)
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    return np.asarray((scores - mean) / np.where(std > 0, std, 1.0), dtype=np.float32)


def _blend(parts: list[FloatMatrix], weights: NDArray[np.float64]) -> FloatMatrix:
    out = np.zeros_like(parts[0], dtype=np.float32)
    for part, weight in zip(parts, weights, strict=True):
        if weight:
            out += np.float32(weight) * part
    return out


def with_run_settings(
    hybrid_params: Mapping[str, Any],
    params: Mapping[str, Mapping[str, Any]],
    grids: Mapping[str, Mapping[str, Any]] | None,
    *,
    tune: bool = True,
) -> dict[str, Any]:
    """The hybrid's parameters with the run's per-model ``params`` and ``grids`` handed to its
    components (what ``digirec benchmark --params/--grid`` give each model).

    A run that does not tune (``--no-tune``) marks every component ``fixed``: the components
    are the run's fixed settings, as the standalone models are (and inside a benchmark they are
    those very fits, :func:`~digirec.training.tuning.fit_setting`); the blend weights are still
    fitted on validation, as the other models' parameters are.

    A component's own ``params`` win over the run's for the same model, and its own ``grid``
    over the run's grid; a component without either gets the run's (``--grid '{"ease":
    {"lambda": [2000]}}'`` makes the hybrid's EASE search lambda = 2000 only, as the standalone
    EASE does).
    """
    resolved = dict(hybrid_params)
    raw = resolved.get("components")
    specs = (
        _default_components()
        if raw is None
        else [ComponentSpec.model_validate(spec) for spec in raw]
    )
    out = []
    for spec in specs:
        spec = spec.model_copy(deep=True)
        spec.params = {**dict(params.get(spec.model, {})), **spec.params}
        if not tune:
            spec.fixed, spec.grid = True, None
        elif spec.grid is None and grids is not None and spec.model in grids:
            spec.grid = {k: list(v) for k, v in grids[spec.model].items()}
        out.append(spec.model_dump(mode="json"))
    resolved["components"] = out
    return resolved
