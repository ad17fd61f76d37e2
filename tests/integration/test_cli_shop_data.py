"""Issue 9 through the real entry point: every event counts, nothing is silent, exit code 2.

``digirec.cli.main`` is what the ``digirec`` script runs: digirec errors become one line and
exit status 2, typer's usage errors exit 2 as well. Each test below is a case from the issue.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from digirec.cli import main

STDOUT: dict[str, str] = {}


def cli(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    """Run ``digirec ARGS`` as the console script does; return (exit code, stdout + stderr).

    The last run's stdout alone is kept in ``STDOUT["out"]`` (for ``--json`` output).
    """
    monkeypatch.setattr(sys, "argv", ["digirec", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    STDOUT["out"] = captured.out
    return code, captured.out + captured.err


def last_json() -> object:
    return json.loads(STDOUT["out"])


def shop_csv(tmp_path: Path, n_users: int = 40, extra_event: str | None = None) -> Path:
    """Views, clicks and purchases of two planted segments; every user buys twice."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(n_users):
        prefix = "p" if u % 2 == 0 else "h"
        t = 1_700_000_000
        for i in rng.choice(10, size=6, replace=False):
            rows.append((f"user{u}", f"{prefix}{i}", t, "view"))
            t += 60
            if i % 3 == 0:
                rows.append((f"user{u}", f"{prefix}{i}", t, "purchase"))
                t += 60
        if extra_event:
            rows.append((f"user{u}", f"{prefix}0", t, extra_event))
    folder = tmp_path / "shop"
    folder.mkdir()
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event"]).to_csv(
        folder / "interactions.csv", index=False
    )
    items = pd.DataFrame(
        {
            "item_id": [f"p{i}" for i in range(10)] + [f"h{i}" for i in range(10)] + ["new1"],
            "category": ["Phones"] * 10 + ["Headphones"] * 10 + ["Phones"],
            "brand": ["Acme", "Zeta"] * 10 + ["Acme"],
            "price": [100.0 + i for i in range(20)] + [99.0],
        }
    )
    items.to_csv(folder / "items.csv", index=False)
    return folder


# ------------------------------------------------------------------ 1. event semantics
def test_info_on_the_synthetic_shop_keeps_the_purchases(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from digirec.data.synth import generate_shop

    events = generate_shop().interactions
    bought_pairs = len(
        events.loc[events["event"] == "purchase", ["user_id", "item_id"]].drop_duplicates()
    )
    code, out = cli(["info", "--data", "synth", "--json"], capsys, monkeypatch)
    assert code == 0, out
    info = last_json()
    # Before: events view=31485 and no purchase at all (first occurrence of each pair).
    assert info["raw_events"]["purchase"] == int((events["event"] == "purchase").sum())
    assert info["events"]["purchase"] == bought_pairs
    assert info["duplicates_policy"] == "max"
    code, out = cli(
        ["info", "--data", "synth", "--json", "--duplicates", "first"], capsys, monkeypatch
    )
    assert "purchase" not in last_json()["events"]


def test_unknown_event_types_on_info_and_benchmark(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    data = shop_csv(tmp_path, extra_event="share")
    code, out = cli(["info", "--data", str(data)], capsys, monkeypatch)
    assert code == 2 and "'share' x 40" in out and "Traceback" not in out
    code, out = cli(
        ["info", "--data", str(data), "--json", "--event-weights", '{"share": 2}'],
        capsys,
        monkeypatch,
    )
    assert code == 0, out
    code, out = cli(
        ["info", "--data", str(data), "--json", "--unknown-events", "skip"], capsys, monkeypatch
    )
    assert code == 0, out
    info = last_json()
    assert info["n_unknown_events_skipped"] == 40 and info["skipped_events"] == {"share": 40}
    assert "skipped 40 event(s) without a weight" in out
    bench = tmp_path / "b.json"
    code, out = cli(
        ["benchmark", "--data", str(data), "--models", "pop", "--no-tune", "--out", str(bench),
         "--event-weights", '{"share": 0.5}', "--duplicates", "max"],
        capsys, monkeypatch,
    )  # fmt: skip
    assert code == 0, out
    doc = json.loads(bench.read_text())
    recorded = doc["provenance"]["input"]
    assert recorded["duplicates"] == "max"
    assert recorded["event_weights"]["weights"]["share"] == 0.5
    assert recorded["event_weights"]["weights"]["purchase"] == 8.0  # merged, not replaced
    code, out = cli(
        ["info", "--data", str(data), "--unknown-events", "weight=x"], capsys, monkeypatch
    )
    assert code == 2 and "weight=W" in out


def test_als_weighted_scores_follow_event_weights_through_train(
    tmp_path, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The event weights act by default (binary=False); {"binary": true} ignores them."""
    data = shop_csv(tmp_path)
    scores: dict[tuple[str, int], np.ndarray] = {}
    for binary in ("", ', "binary": true'):
        for purchase in (50, 1):
            bundle = tmp_path / f"als{purchase}{bool(binary)}"
            code, out = cli(
                ["train", "--data", str(data), "--model", "als", "--out", str(bundle),
                 "--params", '{"factors": 8, "iterations": 5' + binary + "}",
                 "--event-weights", json.dumps({"purchase": purchase})],
                capsys, monkeypatch,
            )  # fmt: skip
            assert code == 0, out
            manifest = json.loads((bundle / "manifest.json").read_text())
            assert manifest["training"]["duplicates"] == "max"
            assert manifest["training"]["event_weights"]["weights"]["purchase"] == purchase
            config = json.loads((bundle / "model" / "model.json").read_text())["config"]
            assert config["binary"] is bool(binary)
            code, out = cli(
                ["recommend", "--bundle", str(bundle), "--users", "user0,user1", "--json"],
                capsys,
                monkeypatch,
            )
            assert code == 0, out
            scores[(binary, purchase)] = pd.DataFrame(last_json())["score"].to_numpy()
    assert not np.allclose(scores[("", 50)], scores[("", 1)])
    binary = ', "binary": true'
    np.testing.assert_array_equal(scores[(binary, 50)], scores[(binary, 1)])


# ------------------------------------------------------------------ 5. no silent no-op
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ('{"lambda": 5}', "'lambda' is not a model"),
        ('{"eas": {"lambda": 5}}', "did you mean 'ease'"),
        ('{"als": {"factors": 8}}', "not in this run"),
        ("[1, 2]", "keyed by model"),
    ],
)
def test_benchmark_params_must_name_models_of_the_run(
    tmp_path, capsys, monkeypatch, params: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    data = shop_csv(tmp_path)
    code, out = cli(
        ["benchmark", "--data", str(data), "--models", "pop,ease", "--no-tune", "--params", params],
        capsys,
        monkeypatch,
    )
    assert code == 2 and message in out, out


def test_grid_with_no_tune_is_refused(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    data = shop_csv(tmp_path)
    code, out = cli(
        ["benchmark", "--data", str(data), "--models", "ease", "--no-tune",
         "--grid", '{"ease": {"lambda": [1, 50]}}'],
        capsys, monkeypatch,
    )  # fmt: skip
    assert code == 2 and "--grid has no effect with --no-tune" in out


@pytest.mark.parametrize("command", ["benchmark", "train"])
def test_header_only_csv_refuses_to_train(tmp_path, capsys, monkeypatch, command: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "empty.csv"
    path.write_text("user_id,item_id,timestamp\n")
    extra = ["--models", "pop"] if command == "benchmark" else ["--out", str(tmp_path / "b")]
    code, out = cli([command, "--data", str(path), *extra], capsys, monkeypatch)
    assert code == 2 and "no interactions to train on" in out and "empty.csv" in out
    assert "Traceback" not in out
    assert not (tmp_path / "b").exists()


@pytest.fixture
def bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Path:
    data = shop_csv(tmp_path)
    out = tmp_path / "bundle"
    code, text = cli(
        ["train", "--data", str(data), "--model", "itemknn", "--out", str(out)], capsys, monkeypatch
    )
    assert code == 0, text
    return out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--users", ""], "names no user id"),
        (["--users", " , "], "names no user id"),
        (["--users", "user0", "--category", "Phone"], "did you mean 'Phones'"),
        (["--users", "user0", "--brand", "Nope"], "unknown brand"),
        (["--users", "user0", "--min-price", "500", "--max-price", "100"], "above --max-price"),
        (["--users", "user0", "--min-price", "-1"], "must be >= 0"),
    ],
)
def test_recommend_refuses_filters_that_cannot_mean_anything(
    bundle, capsys, monkeypatch, args: list[str], message: str
) -> None:  # type: ignore[no-untyped-def]
    code, out = cli(["recommend", "--bundle", str(bundle), *args], capsys, monkeypatch)
    assert code == 2 and message in out, out
    assert "no items qualify" not in out


def test_similar_on_an_item_without_interactions_is_an_error(bundle, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # "new1" is in the catalogue (train indexes catalogue items) but nobody touched it.
    code, out = cli(["similar", "--bundle", str(bundle), "--items", "new1"], capsys, monkeypatch)
    assert code == 2 and "without training interactions" in out and "'new1'" in out
    code, out = cli(
        ["similar", "--bundle", str(bundle), "--items", "p1", "--k", "3"], capsys, monkeypatch
    )
    assert code == 0 and "similar_item_id" in out


def test_binary_content_read_as_csv_is_named(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    frame = pd.DataFrame({"user_id": ["u", "v"], "item_id": ["i", "j"]})
    parquet = tmp_path / "events.csv"
    frame.to_parquet(parquet)
    code, out = cli(["info", "--data", str(parquet)], capsys, monkeypatch)
    assert code == 2 and "Parquet" in out and "--format parquet" in out
    packed = tmp_path / "packed.csv"
    packed.write_bytes(gzip.compress(b"user_id,item_id\nu,i\n"))
    code, out = cli(["info", "--data", str(packed), "--json"], capsys, monkeypatch)
    assert code == 0 and "gzip" in out


def test_sep_and_encoding_options(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "events.csv"
    path.write_bytes("user_id;item_id\nmüller;i\nmüller;j\n".encode("cp1252"))
    code, out = cli(["info", "--data", str(path)], capsys, monkeypatch)
    assert code == 2 and "decode" in out
    code, out = cli(
        ["info", "--data", str(path), "--sep", ";", "--encoding", "cp1252", "--json"],
        capsys,
        monkeypatch,
    )
    assert code == 0, out
    assert last_json()["n_users"] == 1


def test_short_row_is_an_error_with_its_row(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,timestamp\nu,i,100\nv,j\n")
    code, out = cli(["info", "--data", str(path)], capsys, monkeypatch)
    assert code == 2 and "row 2" in out and "1 field" not in out and "2 field(s), expected 3" in out


# ------------------------------------------------------------------ 6. provenance
def test_benchmark_json_records_its_provenance(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    data = shop_csv(tmp_path)
    out = tmp_path / "r.json"
    code, text = cli(
        ["benchmark", "--data", str(data), "--models", "pop", "--no-tune", "--out", str(out)],
        capsys,
        monkeypatch,
    )
    assert code == 0, text
    prov = json.loads(out.read_text())["provenance"]
    assert prov["input"]["path"] == str(data) and prov["input"]["format"] == "csv"
    n_lines = len((data / "interactions.csv").read_text().splitlines()) - 1
    # Rows of every file read: the events and the 21 catalogue rows.
    assert prov["input"]["n_rows_read"] == n_lines + 21
    assert prov["input"]["n_interactions_raw"] == n_lines
    assert prov["input"]["n_rows_skipped"] == 0 and prov["input"]["duplicates"] == "first"
    for key in ("n_rows_read", "n_rows_skipped", "n_duplicates_merged", "n_interactions_kept"):
        assert type(prov["input"][key]) is int
    assert prov["command"].startswith("digirec benchmark --data")
    assert prov["digirec_version"] and prov["created_at"].endswith("+00:00")
    assert type(prov["machine"]["cpu_count"]) is int


def test_learning_curve_takes_the_benchmark_data_flags(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """learning-curve reads the data as benchmark does (data_flags / load_dataset) and
    records the flags and the load in its JSON."""
    folder = shop_csv(tmp_path, extra_event="share")
    frame = pd.read_csv(folder / "interactions.csv")
    frame["user_id"] = frame["user_id"].str.replace("user", "müller")
    path = tmp_path / "events.csv"
    path.write_bytes(frame.to_csv(sep=";", index=False).encode("cp1252"))
    out = tmp_path / "lc.json"
    base = ["learning-curve", "--data", str(path), "--models", "pop,itemknn", "--fractions",
            "0.5,1", "--no-tune", "--out", str(out)]  # fmt: skip
    code, text = cli(base, capsys, monkeypatch)
    assert code == 2 and "decode" in text and "Traceback" not in text
    flags = ["--sep", ";", "--encoding", "cp1252"]
    code, text = cli([*base, *flags], capsys, monkeypatch)
    assert code == 2 and "'share' x 40" in text and "Traceback" not in text
    code, text = cli(
        [*base, *flags, "--unknown-events", "skip", "--event-weights", '{"purchase": 20}',
         "--duplicates", "max", "--half-life-days", "30", "--format", "csv"],
        capsys, monkeypatch,
    )  # fmt: skip
    assert code == 0, text
    assert "skipped 40 event(s) without a weight" in text
    assert "--duplicates max weights a training pair" in text  # the leak note of benchmark
    doc = json.loads(out.read_text())
    assert doc["protocol"] == "learning-curve"
    recorded = doc["provenance"]["input"]
    assert recorded["path"] == str(path) and recorded["format"] == "csv"
    assert recorded["duplicates"] == "max" and recorded["n_unknown_events_skipped"] == 40
    assert recorded["event_weights"]["weights"]["purchase"] == 20.0
    assert recorded["event_weights"]["weights"]["view"] == 1.0  # merged with the defaults
    assert recorded["event_weights"]["half_life_days"] == 30.0
    assert recorded["event_weights"]["unknown_events"] == "skip"
    assert doc["provenance"]["command"].startswith("digirec learning-curve --data")
    assert type(recorded["n_interactions_kept"]) is int
    # Without flags the benchmark's rule: a pair's first occurrence.
    code, text = cli([*base, *flags, "--unknown-events", "skip"], capsys, monkeypatch)
    assert code == 0, text
    assert json.loads(out.read_text())["provenance"]["input"]["duplicates"] == "first"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--params", '{"lambda": 5}'], "'lambda' is not a model"),
        (["--params", '{"eas": {"lambda": 5}}'], "did you mean 'ease'"),
        (["--grid", '{"ease": {"lambda": [5]}}', "--no-tune"], "no effect with --no-tune"),
        (["--duplicates", "keep"], "--duplicates"),
    ],
)
def test_learning_curve_refuses_silent_no_ops(  # type: ignore[no-untyped-def]
    tmp_path, capsys, monkeypatch, extra, message
) -> None:
    data = shop_csv(tmp_path)
    code, text = cli(
        ["learning-curve", "--data", str(data), "--models", "pop,ease", *extra], capsys, monkeypatch
    )
    assert code == 2 and message in text and "Traceback" not in text


# ------------------------------------------------------------------ 2. next purchase (CLI)
def test_benchmark_target_event_purchase(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    data = shop_csv(tmp_path)
    out = tmp_path / "np.json"
    code, text = cli(
        ["benchmark", "--data", str(data), "--models", "pop,itemknn", "--target-event", "purchase",
         "--grid", '{"itemknn": {"n_neighbors": [5, 20]}}', "--out", str(out)],
        capsys, monkeypatch,
    )  # fmt: skip
    assert code == 0, text
    doc = json.loads(out.read_text())
    assert doc["protocol"] == "next-purchase" and doc["target_event"] == "purchase"
    assert {(r["model"], r["arm"]) for r in doc["results"]} == {
        ("pop", "as-configured"),
        ("itemknn", "weighted"),
        ("itemknn", "binary"),
    }
    (comparison,) = doc["comparisons"]
    assert (
        comparison["model"] == "itemknn"
        and "ci95" in comparison["weighted_minus_binary"]["ndcg@10"]
    )
    assert doc["provenance"]["input"]["duplicates"] == "max"
    code, text = cli(
        ["benchmark", "--data", str(data), "--target-event", "purchase",
         "--protocol", "cold-items"],
        capsys, monkeypatch,
    )  # fmt: skip
    assert code == 2 and "does not combine" in text
