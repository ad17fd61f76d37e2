"""`digirec demo` end to end on a small synthetic shop (the same path `make demo` runs)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from digirec.cli import app


def test_demo_writes_shop_benchmark_bundle_and_prints_recommendations(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--out", str(tmp_path), "--n-users", "150", "--n-items", "80"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "shop" / "interactions.csv").exists()
    assert (tmp_path / "bundle" / "manifest.json").exists()
    doc = json.loads((tmp_path / "benchmark.json").read_text())
    models = {r["model"]: r for r in doc["results"]}
    assert set(models) == {"pop", "itemknn", "ease", "als", "bpr"}
    # The planted structure (brand loyalty, categories, complements) is learnable: the
    # personalised models beat popularity on test.
    assert models["ease"]["test"]["ndcg@10"] > models["pop"]["test"]["ndcg@10"]
    assert "user u00000" in result.output and "1. " in result.output
    assert "filtered to" in result.output
