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
