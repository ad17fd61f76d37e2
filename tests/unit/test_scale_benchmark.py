"""benchmarks/scale.py at a tiny size: the JSON shape, and its counts against a second read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "scale.py"
# Each stage is a fresh process (imports included): the default run keeps to the data stages.
FAST_STAGES = ("generate", "ingest", "dataset")
ALL_STAGES = (*FAST_STAGES, "train_als", "index", "train_deep", "serve")


def _run(tmp_path: Path, stages: tuple[str, ...]) -> dict[str, object]:
    out = tmp_path / "results" / "scale.json"
    command = [
        sys.executable, str(SCRIPT), "--users", "300", "--items", "100", "--events", "6000",
        "--workdir", str(tmp_path / "work"), "--out", str(out), "--stages", ",".join(stages),
        "--threads", "1", "--serve-seconds", "1", "--deep-batch-size", "64",
        "--deep-negatives", "32",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert out.with_suffix(".md").is_file()
    report = json.loads(out.read_text())
    assert isinstance(report, dict)
    return report


def _check_shape(report: dict[str, object], stages: tuple[str, ...], tmp_path: Path) -> None:
    assert (report["users"], report["items"], report["events"]) == (300, 100, 6000)
    entries = report["stages"]
    assert isinstance(entries, list)
    assert [s["name"] for s in entries] == list(stages)
    for stage in entries:
        assert isinstance(stage["seconds"], float) and stage["seconds"] >= 0.0
        assert isinstance(stage["peak_rss_mb"], float) and stage["peak_rss_mb"] > 10.0
    by_name = {s["name"]: s for s in entries}
    # Second computation: the files the generate stage wrote, read here.
    rows = len(pd.read_parquet(tmp_path / "work" / "shop" / "interactions.parquet"))
    assert by_name["generate"]["n_events"] == rows == by_name["ingest"]["n_rows"]
    assert abs(rows - 6000) < 600
    from digirec.data.dataset import Dataset
    from digirec.data.load import load_data

    dataset = Dataset.from_raw(load_data(tmp_path / "work" / "shop"))
    assert by_name["dataset"]["n_interactions"] == dataset.n_interactions
    if "index" in by_name:
        assert by_name["index"]["n_vectors"] == dataset.n_items


def test_scale_benchmark_tiny_run_writes_the_documented_shape(tmp_path: Path) -> None:
    report = _run(tmp_path, FAST_STAGES)
    _check_shape(report, FAST_STAGES, tmp_path)
    summary = report["summary"]
    assert isinstance(summary, dict)
    timed = [s for s in report["stages"] if s["name"] != "generate"]  # type: ignore[union-attr]
    assert summary["target_seconds"] == pytest.approx(sum(s["seconds"] for s in timed), abs=0.1)


@pytest.mark.slow
def test_scale_benchmark_tiny_run_with_every_stage(tmp_path: Path) -> None:
    report = _run(tmp_path, ALL_STAGES)
    _check_shape(report, ALL_STAGES, tmp_path)
    serve = report["stages"][-1]  # type: ignore[index]
    assert serve["c1"]["requests"] > 0 and serve["c2"]["requests"] > 0
    assert serve["c1"]["p50_ms"] <= serve["c1"]["p99_ms"]
