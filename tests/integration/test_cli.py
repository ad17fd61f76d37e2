"""The ``digirec`` CLI end to end on small files written by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from digirec.cli import app

runner = CliRunner()


def write_shop(tmp_path: Path, n_users: int = 60) -> Path:
    """A planted two-segment shop: phone buyers and headphone buyers."""
    rng = np.random.default_rng(0)
    items = pd.DataFrame(
        {
            "item_id": [f"p{i}" for i in range(10)] + [f"h{i}" for i in range(10)],
            "title": [f"Phone {i}" for i in range(10)] + [f"Headphones {i}" for i in range(10)],
            "brand": ["Acme", "Zeta"] * 10,
            "category": ["Phones"] * 10 + ["Headphones"] * 10,
            "price": [100.0 + 50 * i for i in range(10)] + [20.0 + 10 * i for i in range(10)],
        }
    )
    rows = []
    for u in range(n_users):
        prefix = "p" if u % 2 == 0 else "h"
        for t, i in enumerate(rng.choice(10, size=6, replace=False)):
            rows.append((f"user{u}", f"{prefix}{i}", 1_700_000_000 + 3600 * t))
    data = tmp_path / "shop"
    data.mkdir()
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(
        data / "interactions.csv", index=False
    )
    items.to_csv(data / "items.csv", index=False)
    return data


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_benchmark_csv_json_shape(tmp_path: Path) -> None:
    data = write_shop(tmp_path)
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    code, output = run(
        "benchmark", "--data", str(data / "interactions.csv"), "--format", "csv",
        "--models", "pop,ease", "--k", "10,20", "--out", str(out), "--markdown", str(md),
        "--params", '{"ease": {"lambda": 10}}', "--no-tune",
    )  # fmt: skip
    assert code == 0, output
    doc = json.loads(out.read_text())
    assert doc["protocol"] == "leave-one-out"
    assert set(doc["dataset"]) >= {"name", "n_users", "n_items", "n_interactions"}
    assert doc["dataset"]["n_users"] == 60 and doc["dataset"]["n_interactions"] == 360
    ease = next(r for r in doc["results"] if r["model"] == "ease")
    assert ease["params"]["lambda"] == 10
    for key in ("ndcg@10", "recall@10", "ndcg@20", "recall@20", "mrr@20", "coverage@10"):
        assert key in ease["test"]
    assert "ndcg@10" in ease["valid"] and ease["fit_seconds"] >= 0
    # The planted segments make EASE far better than chance (1 target among 14 unseen items).
    assert ease["test"]["recall@10"] > 0.8
    assert "| ease |" in md.read_text()


def test_benchmark_tunes_on_validation(tmp_path: Path) -> None:
    data = write_shop(tmp_path)
    out = tmp_path / "r.json"
    code, output = run(
        "benchmark", "--data", str(data), "--models", "ease",
        "--grid", '{"ease": {"lambda": [1, 50]}}', "--out", str(out),
    )  # fmt: skip
    assert code == 0, output
    (ease,) = json.loads(out.read_text())["results"]
    assert len(ease["tuning"]) == 2
    assert ease["params"]["lambda"] == ease["tuning"][0]["params"]["lambda"]
    assert "[ease] 2/2" in output


def test_train_recommend_with_filters_and_info(tmp_path: Path) -> None:
    data = write_shop(tmp_path)
    bundle = tmp_path / "bundle"
    code, output = run("train", "--data", str(data), "--model", "itemknn", "--out", str(bundle))
    assert code == 0, output
    code, output = run(
        "recommend", "--bundle", str(bundle), "--users", "user0,user1", "--k", "5", "--json"
    )
    assert code == 0, output
    recs = pd.DataFrame(json.loads(output))
    assert set(recs["user_id"]) == {"user0", "user1"}
    # user0 has seen 6 of the 10 phones: the 4 unseen phones come first, then other items.
    user0 = recs[recs["user_id"] == "user0"].sort_values("rank")
    assert user0["category"].head(4).eq("Phones").all()
    code, output = run(
        "recommend", "--bundle", str(bundle), "--users", "user0", "--k", "5", "--json",
        "--category", "Headphones", "--max-price", "60",
    )  # fmt: skip
    assert code == 0, output
    filtered = pd.DataFrame(json.loads(output))
    assert len(filtered) == 5
    assert filtered["category"].eq("Headphones").all() and (filtered["price"] <= 60).all()
    code, output = run("similar", "--bundle", str(bundle), "--items", "p1", "--k", "3")
    assert code == 0 and "similar_item_id" in output
    code, output = run("info", "--data", str(data), "--json")
    assert code == 0, output
    info = json.loads(output)
    assert info["n_users"] == 60 and info["n_items"] == 20
    assert info["interactions_per_user"]["min"] == 6


def test_clear_errors(tmp_path: Path) -> None:
    data = write_shop(tmp_path)
    bad = tmp_path / "bad.csv"
    text = (data / "interactions.csv").read_text().splitlines()
    text[3] = "user9,p1,not-a-time"
    bad.write_text("\n".join(text) + "\n")
    result = runner.invoke(app, ["info", "--data", str(bad), "--format", "csv"])
    assert result.exit_code != 0
    message = str(result.exception)
    assert "bad.csv" in message and "row 3" in message and "timestamp" in message
    code, output = run("benchmark", "--data", str(data), "--models", "nope")
    assert code != 0 and "unknown model" in output
    code, output = run("info", "--data", str(bad), "--format", "csv", "--on-bad-rows", "skip")
    assert code == 0, output
    assert "skipped 1" in output


@pytest.mark.parametrize("users", ["nobody"])
def test_unknown_user_is_an_error(tmp_path: Path, users: str) -> None:
    data = write_shop(tmp_path)
    bundle = tmp_path / "b"
    assert run("train", "--data", str(data), "--model", "pop", "--out", str(bundle))[0] == 0
    result = runner.invoke(app, ["recommend", "--bundle", str(bundle), "--users", users])
    assert result.exit_code != 0
    assert "unknown user id" in str(result.exception)


# ---------------------------------------------------------------------------------- protocols
def test_benchmark_cold_items_protocol(tmp_path: Path) -> None:
    data = write_shop(tmp_path)
    out, md = tmp_path / "cold.json", tmp_path / "cold.md"
    code, output = run(
        "benchmark", "--data", str(data), "--protocol", "cold-items", "--models", "pop,ease",
        "--no-tune", "--out", str(out), "--markdown", str(md),
    )  # fmt: skip
    assert code == 0, output
    doc = json.loads(out.read_text())
    assert doc["protocol"] == "cold-items" and doc["cold_fraction"] == 0.1
    # 20 items: round(0.1 * 20) = 2 cold for test, round(0.1 * 18) = 2 for validation.
    assert doc["split"]["n_cold_items"] == 2 and doc["split"]["n_valid_cold_items"] == 2
    assert sum(doc["split"][k] for k in ("n_train", "n_valid", "n_test")) == 360
    for result in doc["results"]:
        sliced = result["cold_items"]
        assert sliced["n_targets"] == doc["split"]["n_test"]
        assert {"ndcg@10", "recall@10", "precision@10", "hit_rate@20"} <= set(sliced)
        assert result["test"]["ndcg@10"] == sliced["ndcg@10"]
    pop = next(r for r in doc["results"] if r["model"] == "pop")
    assert pop["cold_items"]["recall@10"] == 0.0  # a cold item has no popularity
    assert "#### Cold items" in md.read_text()


def test_benchmark_cold_users_protocol(tmp_path: Path) -> None:
    data = write_shop(tmp_path)
    out = tmp_path / "cold.json"
    code, output = run(
        "benchmark", "--data", str(data), "--protocol", "cold-users", "--models", "pop,ease",
        "--grid", '{"ease": {"lambda": [1, 50]}}', "--cold-fraction", "0.2", "--out", str(out),
    )  # fmt: skip
    assert code == 0, output
    doc = json.loads(out.read_text())
    assert doc["protocol"] == "cold-users" and doc["split"]["n_cold_users"] == 12
    # 6 interactions per user: 5 given, the last one is the target.
    assert doc["split"]["n_history"] == 60 and doc["split"]["n_targets"] == 12
    ease = next(r for r in doc["results"] if r["model"] == "ease")
    assert len(ease["tuning"]) == 2
    assert ease["cold_users"]["n_users"] == 12
    assert ease["cold_users_attributes"]["n_targets"] == 72
    # Five items of the user's segment given: EASE finds the segment (1 in 14 by chance).
    assert ease["cold_users"]["recall@10"] > 0.8
    assert "attributes only" in output


def test_benchmark_protocol_errors(tmp_path: Path) -> None:
    data = write_shop(tmp_path)
    code, output = run("benchmark", "--data", str(data), "--protocol", "cold-stuff")
    assert code != 0 and "unknown protocol" in output and "cold-items" in output
    code, output = run(
        "benchmark", "--data", str(data), "--protocol", "cold-items", "--cold-fraction", "1.5"
    )
    assert code != 0 and "(0, 1)" in output


def test_benchmark_ml100k_folds_is_wired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    calls: list[dict[str, object]] = []

    def run_rating_folds(data_dir: Path, models: list[str], **kwargs: object) -> dict[str, object]:
        calls.append({"data_dir": data_dir, "models": list(models), **kwargs})
        return {"protocol": "ml100k-folds", "results": []}

    fake = types.ModuleType("digirec.evaluation.rating_folds")
    fake.run_rating_folds = run_rating_folds  # type: ignore[attr-defined]
    fake.rating_folds_markdown = lambda doc: "RATING FOLDS TABLE"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "digirec.evaluation.rating_folds", fake)
    out = tmp_path / "folds.json"
    code, output = run(
        "benchmark", "--data", str(tmp_path), "--protocol", "ml100k-folds", "--out", str(out)
    )
    assert code == 0, output
    assert "RATING FOLDS TABLE" in output
    assert json.loads(out.read_text())["protocol"] == "ml100k-folds"
    # No --models: the rating protocol picks its default; --models passes through.
    assert calls[0]["models"] == [] and calls[0]["data_dir"] == tmp_path
    assert calls[0]["tune"] is True
    code, output = run(
        "benchmark", "--data", str(tmp_path), "--protocol", "ml100k-folds", "--models", "mf",
        "--no-tune", "--params", '{"mf": {"factors": 8}}',
    )  # fmt: skip
    assert code == 0, output
    assert calls[1]["models"] == ["mf"] and calls[1]["tune"] is False
    assert calls[1]["params"] == {"mf": {"factors": 8}}
    # Without the module: a clear error, not a traceback.
    monkeypatch.setitem(sys.modules, "digirec.evaluation.rating_folds", None)
    code, output = run("benchmark", "--data", str(tmp_path), "--protocol", "ml100k-folds")
    assert code != 0 and "rating_folds" in output


def test_learning_curve_command(tmp_path: Path) -> None:
    data = write_shop(tmp_path)
    out, md, svg, page = (tmp_path / n for n in ("lc.json", "lc.md", "lc.svg", "lc.html"))
    code, output = run(
        "learning-curve", "--data", str(data), "--models", "pop,ease", "--fractions", "0.5,1",
        "--params", '{"ease": {"lambda": 10}}', "--no-tune", "--out", str(out),
        "--markdown", str(md), "--plot", str(svg),
    )  # fmt: skip
    assert code == 0, output
    doc = json.loads(out.read_text())
    assert doc["protocol"] == "learning-curve" and doc["fractions"] == [0.5, 1.0]
    ease = doc["learning_curve"]["ease"]
    # 60 users x 4 training events: ceil(0.5 * 4) = 2 kept, + 1 validation event each.
    assert [p["interactions_per_user"] for p in ease] == [3.0, 5.0]
    assert "#### ease" in md.read_text()
    assert svg.read_text().startswith("<svg")
    code, output = run(
        "learning-curve", "--data", str(data), "--models", "pop", "--fractions", "1",
        "--plot", str(page),
    )  # fmt: skip
    assert code == 0, output
    assert "<polyline" in page.read_text() or "Learning curve" in page.read_text()
    code, output = run("report", "--results", str(out), "--out", str(tmp_path / "r.html"))
    assert code == 0, output
    assert "Learning curve" in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize("fractions", ["0,0.5", "0.5,1.2", "half"])
def test_learning_curve_rejects_bad_fractions(tmp_path: Path, fractions: str) -> None:
    data = write_shop(tmp_path)
    code, output = run("learning-curve", "--data", str(data), "--fractions", fractions)
    assert code != 0 and "--fractions" in output


def test_train_tune_chooses_on_validation_and_refits_on_everything(tmp_path: Path) -> None:
    from digirec.artifacts import load_bundle
    from digirec.data.dataset import Dataset
    from digirec.data.load import load_data
    from digirec.data.split import leave_one_out
    from digirec.training.tuning import grid_search

    data = write_shop(tmp_path)
    bundle = tmp_path / "tuned"
    code, output = run(
        "train", "--data", str(data), "--model", "ease", "--tune", "--out", str(bundle)
    )
    assert code == 0, output
    assert "chose" in output
    # The same search done by hand picks the same lambda...
    dataset = Dataset.from_raw(load_data(data))
    masks = leave_one_out(dataset)
    search = grid_search("ease", dataset.subset(masks.train), dataset.subset(masks.valid))
    model = load_bundle(bundle).model
    assert model.get_config()["lambda"] == search.best.params["lambda"]
    # ... and the bundle's model has seen every interaction, test events included.
    assert model.seen_.nnz == dataset.n_interactions


def test_cold_items_views_flag(tmp_path: Path) -> None:
    data = write_shop(tmp_path)
    out = tmp_path / "cold.json"
    code, output = run(
        "benchmark", "--data", str(data), "--protocol", "cold-items", "--cold-fraction", "0.2",
        "--models", "random,contentknn", "--cold-candidates", "cold", "--out", str(out),
    )  # fmt: skip
    assert code == 0, output
    doc = json.loads(out.read_text())
    assert doc["cold_candidates"] == "cold"
    chance, knn = doc["results"]
    for result in doc["results"]:
        assert result["test"] == result["views"]["cold"]["test"]
    # Ranked among the 4 cold items only, every list holds them all: recall@10 is 1 by hand.
    assert chance["views"]["cold"]["test"]["recall@10"] == 1.0
    assert set(knn["vs_baselines"]) == {"random"}
    code, output = run(
        "benchmark", "--data", str(data), "--protocol", "cold-items", "--models", "random",
        "--cold-candidates", "warm",
    )  # fmt: skip
    assert code == 2 and "--cold-candidates" in output
