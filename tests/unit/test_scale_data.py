"""The out-of-core data path: block-wise synthetic shop, chunked loaders, ``digirec info``.

Each test compares the chunked / block-wise result with a second computation: the whole-file
read, the in-memory generator, hand-placed bad rows, or the exact sampler.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from digirec.cli import app
from digirec.data import synth
from digirec.data.formats import chunked
from digirec.data.load import load_data
from digirec.data.synth import SynthConfig, generate_shop, write_shop, write_synthetic_shop
from digirec.exceptions import ConfigError, SchemaError

SMALL = SynthConfig(n_users=300, n_items=150, n_days=60)
runner = CliRunner()


# --------------------------------------------------------------------------------------------
# Synthetic shop written block by block
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_streamed_small_shop_is_byte_identical_to_write_shop(fmt: str, tmp_path: Path) -> None:
    written = write_synthetic_shop(SMALL, tmp_path / "a", fmt)  # type: ignore[arg-type]
    reference = write_shop(generate_shop(SMALL), tmp_path / "b", fmt)  # type: ignore[arg-type]
    for name, path in reference.items():
        assert written.paths[name].read_bytes() == path.read_bytes(), name
    assert written.n_events == len(generate_shop(SMALL).interactions)


def test_blocks_of_users_keep_the_log_consistent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(synth, "USERS_PER_CHUNK", 100)
    cfg = SynthConfig(n_users=250, n_items=150, n_days=60)
    shop = generate_shop(cfg)
    log = shop.interactions
    assert shop.users is not None and len(shop.users) == 250
    np.testing.assert_array_equal(log["source_row"], np.arange(len(log)))
    # Rows come block by block: users 0-99, then 100-199, then 200-249.
    block = log["user_id"].str[1:].astype(int).to_numpy() // 100
    assert (np.diff(block) >= 0).all() and set(block) == {0, 1, 2}
    # Inside a block rows are in time order, and every user's timestamps strictly increase.
    for b in range(3):
        assert (np.diff(log["timestamp"].to_numpy()[block == b]) >= 0).all()
    assert log.groupby("user_id")["timestamp"].apply(lambda t: t.diff().dropna().gt(0).all()).all()
    pd.testing.assert_frame_equal(generate_shop(cfg).interactions, log)  # seeded

    written = write_synthetic_shop(cfg, tmp_path, "parquet")
    assert pq.ParquetFile(written.paths["interactions"]).num_row_groups == 3
    back = pd.read_parquet(written.paths["interactions"])
    expected = log.drop(columns="source_row")
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)


def test_n_events_sets_the_sessions_per_user() -> None:
    cfg = SynthConfig(n_users=600, n_items=200, n_days=60)
    shop = generate_shop(cfg, n_events=20_000)
    # The pilot measures events per session; the log lands near the target.
    assert abs(len(shop.interactions) - 20_000) < 0.1 * 20_000
    recorded = shop.extras["config"]
    assert isinstance(recorded, dict)
    sessions = float(recorded["mean_sessions_per_user"])
    assert sessions != cfg.mean_sessions_per_user
    # Recorded config reproduces the same shop without n_events.
    again = generate_shop(SynthConfig(**recorded))
    pd.testing.assert_frame_equal(again.interactions, shop.interactions)
    assert synth.calibrate_sessions(cfg, 20_000).mean_sessions_per_user == sessions


def test_too_few_events_for_the_users_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"n_events=100 is too few for 600 users"):
        generate_shop(SynthConfig(n_users=600, n_items=200), n_events=100)


def _structure(shop_cfg: SynthConfig) -> dict[str, float]:
    """Within-budget share of purchases and preferred-brand share of views."""
    shop = generate_shop(shop_cfg)
    assert shop.items is not None and shop.users is not None
    log = shop.interactions.merge(shop.items[["item_id", "price", "brand"]], on="item_id")
    log = log.merge(shop.users[["user_id", "budget", "preferred_brands"]], on="user_id")
    buys = log[log["event"] == "purchase"]
    views = log[log["event"] == "view"]
    preferred = np.array(
        [
            b in str(p).split("|")
            for b, p in zip(views["brand"], views["preferred_brands"], strict=True)
        ]
    )
    shuffled = np.random.default_rng(0).permutation(buys["budget"].to_numpy())
    return {
        "within": float((buys["price"] <= buys["budget"]).mean()),
        "within_shuffled": float((buys["price"].to_numpy() <= shuffled).mean()),
        "preferred": float(preferred.mean()),
    }


def test_candidate_sampler_of_large_categories_keeps_the_planted_structure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = SynthConfig(n_users=1500, n_items=600, n_days=60)
    exact = _structure(cfg)
    # Every category of more than 16 items now goes through the candidate sampler.
    monkeypatch.setattr(synth, "_EXACT_POOL", 16)
    sampled = _structure(cfg)
    assert sampled["within"] > sampled["within_shuffled"] + 0.1
    assert abs(sampled["within"] - exact["within"]) < 0.08
    assert abs(sampled["preferred"] - exact["preferred"]) < 0.08
    assert sampled["preferred"] > 0.4


# --------------------------------------------------------------------------------------------
# Chunked loaders
# --------------------------------------------------------------------------------------------

CSV_ROWS = [f"u{i % 5},i{i % 7},{1_700_000_000 + i},view,{i % 3}" for i in range(30)]


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text("user_id,item_id,timestamp,event,weight\n" + "\n".join(rows) + "\n")
    return path


def _load_both(
    monkeypatch: pytest.MonkeyPatch, path: Path, on_bad_rows: str = "error"
) -> tuple[object, object]:
    whole = load_data(path, on_bad_rows=on_bad_rows)  # type: ignore[arg-type]
    monkeypatch.setattr(chunked, "CHUNK_ROWS", 7)
    parts = load_data(path, on_bad_rows=on_bad_rows)  # type: ignore[arg-type]
    return whole, parts


def test_chunked_csv_equals_a_whole_file_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rows = list(CSV_ROWS)
    rows[6] = ""  # a blank line right at a chunk edge
    rows[9] = 'u1,"i\nwith a newline",1700000009,view,1'  # a quoted cell over two lines
    rows[15] = "u2,i3"  # a short line: a bad row
    rows[22] = ",i1,1700000022,view,1"  # empty user id
    path = _csv(tmp_path / "interactions.csv", rows)
    whole, parts = _load_both(monkeypatch, path, "skip")
    pd.testing.assert_frame_equal(parts.interactions, whole.interactions)  # type: ignore[attr-defined]
    skipped = [(s.row, s.field) for s in parts.report.skipped]  # type: ignore[attr-defined]
    assert skipped == [(s.row, s.field) for s in whole.report.skipped]  # type: ignore[attr-defined]
    # Data rows: the quoted cell spans lines 10-11 but is one record (row 10), so the short
    # line (file line 17) is record 16 and the empty id (line 24) is record 23.
    assert [row for row, _ in skipped] == [16, 23]
    assert parts.interactions["item_id"].tolist().count("i\nwith a newline") == 1  # type: ignore[attr-defined]
    assert len(parts.interactions) == 30 - 1 - 2  # type: ignore[attr-defined]


def test_chunked_csv_reports_the_first_bad_row_of_a_later_chunk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rows = list(CSV_ROWS)
    rows[25] = "u1,i2,not-a-time,view,1"
    path = _csv(tmp_path / "interactions.csv", rows)
    monkeypatch.setattr(chunked, "CHUNK_ROWS", 7)
    with pytest.raises(SchemaError) as caught:
        load_data(path)
    assert (caught.value.row, caught.value.field) == (26, "timestamp")
    assert caught.value.file == str(path)


def test_chunked_parquet_equals_a_whole_file_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    frame = pd.DataFrame(
        {
            "user_id": [f"u{i % 5}" for i in range(30)],
            "item_id": [f"i{i % 7}" for i in range(30)],
            "timestamp": np.arange(30, dtype=np.float64) + 1.7e9,
            "weight": np.where(np.arange(30) == 18, -1.0, 1.0),
            "channel": ["web", "app", "web"] * 10,
        }
    )
    path = tmp_path / "interactions.parquet"
    frame.to_parquet(path, row_group_size=4)
    whole, parts = _load_both(monkeypatch, path, "skip")
    pd.testing.assert_frame_equal(parts.interactions, whole.interactions)  # type: ignore[attr-defined]
    assert [s.row for s in parts.report.skipped] == [19]  # type: ignore[attr-defined]
    assert parts.report.n_rows_read == 30  # type: ignore[attr-defined]
    with pytest.raises(SchemaError) as caught:
        load_data(path)
    assert (caught.value.row, caught.value.field) == (19, "weight")


def test_synthetic_shop_loads_the_same_in_chunks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_synthetic_shop(SMALL, tmp_path, "parquet")
    whole, parts = _load_both(monkeypatch, tmp_path)
    monkeypatch.setattr(chunked, "CHUNK_ROWS", 1000)
    pd.testing.assert_frame_equal(parts.interactions, whole.interactions)  # type: ignore[attr-defined]
    expected = generate_shop(SMALL).interactions
    np.testing.assert_array_equal(
        whole.interactions["user_id"].to_numpy(dtype=object),  # type: ignore[attr-defined]
        expected["user_id"].to_numpy(dtype=object),
    )


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def test_cli_synth_with_n_events_then_info_reports_memory(tmp_path: Path) -> None:
    out = tmp_path / "shop"
    result = runner.invoke(
        app,
        ["synth", "--out", str(out), "--n-users", "300", "--n-items", "100", "--n-events",
         "9000", "--file-format", "parquet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (out / "interactions.parquet").is_file()
    n_rows = len(pd.read_parquet(out / "interactions.parquet"))
    assert f"events         {n_rows} " in result.output
    assert abs(n_rows - 9000) < 900
    info = runner.invoke(app, ["info", "--data", str(out), "--json"])
    assert info.exit_code == 0, info.output
    stats = json.loads(info.output)
    assert stats["peak_rss_mb"] > 10.0
    assert stats["seconds"]["load"] >= 0.0


def test_cli_synth_rejects_an_unknown_file_format(tmp_path: Path) -> None:
    result = runner.invoke(app, ["synth", "--out", str(tmp_path), "--file-format", "xlsx"])
    assert result.exit_code == 2
    assert "--file-format" in result.output
