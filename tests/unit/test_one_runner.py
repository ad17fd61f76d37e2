"""Every protocol tunes and refits through the one runner (``tune_and_refit``).

Issue 12: the tune -> refit -> test loop was written five times and drifted (the hybrid
ignored ``--grid``, timings meant different things). This reads the evaluation modules' syntax
trees: none may call ``tune(`` / ``grid_search(`` or fit a model (``.fit(``) itself; each
protocol module calls ``tune_and_refit``. The runner's extensions those protocols use (a model
factory, a minimised metric, no validation set, a retrain) are checked on a toy model.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

import digirec.evaluation
from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.training.tuning import tune_and_refit

EVALUATION = Path(digirec.evaluation.__file__).parent

#: Calls a protocol module leaves to the runner.
FORBIDDEN_CALLS = frozenset({"fit", "tune", "grid_search", "_search"})

#: Evaluation modules allowed to fit a model directly, and why.
ALLOWED: dict[str, str] = {
    # One fit of a served bundle's config as it is, for its held-out score: nothing is tuned.
    "served.py": "scores the served recipe without tuning",
}

#: Modules that run a protocol: each must go through the runner.
PROTOCOL_MODULES = (
    "benchmark.py",
    "coldstart.py",
    "learning_curve.py",
    "next_purchase.py",
    "rating_folds.py",
)


def called_names(tree: ast.AST) -> list[tuple[str, int]]:
    """``(name, line)`` of every call of a plain name or an attribute (``f(...)``, ``x.f(...)``)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                out.append((func.id, node.lineno))
            elif isinstance(func, ast.Attribute):
                out.append((func.attr, node.lineno))
    return out


def direct_fits(source: str) -> list[str]:
    """The forbidden calls in ``source``, as ``name@line``."""
    return [f"{n}@{line}" for n, line in called_names(ast.parse(source)) if n in FORBIDDEN_CALLS]


def test_the_detector_flags_each_kind_of_call() -> None:
    source = (
        "model = create_model('ease', {}).fit(train, valid)\n"
        "search = grid_search('ease', train, valid)\n"
        "tuning.tune(x)\n"
        "run = tune_and_refit('ease', train, valid, full)\n"
        "frame = model.fit_frame(f)\n"
    )
    assert direct_fits(source) == ["fit@1", "grid_search@2", "tune@3"]


def test_modules_exist() -> None:
    names = {p.name for p in EVALUATION.glob("*.py")}
    assert set(PROTOCOL_MODULES) <= names and set(ALLOWED) <= names


@pytest.mark.parametrize("path", sorted(EVALUATION.glob("*.py")), ids=lambda p: p.name)
def test_no_protocol_fits_outside_the_runner(path: Path) -> None:
    if path.name in ALLOWED:
        pytest.skip(ALLOWED[path.name])
    found = direct_fits(path.read_text(encoding="utf-8"))
    assert not found, (
        f"{path.name} fits or tunes models itself ({found}); use "
        "digirec.training.tuning.tune_and_refit (extend it rather than copy the loop)"
    )


@pytest.mark.parametrize("name", PROTOCOL_MODULES)
def test_each_protocol_calls_the_runner(name: str) -> None:
    tree = ast.parse((EVALUATION / name).read_text(encoding="utf-8"))
    assert "tune_and_refit" in {n for n, _ in called_names(tree)}, name


class Constant:
    """A toy model outside the registry: its validation "error" is ``|value - 3|``."""

    fits: ClassVar[list[tuple[float, int, bool]]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.value = float(config["value"])

    def fit(self, dataset: Dataset, valid: Dataset | None = None) -> Constant:
        Constant.fits.append((self.value, dataset.n_interactions, valid is not None))
        return self

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value, "resolved": True}

    def refit(self, dataset: Dataset) -> Constant:
        raise AssertionError("retrain=True must not call refit")


def test_runner_with_a_factory_a_minimised_metric_and_retrain() -> None:
    frame = pd.DataFrame({C.USER_ID: list("aabbc"), C.ITEM_ID: list("xyxyz")})
    full = Dataset.from_interactions(frame)
    train = full.subset(np.arange(5) < 3)
    Constant.fits = []
    run = tune_and_refit(
        "constant",
        train,
        None,
        full,
        params={"constant": {"value": 0.0}},
        grids={"constant": {"value": [1.0, 2.0, 4.0, 5.0]}},
        score=lambda m: {"err": abs(m.value - 3.0)},
        metric="err",
        greater_is_better=False,
        retrain=True,
        make=Constant,
    )
    # 2 and 4 tie at error 1: the earlier grid setting wins; the order is by error, then grid.
    assert [t.setting["value"] for t in run.search.trials] == [2.0, 4.0, 1.0, 5.0]
    assert run.search.best.params == {"value": 2.0, "resolved": True}
    assert run.search.best_model is not None and run.search.best_model.value == 2.0
    # Four tuning fits on train without validation, then one fresh fit of the winner on full.
    assert Constant.fits == [(v, 3, False) for v in (1.0, 2.0, 4.0, 5.0)] + [(2.0, 5, False)]
    assert isinstance(run.model, Constant) and run.model is not run.search.best_model
    assert run.result()["tuning"][0]["valid"] == {"err": 1.0}
    with pytest.raises(ValueError, match="score"):
        tune_and_refit("ease", train, None, full, tune=False)
