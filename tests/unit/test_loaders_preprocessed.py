"""Loaders of preprocessed research data sets: LC-Rec, ReChorus, MiniOneRec."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from loader_fixtures import assert_schema_error, write_text

from digirec.columns import (
    BRAND,
    CATEGORY,
    DESCRIPTION,
    ITEM_ID,
    SOURCE_ROW,
    TIMESTAMP,
    TITLE,
    USER_ID,
)
from digirec.data.load import detect_format, load_data
from digirec.exceptions import ConfigError, SchemaError

# ---------------------------------------------------------------------------------------------
# LC-Rec
# ---------------------------------------------------------------------------------------------


def _write_lcrec(directory: Path, inter: object, with_maps: bool = True) -> Path:
    write_text(directory / "Toys.inter.json", json.dumps(inter, indent=4))
    if with_maps:
        write_text(directory / "Toys.item2id", "B000A\t0\nB000B\t1\nB000C\t2\n")
        write_text(directory / "Toys.user2id", "AU1\t0\nAU2\t1\n")
    return directory


def test_lcrec_maps_to_original_ids_in_sequence_order(tmp_path: Path) -> None:
    _write_lcrec(tmp_path, {"0": [2, 0, 1], "1": [1, 2]})
    item_json = {
        "0": {"title": "A", "description": "Good.", "brand": "X", "categories": "Toys,Cars"},
        "2": {"title": "C", "description": "", "brand": "", "categories": ""},
    }
    write_text(tmp_path / "Toys.item.json", json.dumps(item_json))
    assert detect_format(tmp_path) == "lcrec"
    assert detect_format(tmp_path / "Toys.inter.json") == "lcrec"
    data = load_data(tmp_path)
    frame = data.interactions
    assert frame[USER_ID].tolist() == ["AU1"] * 3 + ["AU2"] * 2
    assert frame[ITEM_ID].tolist() == ["B000C", "B000A", "B000B", "B000B", "B000C"]
    assert frame[SOURCE_ROW].tolist() == [0, 1, 2, 3, 4]
    assert frame[TIMESTAMP].isna().all()
    items = data.items.set_index(ITEM_ID)
    assert items.loc["B000A", CATEGORY] == "Cars"
    assert items.loc["B000A", "category_path"] == "Toys > Cars"
    assert items.isna().loc["B000C", [BRAND, DESCRIPTION, CATEGORY]].all()
    assert data.name == "Toys"


def test_lcrec_without_maps_uses_indices(tmp_path: Path) -> None:
    _write_lcrec(tmp_path, {"0": [5, 6]}, with_maps=False)
    data = load_data(tmp_path / "Toys.inter.json")
    assert data.interactions[ITEM_ID].tolist() == ["5", "6"]
    assert data.interactions[USER_ID].tolist() == ["0", "0"]


def test_lcrec_unknown_index_and_bad_element(tmp_path: Path) -> None:
    _write_lcrec(tmp_path, {"0": [0, 1], "1": [2, 9, "x"]})
    inter = tmp_path / "Toys.inter.json"
    with pytest.raises(SchemaError) as excinfo:
        load_data(tmp_path)
    assert_schema_error(excinfo, inter, 2, "1")
    assert "item index 9 is not in Toys.item2id" in str(excinfo.value)
    data = load_data(tmp_path, on_bad_rows="skip")
    assert data.interactions[ITEM_ID].tolist() == ["B000A", "B000B", "B000C"]
    reasons = [s.reason for s in data.report.skipped]
    assert reasons == [
        "item index 9 is not in Toys.item2id (list position 2)",
        "cannot parse 'x' as an integer index (list position 3)",
    ]


def test_lcrec_bad_map_line_and_bad_json(tmp_path: Path) -> None:
    _write_lcrec(tmp_path, {"0": [0]})
    write_text(tmp_path / "Toys.item2id", "B000A\t0\nB000B\tone\n")
    with pytest.raises(SchemaError) as excinfo:
        load_data(tmp_path)
    assert_schema_error(excinfo, tmp_path / "Toys.item2id", 2, "idx")
    write_text(tmp_path / "Toys.item2id", "B000A\t0\n")
    write_text(tmp_path / "Toys.inter.json", "{not json")
    with pytest.raises(SchemaError) as excinfo:
        load_data(tmp_path, format="lcrec")
    assert excinfo.value.file == str(tmp_path / "Toys.inter.json")
    with pytest.raises(ConfigError):
        load_data(tmp_path, format="lcrec", users=tmp_path / "Toys.user2id")


# ---------------------------------------------------------------------------------------------
# ReChorus
# ---------------------------------------------------------------------------------------------

TRAIN = "user_id\titem_id\ttime\n1\t10\t1000\n2\t11\t1000\n1\t12\t1001\n"
DEV = "user_id\titem_id\ttime\tneg_items\n1\t13\t1002\t[5, 6]\n"
TEST = "user_id\titem_id\ttime\tneg_items\n1\t14\t1003\t[7, 8]\n"
META = "item_id\tcategory\tr_complement\tr_substitute\n10\t4\t[11, 12]\t[]\n11\t0\t[]\t[10]\n"


def test_rechorus_reads_splits_in_order_and_meta_lists(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", TRAIN)
    write_text(tmp_path / "dev.csv", DEV)
    write_text(tmp_path / "test.csv", TEST)
    write_text(tmp_path / "item_meta.csv", META)
    assert detect_format(tmp_path) == "rechorus"
    data = load_data(tmp_path)
    frame = data.interactions
    assert frame[ITEM_ID].tolist() == ["10", "11", "12", "13", "14"]
    assert frame[TIMESTAMP].tolist() == [1000.0, 1000.0, 1001.0, 1002.0, 1003.0]
    assert "neg_items" not in frame.columns
    items = data.items
    assert items["also_bought"].tolist() == [["11", "12"], []]
    assert items["also_viewed"].tolist() == [[], ["10"]]
    assert items[CATEGORY].iloc[0] == "4" and np.isnan(items[CATEGORY].iloc[1])  # 0 = unknown


def test_rechorus_bad_time_and_bad_list(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", TRAIN.replace("1001", "later"))
    with pytest.raises(SchemaError) as excinfo:
        load_data(tmp_path, format="rechorus")
    assert_schema_error(excinfo, tmp_path / "train.csv", 3, "time")
    write_text(tmp_path / "train.csv", TRAIN)
    write_text(tmp_path / "item_meta.csv", META.replace("[11, 12]", "[11, 12"))
    with pytest.raises(SchemaError) as excinfo:
        load_data(tmp_path)
    assert_schema_error(excinfo, tmp_path / "item_meta.csv", 1, "r_complement")
    data = load_data(tmp_path, on_bad_rows="skip")
    assert data.items[ITEM_ID].tolist() == ["11"]
    assert data.report.skipped[0].field == "r_complement"


# ---------------------------------------------------------------------------------------------
# MiniOneRec
# ---------------------------------------------------------------------------------------------

HEADER = "user_id,history_item_title,item_title,history_item_id,item_id,history_item_sid,item_sid\n"


def _row(user: str, history: list[int], target: int) -> str:
    titles = str([f"t{h}" for h in history]).replace('"', "'")
    sids = str([f"<a_{h}>" for h in history])
    return f'{user},"{titles}",t{target},"{history}",{target},"{sids}",<a_{target}>\n'


def _write_minionerec(directory: Path, valid_extra: str = "") -> Path:
    items = {
        "0": {"title": "Pen", "description": "['Blue ink.', '']", "brand": "BIC", "categories": ""},
        "1": {"title": "Tape", "description": "plain text", "brand": "", "categories": ""},
        "2": {"title": "Ink", "description": "['', '']", "brand": "HP", "categories": ""},
    }
    write_text(directory / "Office.item.json", json.dumps(items, indent=2))
    valid = HEADER + _row("A1", [0, 1], 2) + _row("A1", [0, 1, 2], 3) + _row("B2", [2], 0)
    write_text(directory / "Office.valid.csv", valid + valid_extra)
    # A1 continues in test; B2's test history does not continue its sequence.
    test = HEADER + _row("A1", [1, 2, 3], 4) + _row("B2", [7], 1)
    write_text(directory / "Office.test.csv", test)
    return directory


def test_minionerec_rebuilds_sequences(tmp_path: Path) -> None:
    _write_minionerec(tmp_path)
    assert detect_format(tmp_path) == "minionerec"
    data = load_data(tmp_path)
    frame = data.interactions
    a1 = frame.loc[frame[USER_ID] == "A1", ITEM_ID].tolist()
    b2 = frame.loc[frame[USER_ID] == "B2", ITEM_ID].tolist()
    assert a1 == ["0", "1", "2", "3", "4"]
    assert b2 == ["2", "0", "1"]
    assert frame[SOURCE_ROW].tolist() == list(range(8))
    assert frame[TIMESTAMP].isna().all()
    assert any("does not continue" in n for n in data.report.notes)
    rows = data.extras["rows"]
    assert rows.columns.tolist() == ["split", USER_ID, "history", ITEM_ID]
    assert rows["split"].tolist() == ["valid"] * 3 + ["test"] * 2
    assert rows["history"].iloc[0] == ["0", "1"]
    items = data.items.set_index(ITEM_ID)
    assert items.loc["0", DESCRIPTION] == "Blue ink."
    assert items.loc["1", DESCRIPTION] == "plain text"
    assert items.isna().loc["2", DESCRIPTION] and items.isna().loc["1", BRAND]
    assert items[CATEGORY].isna().all()
    assert items.loc["0", TITLE] == "Pen"
    assert data.name == "Office"


def test_minionerec_bad_history(tmp_path: Path) -> None:
    bad = 'C3,"[]",t1,"[1, 2",1,"[]",<a_1>\n'
    _write_minionerec(tmp_path, valid_extra=bad)
    valid = tmp_path / "Office.valid.csv"
    with pytest.raises(SchemaError) as excinfo:
        load_data(tmp_path)
    assert_schema_error(excinfo, valid, 4, "history_item_id")
    data = load_data(tmp_path, on_bad_rows="skip")
    assert "C3" not in set(data.interactions[USER_ID])
    assert [(s.row, s.field) for s in data.report.skipped] == [(4, "history_item_id")]
