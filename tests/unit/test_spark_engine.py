"""The Spark engine against digirec's single-machine code on the same data.

One ``local[2]`` session serves the whole module (a JVM start costs seconds); the data is tiny.
Every check compares Spark's output with an independent computation: ``Dataset.from_raw`` and
``leave_one_out`` for the preparation and the split, the ALS normal equations solved in numpy
for the factors, planted clusters for the ranking, and the local benchmark for the metrics.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.events import EventWeights
from digirec.data.split import leave_one_out
from digirec.data.tables import RawData
from digirec.exceptions import ConfigError

pyspark = pytest.importorskip("pyspark", reason="the spark extra is not installed")
if shutil.which("java") is None:
    pytest.skip("no Java runtime: the Spark engine needs Java 17", allow_module_level=True)

from digirec.engines.spark import prepare, spark_session  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture(scope="module")
def spark():  # type: ignore[no-untyped-def]
    session = spark_session("local[2]", app_name="digirec-tests", shuffle_partitions=4)
    yield session
    session.stop()


def messy_log(seed: int = 0, n: int = 600) -> RawData:
    """Repeated pairs, equal and missing timestamps, mixed-case and unknown events, a few
    explicit weights: everything the preparation rules decide about."""
    rng = np.random.default_rng(seed)
    ts = rng.integers(0, 15, n) * 86_400.0
    ts[rng.random(n) < 0.1] = np.nan
    explicit = np.where(rng.random(n) < 0.05, rng.uniform(0.5, 3.0, n), np.nan)
    frame = pd.DataFrame(
        {
            C.USER_ID: [f"u{x}" for x in rng.integers(0, 40, n)],
            C.ITEM_ID: [f"i{x}" for x in rng.integers(0, 30, n)],
            C.TIMESTAMP: ts,
            C.EVENT: rng.choice(["view", "Purchase", "cart", "compare", None], n),
            C.WEIGHT: explicit,
        }
    )
    return RawData(interactions=frame, name="messy")


def assert_same_dataset(expected: Dataset, got: Dataset) -> None:
    assert got.user_map == expected.user_map
    assert got.item_map == expected.item_map
    a, b = expected.interactions, got.interactions
    assert list(b.columns) == list(a.columns)
    for column in a.columns:
        if column == C.EVENT:
            left, right = a[column], b[column]
            assert (left.isna().to_numpy() == right.isna().to_numpy()).all()
            assert (left.dropna().astype(str).to_numpy() == right.dropna().to_numpy()).all()
        else:
            # Weights: Java's pow and numpy's may differ in the last bit.
            np.testing.assert_allclose(
                b[column].to_numpy(float), a[column].to_numpy(float), rtol=1e-12, equal_nan=True
            )
    assert got.stats == expected.stats


@pytest.mark.parametrize("duplicates", ["first", "max"])
def test_prepare_and_split_equal_the_single_machine_code(spark, duplicates: str) -> None:  # type: ignore[no-untyped-def]
    raw = messy_log()
    # 4.3 days: a half-life of whole days makes exact ties (8 * 0.5**3.5 == 0.5**0.5) that
    # the last bit of Java's pow and numpy's may break either way.
    rule = EventWeights(unknown_events="skip", half_life_days=4.3)
    expected = Dataset.from_raw(raw, event_weights=rule, duplicates=duplicates)  # type: ignore[arg-type]
    got = prepare(spark, raw, event_weights=rule, duplicates=duplicates, split=True)  # type: ignore[arg-type]
    assert expected.stats is not None and expected.stats.n_duplicates_merged > 50
    assert expected.stats.n_unknown_events_skipped > 50
    assert_same_dataset(expected, got.dataset)
    masks = leave_one_out(expected)
    assert got.masks is not None
    for part in ("train", "valid", "test"):
        assert np.array_equal(getattr(got.masks, part), getattr(masks, part)), part
    assert got.masks.test.sum() > 20


@pytest.mark.slow
@pytest.mark.parametrize("duplicates", ["last", "sum", "keep"])
def test_other_pair_rules_equal_the_single_machine_code(spark, duplicates: str) -> None:  # type: ignore[no-untyped-def]
    raw = messy_log(seed=1)
    rule = EventWeights(unknown_weight=0.5)
    expected = Dataset.from_raw(raw, event_weights=rule, duplicates=duplicates)  # type: ignore[arg-type]
    got = prepare(spark, raw, event_weights=rule, duplicates=duplicates)  # type: ignore[arg-type]
    assert_same_dataset(expected, got.dataset)


def test_unknown_event_types_are_an_error_with_their_counts(spark) -> None:  # type: ignore[no-untyped-def]
    raw = messy_log()
    n_compare = int((raw.interactions[C.EVENT] == "compare").sum())
    with pytest.raises(ConfigError, match=f"'compare' x {n_compare}"):
        prepare(spark, raw)


def planted_log(seed: int = 3) -> RawData:
    """Two groups of users, each buying mostly from its own half of the catalogue."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(60):
        group = user % 2
        own = rng.choice(20, size=8, replace=False) + 20 * group
        other = rng.choice(20, size=1) + 20 * (1 - group)
        for t, item in enumerate(rng.permutation(np.r_[own, other])):
            rows.append((f"user{user}", f"item{item}", float(t)))
    frame = pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP])
    return RawData(interactions=frame, name="planted")


def test_spark_als_factors_solve_the_normal_equations_and_recover_groups(  # type: ignore[no-untyped-def]
    spark, tmp_path: Path
) -> None:
    from digirec.artifacts import save_bundle
    from digirec.models.spark_als import SparkALSModel

    prepared = prepare(spark, planted_log(), duplicates="first")
    dataset = prepared.dataset
    model = SparkALSModel(factors=6, iterations=5, regularization=0.05, alpha=4.0, n_blocks=2)
    model.fit(dataset)
    # Spark solves the users last in every iteration: its user factors are the exact solution
    # of the fold-in (Spark's confidence 1 + alpha*r and penalty reg * n_u) given its items.
    seen = dataset.user_item_matrix(binary=True)
    np.testing.assert_allclose(model.fold_in(seen), model.user_factors_, atol=1e-5)
    # With the wrong convention (implicit's) the same solve would not reproduce them.
    from digirec.models.als import als_fold_in

    other = als_fold_in(seen, model.item_factors_, 0.05, 4.0)
    assert np.abs(other - model.user_factors_).max() > 1e-2

    # The planted groups: each user's top 5 unseen items come from their own half.
    users = [f"user{u}" for u in range(60)]
    top = model.recommend(users, k=5)
    item_group = top[C.ITEM_ID].str.removeprefix("item").astype(int) // 20
    user_group = top[C.USER_ID].str.removeprefix("user").astype(int) % 2
    # Chance is 0.5 (half the catalogue is the user's own group).
    assert (item_group == user_group).mean() > 0.8

    # The bundle serves without pyspark: load it in a process where importing pyspark fails.
    bundle = save_bundle(model, dataset, tmp_path / "bundle")
    expected = model.recommend(users[:3], k=4)
    script = (
        "import sys, json; sys.modules['pyspark'] = None\n"
        "from digirec.artifacts import load_bundle\n"
        f"b = load_bundle({str(bundle)!r})\n"
        f"f = b.model.recommend({users[:3]!r}, k=4)\n"
        "print(json.dumps([f.item_id.tolist(), f.score.tolist()]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    items, scores = json.loads(out.stdout)
    assert items == expected[C.ITEM_ID].tolist()
    np.testing.assert_allclose(scores, expected[C.SCORE].to_numpy(), rtol=1e-6)


def test_cli_refuses_models_and_flags_the_engine_cannot_run() -> None:
    from digirec.cli import app

    runner = CliRunner()
    result = runner.invoke(
        app, ["train", "--data", "synth", "--engine", "spark", "--model", "ease"]
    )
    assert result.exit_code == 2
    assert "the spark engine trains als only, not ease" in result.output
    result = runner.invoke(app, ["train", "--data", "synth", "--spark-master", "local[2]"])
    assert result.exit_code == 2
    assert "needs --engine spark" in result.output
    result = runner.invoke(app, ["train", "--data", "synth", "--engine", "flink"])
    assert result.exit_code == 2
    assert "unknown engine 'flink'" in result.output
    result = runner.invoke(
        app, ["benchmark", "--data", "synth", "--engine", "spark", "--models", "als,sasrec"]
    )
    assert result.exit_code == 2
    assert "not sasrec" in result.output


# Six Spark ALS fits (train, its held-out evaluation, the benchmark's search and refit, the
# local reference): minutes on 2 cores, so it runs in .ci/run's slow Spark step.
@pytest.mark.slow
def test_cli_train_and_benchmark_on_spark(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from digirec.artifacts import load_bundle
    from digirec.cli import app
    from digirec.evaluation.benchmark import run_benchmark

    raw = planted_log()
    data = tmp_path / "log.csv"
    raw.interactions.to_csv(data, index=False)
    params = {"factors": 6, "iterations": 3, "n_blocks": 1}
    runner = CliRunner()
    bundle = tmp_path / "bundle"
    result = runner.invoke(
        app,
        ["train", "--data", str(data), "--engine", "spark", "--spark-master", "local[2]",
         "--model", "als", "--params", json.dumps(params), "--out", str(bundle)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    loaded = load_bundle(bundle)
    assert loaded.model.name == "spark-als"
    assert loaded.manifest["engine"]["name"] == "spark"
    assert loaded.model.n_users == 60 and loaded.model.n_items == 40
    recommend = runner.invoke(
        app, ["recommend", "--bundle", str(bundle), "--users", "user0,user1", "--k", "3"]
    )
    assert recommend.exit_code == 0, recommend.output
    assert "user1" in recommend.output

    out = tmp_path / "bench.json"
    result = runner.invoke(
        app,
        ["benchmark", "--data", str(data), "--engine", "spark", "--models", "als", "--no-tune",
         "--params", json.dumps({"als": params}), "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["engine"]["name"] == "spark"
    (entry,) = document["results"]
    assert entry["model"] == "spark-als"
    # The same protocol and metrics code as a local run on the same data and setting (Spark's
    # ALS is deterministic for a seed and a block count).
    from digirec.data.load import load_data

    local = Dataset.from_raw(load_data(str(data)), duplicates="first")
    reference = run_benchmark(local, ["spark-als"], tune=False, params={"spark-als": params})
    for metric in ("ndcg@10", "recall@10", "mrr@20", "coverage@10"):
        assert entry["test"][metric] == pytest.approx(reference["results"][0]["test"][metric])
    assert document["split"] == reference["split"]
