"""The benchmark protocol against hand-worked numbers on a tiny data set.

Popularity is deterministic, so the expected ranks (and NDCG) can be computed by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.split import leave_one_out
from digirec.evaluation.benchmark import run_benchmark, to_markdown
from digirec.models.base import Recommender
from digirec.retrieval.topk import tie_break_ranks
from digirec.training.tuning import grid_search, iter_grid


def tiny() -> Dataset:
    # Items A..E. Popularity in train+valid is planted so that the test ranks are known.
    rows = []
    t = 0

    def add(user: str, items: str) -> None:
        nonlocal t
        for item in items:
            t += 1
            rows.append((user, item, float(t)))

    add("u1", "ABC")  # train A; valid B; test C
    add("u2", "ABD")  # train A; valid B; test D
    add("u3", "AE")  # < 3 interactions: train only
    add("u4", "ACB")  # train A; valid C; test B
    df = pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP])
    return Dataset.from_interactions(df)


def test_popularity_benchmark_matches_hand_computation() -> None:
    doc = run_benchmark(tiny(), ["pop"], ks=(1, 3), tune=False)
    assert doc["protocol"] == "leave-one-out"
    assert doc["dataset"] == {"name": "dataset", "n_users": 4, "n_items": 5, "n_interactions": 11}
    assert doc["split"] == {"n_train": 5, "n_valid": 3, "n_test": 3}
    (result,) = doc["results"]
    # Refit on train+valid: u1 {A,B}, u2 {A,B}, u3 {A,E}, u4 {A,C}; distinct-user popularity
    # A=4, B=2, C=1, E=1, D=0. C and E tie: the fixed permutation (seed 42) decides.
    ranks = tie_break_ranks(5, 42)  # item_idx in first-appearance order: A0 B1 C2 D3 E4
    c_first = bool(ranks[2] < ranks[4])
    # u1 (seen A,B): C/E, then D -> test C at rank 0 if C wins the tie, else 1.
    # u2 (seen A,B): C, E, D -> test D at rank 2.   u4 (seen A,C): B first -> test B at rank 0.
    rank_c = 0 if c_first else 1
    test = result["test"]
    assert test["hit_rate@1"] == pytest.approx((1 + c_first) / 3)
    assert test["recall@3"] == pytest.approx(1.0)
    assert test["ndcg@3"] == pytest.approx((1 / math.log2(rank_c + 2) + 1 / math.log2(4) + 1) / 3)
    assert test["mrr@3"] == pytest.approx((1 / (rank_c + 1) + 1 / 3 + 1) / 3)
    # Validation (fit on train: A=3, E=1 -> everything else 0): u1, u2 target B, u4 target C.
    assert result["valid"]["hit_rate@1"] == pytest.approx(0.0)


def test_test_targets_are_excluded_from_training() -> None:
    # A model fitted on train+valid must never see the test targets: the refit dataset's
    # matrix has no (user, test item) entry. Checked through the split the benchmark uses.
    from digirec.data.split import leave_one_out

    ds = tiny()
    masks = leave_one_out(ds)
    train_valid = ds.subset(masks.train | masks.valid).user_item_matrix(binary=True)
    test = ds.subset(masks.test)
    for u, i in zip(test.user_idx, test.item_idx, strict=True):
        assert train_valid[u, i] == 0


def test_tuning_picks_best_on_validation_and_reports_all_trials() -> None:
    ds = tiny()
    from digirec.data.split import leave_one_out

    masks = leave_one_out(ds)
    grid = {"lambda": [1.0, 1000.0]}
    result = grid_search(
        "ease", ds.subset(masks.train), ds.subset(masks.valid), grid=grid, ks=(1, 3)
    )
    assert len(result.trials) == 2
    scores = [t.valid["ndcg@10"] for t in result.trials]
    assert scores == sorted(scores, reverse=True)
    assert list(iter_grid({})) == [{}]
    assert len(list(iter_grid({"a": [1, 2], "b": [3, 4, 5]}))) == 6


def test_fixed_params_are_used_without_tuning_and_markdown_renders() -> None:
    doc = run_benchmark(
        tiny(), ["ease", "pop"], ks=(10, 20), tune=False, params={"ease": {"lambda": 7.0}}
    )
    ease = doc["results"][0]
    assert ease["params"]["lambda"] == 7.0
    assert ease["tuning"] == []
    for key in ("ndcg@10", "recall@10", "ndcg@20", "recall@20", "mrr@20", "coverage@10"):
        assert key in ease["test"]
        assert 0.0 <= ease["test"][key] <= 1.0
    md = to_markdown(doc)
    assert "| ease |" in md and "| pop |" in md and "ndcg@10" in md
    assert np.isfinite(ease["fit_seconds"])


def test_identical_searches_are_reused_inside_reuse_searches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import digirec.training.tuning as tuning

    ds = _reuse_data()
    masks = leave_one_out(ds)
    train, valid = ds.subset(masks.train), ds.subset(masks.valid)
    fits: list[str] = []
    real_create = tuning.create_model

    def counting_create(name: str, params: dict[str, object] | None = None) -> Recommender:
        fits.append(name)
        return real_create(name, params)

    monkeypatch.setattr(tuning, "create_model", counting_create)
    grid = {"lambda": [1.0, 10.0]}
    first = tuning.grid_search("ease", train, valid, grid=grid)
    again = tuning.grid_search("ease", train, valid, grid=grid)
    assert len(fits) == 4 and first is not again  # no reuse outside the scope
    with tuning.reuse_searches():
        a = tuning.grid_search("ease", train, valid, grid=grid, keep_best_model=True)
        b = tuning.grid_search("ease", train, valid, grid=grid, keep_best_model=True)
        c = tuning.grid_search("ease", train, valid, grid={"lambda": [1.0]})
    # The reused result is the same search (same fitted model), marked as reused.
    assert b.best_model is a.best_model and b.trials == a.trials and c is not a
    assert b.reused and not a.reused and b.search_seconds == a.search_seconds
    assert len(fits) == 4 + 2 + 1
    assert a.best_model is not None and a.best.params == first.best.params


def _reuse_data() -> Dataset:
    rng = np.random.default_rng(3)
    rows = [
        (f"u{u}", f"i{int(i)}", float(t))
        for u in range(40)
        for t, i in enumerate(rng.choice(20, size=6, replace=False))
    ]
    return Dataset.from_interactions(
        pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP])
    )


def test_no_tune_hybrid_reuses_the_standalone_fits_and_gives_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--no-tune``: the hybrid's components are fixed (no component grid is searched) and are
    the benchmark's own standalone fits, on train and on train + validation; the result is the
    one a hybrid fitted on its own gives, and its reported fit time still counts the reused
    refits."""
    from digirec.models.ease import EASEModel

    ds = _reuse_data()
    params = {
        "ease": {"lambda": 10.0},
        "hybrid": {"components": [{"model": "ease"}, {"model": "pop"}]},
    }
    fits: list[int] = []
    real_fit = EASEModel._fit

    def counting_fit(self: EASEModel, dataset: Dataset, valid: Dataset | None) -> None:
        fits.append(dataset.n_interactions)
        real_fit(self, dataset, valid)

    monkeypatch.setattr(EASEModel, "_fit", counting_fit)
    both = run_benchmark(ds, ["ease", "hybrid"], tune=False, params=params)
    # One EASE fit on train and one refit on train + validation, not two of each.
    assert len(fits) == 2 and fits[0] < fits[1]
    alone = run_benchmark(ds, ["hybrid"], tune=False, params=params)
    assert len(fits) == 4
    ease, hybrid = both["results"]
    (own,) = alone["results"]
    assert hybrid["test"] == own["test"] and hybrid["valid"] == own["valid"]
    components = hybrid["params"]["components"]
    assert [c["model"] for c in components] == ["ease", "pop"]
    assert all(c["fixed"] for c in components)
    assert components[0]["params"]["lambda"] == 10.0  # the run's EASE setting, not a grid's
    assert sum(c["weight"] for c in components) == pytest.approx(1.0)
    assert hybrid["fit_seconds"] >= ease["fit_seconds"]
    # Other reported cut-offs: still one fit and one refit (the reuse is of the fit, not of
    # the validation scores the standalone search computed).
    again = run_benchmark(ds, ["ease", "hybrid"], tune=False, params=params, ks=(5,))
    assert len(fits) == 6
    assert again["results"][1]["test"]["ndcg@10"] == hybrid["test"]["ndcg@10"]


def test_no_tune_marks_every_hybrid_component_fixed() -> None:
    from digirec.models.hybrid import with_run_settings

    hybrid = {"components": [{"model": "ease", "grid": {"lambda": [1.0, 2.0]}}, {"model": "als"}]}
    grids = {"als": {"factors": [8, 16]}}
    tuned = with_run_settings(hybrid, {"als": {"iterations": 3}}, grids)
    fixed = with_run_settings(hybrid, {"als": {"iterations": 3}}, grids, tune=False)
    assert [c["fixed"] for c in tuned["components"]] == [False, False]
    assert tuned["components"][1]["grid"] == {"factors": [8, 16]}
    assert [c["fixed"] for c in fixed["components"]] == [True, True]
    assert [c["grid"] for c in fixed["components"]] == [None, None]
    assert fixed["components"][1]["params"] == {"iterations": 3}
