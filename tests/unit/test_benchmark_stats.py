"""The benchmark with statistics, the hybrid under the run's --grid/--params, honest hybrid
time and validation, and fit() leaving the config alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.split import leave_one_out
from digirec.evaluation.benchmark import run_benchmark, to_markdown
from digirec.evaluation.evaluate import evaluate_model
from digirec.models.hybrid import HybridModel


def clustered(seed: int = 0, n_users: int = 240, n_items: int = 45) -> Dataset:
    """Users interact inside one of 3 item clusters, in a random order."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        cluster = u % 3
        items = rng.choice(np.arange(cluster, n_items, 3), size=7, replace=False)
        rows += [(f"u{u}", f"i{i}", float(t)) for t, i in enumerate(items)]
    return Dataset.from_interactions(
        pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP])
    )


@pytest.fixture(scope="module")
def issue_run() -> dict:
    """The command of issue 11: standalone EASE searched at lambda 2000 only, and a hybrid of
    EASE and popularity with no grid of its own."""
    return run_benchmark(
        clustered(),
        ["pop", "ease", "hybrid"],
        grids={"ease": {"lambda": [2000.0]}},
        params={"hybrid": {"components": [{"model": "ease"}, {"model": "pop"}]}},
    )


def test_hybrid_uses_the_runs_grid_for_its_components(issue_run: dict) -> None:
    ease, hybrid = issue_run["results"][1], issue_run["results"][2]
    assert ease["params"]["lambda"] == 2000.0
    components = hybrid["params"]["components"]
    assert [c["model"] for c in components] == ["ease", "pop"]
    assert components[0]["params"]["lambda"] == 2000.0
    # Honest time: the reused EASE search is part of the hybrid's tuning cost.
    assert hybrid["tuning_seconds"] >= ease["tuning_seconds"]


def test_statistics_keys_and_the_baseline_chosen_on_validation(issue_run: dict) -> None:
    results = {r["model"]: r for r in issue_run["results"]}
    expected = max(("pop", "ease"), key=lambda m: results[m]["valid"]["ndcg@10"])
    assert issue_run["best_baseline"] == expected
    for r in results.values():
        lo, hi = r["test_ci95"]["ndcg@10"]
        assert lo <= r["test"]["ndcg@10"] <= hi
        assert set(r["test_ci95"]) == {"ndcg@10", "recall@10", "ndcg@20", "recall@20", "mrr@20"}
        vs = r["vs_best_baseline"]
        assert vs["baseline"] == expected
        diff = r["test"]["ndcg@10"] - results[expected]["test"]["ndcg@10"]
        assert vs["ndcg@10"]["diff"] == pytest.approx(diff, abs=1e-12)
        assert vs["ndcg@10"]["ci95"][0] <= vs["ndcg@10"]["diff"] <= vs["ndcg@10"]["ci95"][1]
    assert results[expected]["vs_best_baseline"]["ndcg@10"] == {"diff": 0.0, "ci95": [0.0, 0.0]}
    table = to_markdown(issue_run)
    assert f"vs {expected} [95% CI]" in table and "95% percentile bootstrap" in table


def test_pop_is_worse_than_ease_by_a_clear_margin_on_planted_clusters(issue_run: dict) -> None:
    results = {r["model"]: r for r in issue_run["results"]}
    # Popularity knows nothing of the clusters: EASE (the baseline here) must beat it, and the
    # paired interval must say so.
    assert issue_run["best_baseline"] == "ease"
    assert results["pop"]["vs_best_baseline"]["ndcg@10"]["ci95"][1] < 0
    assert "**worse**" in to_markdown(issue_run)


def test_hybrid_is_scored_on_validation_users_its_weight_search_did_not_see() -> None:
    ds = clustered(seed=2)
    masks = leave_one_out(ds)
    train, valid = ds.subset(masks.train), ds.subset(masks.valid)
    model = HybridModel(
        components=[{"model": "ease", "grid": {"lambda": [10.0]}}, {"model": "pop"}],
        weight_step=0.5,
    )
    before = model.config.model_copy(deep=True)
    model.fit(train, valid)
    held_out = model.unseen_valid_users_
    assert held_out is not None
    valid_users = np.unique(valid.user_idx)
    assert len(held_out) == len(valid_users) // 2
    assert set(held_out) <= set(valid_users)
    # fit() leaves config alone; get_config() is the resolved setting.
    assert model.config == before
    resolved = model.get_config()
    assert resolved["tune"] is False
    assert resolved["components"][0]["params"]["lambda"] == 10.0
    assert [c["weight"] for c in resolved["components"]] == list(model.weights_)
    # The search's reported validation figure is the held-out half, recomputed here directly.
    from digirec.training.tuning import grid_search

    search = grid_search(
        "hybrid", train, valid, grid={},
        base_params={"components": [{"model": "ease", "grid": {"lambda": [10.0]}},
                                    {"model": "pop"}], "weight_step": 0.5},
    )  # fmt: skip
    half = valid.subset(np.isin(valid.user_idx, held_out))
    assert search.best.valid["ndcg@10"] == pytest.approx(
        evaluate_model(model, half, ks=(10, 20))["ndcg@10"], abs=1e-12
    )
    # A second fit tunes again from the original config (not capped by the first).
    again = model.fit(train, valid)
    assert again.config == before


def test_run_settings_reach_the_components_and_their_own_settings_win() -> None:
    from digirec.models.hybrid import DEFAULT_COMPONENTS, with_run_settings

    resolved = with_run_settings(
        {"components": [{"model": "ease"}, {"model": "als", "params": {"factors": 8}}]},
        {"ease": {"lambda": 7.0}, "als": {"factors": 64, "iterations": 3}},
        {"ease": {"lambda": [1.0, 2.0]}, "als": {"alpha": [1.0]}},
    )
    ease, als = resolved["components"]
    assert ease["params"] == {"lambda": 7.0} and ease["grid"] == {"lambda": [1.0, 2.0]}
    assert als["params"] == {"factors": 8, "iterations": 3}  # its own factors win
    assert als["grid"] == {"alpha": [1.0]}
    # Without components the default blend gets the run's settings too.
    first = DEFAULT_COMPONENTS[0]
    default = with_run_settings({}, {first: {"random_state": 3}}, None)
    assert [c["model"] for c in default["components"]] == list(DEFAULT_COMPONENTS)
    assert default["components"][0]["params"] == {"random_state": 3}
