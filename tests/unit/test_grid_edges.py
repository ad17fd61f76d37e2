"""Grids that contain their optimum: no committed real-data benchmark result may choose the
smallest or largest searched value of a numeric grid dimension.

The searched values are read from each result's own ``tuning`` trials (what that run actually
searched), not from today's grid. Exempt: dimensions whose top is a documented compute budget
(``BUDGET_CAPPED``) and values at a natural lower bound (a shrinkage of 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digirec.training.tuning import BUDGET_CAPPED, NATURAL_LOWER_BOUNDS, UNBOUNDED_BY_NONE

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
#: The leave-one-out benchmarks of the real data sets (README result table).
REAL_SETS = ("ml100k", "instruments", "cellphones", "office")


def edge_choices(document: dict) -> list[str]:
    """``model.param=value`` for every chosen value at the edge of its searched values."""
    found = []
    for result in document["results"]:
        trials = result.get("tuning") or []
        if len(trials) < 2:
            continue
        model = result["model"]
        chosen = result["params"]
        for param, value in chosen.items():
            if param == "random_state" or param in BUDGET_CAPPED.get(model, ()):
                continue
            searched = {t["params"].get(param) for t in trials}
            numeric = sorted(
                v for v in searched if isinstance(v, int | float) and not isinstance(v, bool)
            )
            if len(numeric) < 3 or not isinstance(value, int | float):
                continue
            if value == NATURAL_LOWER_BOUNDS.get(param):
                continue
            # A searched None above the numbers is the natural top: the largest number is
            # then inside the grid.
            open_top = param in UNBOUNDED_BY_NONE and None in searched
            edges = (numeric[0],) if open_top else (numeric[0], numeric[-1])
            if value in edges:
                found.append(f"{model}.{param}={value} (searched {numeric[0]}..{numeric[-1]})")
    return found


def test_the_check_finds_a_planted_edge() -> None:
    doc = {
        "results": [
            {
                "model": "itemknn",
                "params": {"n_neighbors": 500, "shrink": 0.0},
                "tuning": [
                    {"params": {"n_neighbors": n, "shrink": s}}
                    for n in (20, 100, 500)
                    for s in (0.0, 10.0, 100.0)
                ],
            }
        ]
    }
    assert edge_choices(doc) == ["itemknn.n_neighbors=500 (searched 20..500)"]


def test_a_searched_none_is_the_natural_top_of_the_neighbourhood_size() -> None:
    def doc(chosen: int | None, values: tuple[int | None, ...]) -> dict:
        return {
            "results": [
                {
                    "model": "itemknn",
                    "params": {"n_neighbors": chosen, "shrink": 10.0},
                    "tuning": [
                        {"params": {"n_neighbors": n, "shrink": s}}
                        for n in values
                        for s in (0.0, 10.0, 100.0)
                    ],
                }
            ]
        }

    assert edge_choices(doc(500, (20, 100, 500, None))) == []
    assert edge_choices(doc(None, (20, 100, 500, None))) == []
    assert edge_choices(doc(20, (20, 100, 500, None))) == [
        "itemknn.n_neighbors=20 (searched 20..500)"
    ]
    # None is not the top of a dimension that does not define it so.
    assert edge_choices(doc(500, (20, 100, 500))) == ["itemknn.n_neighbors=500 (searched 20..500)"]


def _result_files(name: str) -> list[Path]:
    """The default run of a set and its seed reruns (benchmarks/seeds.py)."""
    seeds = sorted(p for p in RESULTS.glob(f"{name}_*seed*.json") if p.name != f"{name}_seeds.json")
    return [p for p in [RESULTS / f"{name}.json", *seeds] if p.exists()]


#: Committed results known to sit on an edge, with what was done about it. Strict: once the
#: set is rerun inside the widened grid, the test passes and this entry must go.
KNOWN_EDGES: dict[str, str] = {}  # none: every committed real-data result is inside its grid


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_EDGES[n]))
        if n in KNOWN_EDGES
        else n
        for n in REAL_SETS
    ],
)
def test_committed_results_choose_inside_their_grids(name: str) -> None:
    paths = _result_files(name)
    if not paths:
        pytest.skip(f"no committed result for {name}")
    current = []
    for path in paths:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not any("test_ci95" in r for r in document["results"]):
            continue  # written before the intervals and the widened grids (see the skip below)
        current.append(path.name)
        edges = edge_choices(document)
        assert not edges, f"{path.name}: chosen at a grid edge: {edges}; widen the grid and rerun"
    if not current:
        # A result from before the widened grids chose edges of the old grids (the finding of
        # issue 11); it must be rerun, not excused. The skip says so on every test run.
        pytest.skip(f"{name}: committed result predates the widened grids; rerun it")
