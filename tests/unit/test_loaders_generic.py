"""Generic csv / parquet / jsonl loaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from loader_fixtures import assert_schema_error, json_lines, write_lines, write_text

from digirec.columns import (
    EVENT,
    IN_STOCK,
    ITEM_ID,
    PRICE,
    RATING,
    SOURCE_ROW,
    TIMESTAMP,
    USER_ID,
    WEIGHT,
)
from digirec.data.load import load_data
from digirec.data.tables import SkippedRow
from digirec.exceptions import ConfigError, SchemaError

INTERACTIONS_CSV = """user_id,item_id,timestamp,event,rating,weight
007,A1,1400000000,VIEW,,1
007,A2,2014-05-14T10:00:00Z,purchase,5,
u2,A1,1400000001,wishlist,4.5,2
u2,A9,1400000001,view,,
"""

ITEMS_CSV = """item_id,title,brand,price,in_stock,screen_size,sku
A1,Phone X,Acme,$499.00,true,6.1,0012
A2,Case,,12.99,false,,0013
A3,Cable,Acme,,yes,,0014
"""


def test_csv_file_keeps_ids_as_text_and_types_columns(tmp_path: Path) -> None:
    path = write_text(tmp_path / "events.csv", INTERACTIONS_CSV)
    data = load_data(path)
    frame = data.interactions
    assert frame[USER_ID].tolist() == ["007", "007", "u2", "u2"]
    assert all(isinstance(v, str) for v in frame[ITEM_ID])
    assert frame[TIMESTAMP].iloc[1] == pd.Timestamp("2014-05-14T10:00:00Z").timestamp()
    assert frame[EVENT].tolist() == ["view", "purchase", "wishlist", "view"]  # unknown kept
    assert np.isnan(frame[RATING].iloc[0]) and frame[RATING].iloc[2] == 4.5
    assert frame[WEIGHT].dtype == np.float64
    assert frame[SOURCE_ROW].tolist() == [0, 1, 2, 3]
    assert data.items is None and data.users is None
    assert data.name == "events"
    assert data.report.n_rows_read == 4 and data.report.files == [str(path)]


def test_minimal_header_user_item_timestamp(tmp_path: Path) -> None:
    path = write_text(tmp_path / "x.csv", "user_id,item_id,timestamp\n1,2,3\n1,2,3\n")
    frame = load_data(path, format="csv").interactions
    assert len(frame) == 2  # duplicates kept
    assert frame.columns.tolist() == [USER_ID, ITEM_ID, TIMESTAMP, SOURCE_ROW]


def test_csv_directory_with_items_and_users(tmp_path: Path) -> None:
    write_text(tmp_path / "interactions.csv", INTERACTIONS_CSV)
    write_text(tmp_path / "items.csv", ITEMS_CSV)
    write_text(tmp_path / "users.csv", "user_id,zip,age\n007,02139,30\nu2,94043,41\n")
    data = load_data(tmp_path)
    items = data.items
    assert items is not None
    assert items[PRICE].tolist()[:2] == [499.0, 12.99] and np.isnan(items[PRICE].iloc[2])
    assert items[IN_STOCK].dtype == bool and items[IN_STOCK].tolist() == [True, False, True]
    assert items["screen_size"].dtype == np.float64
    assert items["sku"].tolist() == ["0012", "0013", "0014"]  # leading zeros stay text
    assert items["brand"].isna().tolist() == [False, True, False]
    users = data.users
    assert users is not None and users["zip"].tolist() == ["02139", "94043"]
    assert users["age"].dtype == np.int64
    # A9 is not in the catalogue: the interaction is kept.
    assert "A9" in set(data.interactions[ITEM_ID])


def test_bad_timestamp_error_names_file_row_field(tmp_path: Path) -> None:
    lines = ["user_id,item_id,timestamp"] + [f"u{i},i{i},{1000 + i}" for i in range(1, 17)]
    lines.insert(17, "u17,i17,abc")  # data row 17
    path = write_lines(tmp_path / "interactions.csv", lines)
    with pytest.raises(SchemaError) as excinfo:
        load_data(path)
    assert_schema_error(excinfo, path, 17, TIMESTAMP)
    assert str(excinfo.value) == (
        f"file {path}, row 17, field 'timestamp': cannot parse 'abc' as a timestamp"
    )


def test_skip_records_every_bad_row(tmp_path: Path) -> None:
    text = (
        "user_id,item_id,timestamp,rating\n"
        "u1,i1,1,5\n"
        ",i2,2,5\n"  # row 2: empty user
        "u3,i3,x,5\n"  # row 3: bad time
        "u4,i4,4,great\n"  # row 4: bad rating
        "u5,i5,5,5,extra\n"  # row 5: too many fields
        "u6,i6,6,1\n"
    )
    path = write_text(tmp_path / "interactions.csv", text)
    data = load_data(path, on_bad_rows="skip")
    assert data.interactions[USER_ID].tolist() == ["u1", "u6"]
    skipped = data.report.skipped
    assert [(s.row, s.field) for s in skipped] == [
        (2, USER_ID),
        (3, TIMESTAMP),
        (4, RATING),
        (5, None),
    ]
    assert all(s.file == str(path) for s in skipped)
    assert "expected 4 fields" in skipped[3].reason
    assert data.report.n_skipped == 4 and data.report.n_rows_read == 6
    with pytest.raises(SchemaError) as excinfo:
        load_data(path)
    assert_schema_error(excinfo, path, 2, USER_ID)


def test_row_numbers_survive_blank_lines(tmp_path: Path) -> None:
    path = write_text(tmp_path / "interactions.csv", "user_id,item_id\nu1,a\n\nu2,\n")
    with pytest.raises(SchemaError) as excinfo:
        load_data(path)
    assert_schema_error(excinfo, path, 3, ITEM_ID)
    data = load_data(path, on_bad_rows="skip")
    assert any("blank line" in n for n in data.report.notes)


def test_missing_required_column(tmp_path: Path) -> None:
    path = write_text(tmp_path / "interactions.csv", "user,item_id\nu1,a\n")
    with pytest.raises(SchemaError) as excinfo:
        load_data(path)
    assert_schema_error(excinfo, path, None, USER_ID)


def test_missing_directory_file_and_bad_items_price(tmp_path: Path) -> None:
    with pytest.raises(SchemaError) as excinfo:
        load_data(tmp_path, format="csv")
    assert str(tmp_path / "interactions.csv") in str(excinfo.value)
    write_text(tmp_path / "interactions.csv", "user_id,item_id\nu1,A1\n")
    items = write_text(tmp_path / "catalogue.csv", "item_id,price\nA1,$5\nA2,about 3\n")
    with pytest.raises(SchemaError) as excinfo:
        load_data(tmp_path, items=items)
    assert_schema_error(excinfo, items, 2, PRICE)
    data = load_data(tmp_path, items=items, on_bad_rows="skip")
    assert data.items is not None and data.items[ITEM_ID].tolist() == ["A1"]
    assert data.report.skipped[0] == SkippedRow(
        str(items),
        2,
        PRICE,
        "cannot parse 'about 3' as a price (expected a non-negative number such as 12.99 "
        "or '$12.99')",
    )


def test_forced_format_unknown_events_and_extra_columns(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "export.txt",
        "user_id,item_id,event,session,amount\nu,i,VIEW,007,3.5\nu,j,share,008,\n",
    )
    with pytest.raises(SchemaError, match="cannot detect"):
        load_data(path)
    data = load_data(path, format="csv")
    frame = data.interactions
    assert frame["session"].tolist() == ["007", "008"]  # leading zeros: stays text
    assert frame["amount"].dtype == np.float64
    assert any("'share' x 1" in note for note in data.report.notes)


def test_tsv_file(tmp_path: Path) -> None:
    path = write_text(tmp_path / "log.tsv", "user_id\titem_id\nu\ti\n")
    assert load_data(path).interactions[ITEM_ID].tolist() == ["i"]


def test_parquet_directory_with_int_ids(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            USER_ID: [1, 2, 2],
            ITEM_ID: [10.0, 11.0, np.nan],
            TIMESTAMP: pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"]),
        }
    ).to_parquet(tmp_path / "interactions.parquet")
    pd.DataFrame({ITEM_ID: [10, 11], PRICE: [1.0, 2.0]}).to_parquet(tmp_path / "items.parquet")
    with pytest.raises(SchemaError) as excinfo:
        load_data(tmp_path)
    assert_schema_error(excinfo, tmp_path / "interactions.parquet", 3, ITEM_ID)
    data = load_data(tmp_path, on_bad_rows="skip")
    assert data.interactions[USER_ID].tolist() == ["1", "2"]
    assert data.interactions[ITEM_ID].tolist() == ["10", "11"]  # not "10.0"
    assert data.interactions[TIMESTAMP].iloc[0] == pd.Timestamp("2020-01-01").timestamp()
    assert data.items is not None and data.items[ITEM_ID].tolist() == ["10", "11"]


def test_jsonl_with_malformed_line(tmp_path: Path) -> None:
    lines = [
        *json_lines([{"user_id": "u1", "item_id": 7, "timestamp": 1}]),
        "",  # blank line: ignored, but line numbers still count it
        "{not json",
        *json_lines([{"user_id": "u2", "item_id": "8", "timestamp": "2021-01-01"}]),
        *json_lines([{"user_id": "u3", "timestamp": 3}]),
    ]
    path = write_lines(tmp_path / "interactions.jsonl", lines)
    with pytest.raises(SchemaError) as excinfo:
        load_data(path)
    assert_schema_error(excinfo, path, 3, None)
    data = load_data(path, on_bad_rows="skip")
    assert data.interactions[ITEM_ID].tolist() == ["7", "8"]
    assert [(s.row, s.field) for s in data.report.skipped] == [(3, None), (5, ITEM_ID)]


def test_bad_arguments(tmp_path: Path) -> None:
    path = write_text(tmp_path / "x.csv", "user_id,item_id\na,b\n")
    with pytest.raises(ConfigError, match="format"):
        load_data(path, format="excel")
    with pytest.raises(ConfigError, match="on_bad_rows"):
        load_data(path, on_bad_rows="ignore")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="not found"):
        load_data(tmp_path / "nope.csv")


def test_utf8_byte_order_mark_in_header(tmp_path: Path) -> None:
    path = tmp_path / "interactions.csv"
    path.write_bytes("user_id,item_id\nu,ï\n".encode("utf-8-sig"))
    assert load_data(path).interactions[ITEM_ID].tolist() == ["ï"]
