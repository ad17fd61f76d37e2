"""Shared validation helpers of digirec.data.schema."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from digirec.columns import EVENT, ITEM_ID, PRICE, RATING, SOURCE_ROW, TIMESTAMP, USER_ID
from digirec.data.schema import (
    BadRows,
    concat_interactions,
    infer_attribute_column,
    parse_bool_column,
    parse_list_text,
    parse_price,
    parse_price_column,
    parse_timestamp,
    parse_timestamp_column,
    text_from_listlike,
    validate_table,
)
from digirec.data.tables import LoadReport, SkippedRow
from digirec.exceptions import ConfigError, SchemaError


def test_timestamps_seconds_milliseconds_iso_and_missing() -> None:
    values = pd.Series(
        ["1400000000", "1588687728923", "2014-05-14", "2014-05-14T10:00:00+02:00", "", "abc"],
        dtype=object,
    )
    parsed, bad = parse_timestamp_column(values)
    assert parsed.iloc[0] == 1400000000.0
    assert parsed.iloc[1] == pytest.approx(1588687728.923)  # ms -> s
    assert parsed.iloc[2] == pd.Timestamp("2014-05-14", tz="UTC").timestamp()
    assert parsed.iloc[3] == pd.Timestamp("2014-05-14T08:00:00", tz="UTC").timestamp()
    assert np.isnan(parsed.iloc[4]) and not bad[4]  # empty = unknown, not bad
    assert bad.tolist() == [False, False, False, False, False, True]
    assert parsed.dtype == np.float64


def test_timestamps_numeric_and_datetime_columns() -> None:
    parsed, bad = parse_timestamp_column(pd.Series([1.0e9, np.nan, np.inf]))
    assert parsed.iloc[0] == 1e9 and np.isnan(parsed.iloc[1])
    assert bad.tolist() == [False, False, True]
    parsed, bad = parse_timestamp_column(pd.Series(pd.to_datetime(["1970-01-02", None])))
    assert parsed.iloc[0] == 86400.0 and np.isnan(parsed.iloc[1]) and not bad.any()
    assert parse_timestamp(1_400_000_000_000) == 1_400_000_000.0
    with pytest.raises(ValueError, match="timestamp"):
        parse_timestamp("yesterday")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$12.99", 12.99),
        ("12.99", 12.99),
        (" £1,299.00 ", 1299.0),
        ("$7.99 - $29.99", 7.99),
        ("USD 5", 5.0),
        (12.5, 12.5),
        ("", None),
        (None, None),
        ("None", None),
    ],
)
def test_parse_price_accepts(text: object, expected: float | None) -> None:
    value = parse_price(text)
    if expected is None:
        assert np.isnan(value)
    else:
        assert value == pytest.approx(expected)


@pytest.mark.parametrize("text", ["cheap", "12,99", "-3", "$", "1.2.3"])
def test_parse_price_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="price"):
        parse_price(text)


def test_price_column_vectorised() -> None:
    prices, bad = parse_price_column(pd.Series(["$1", "x", None, 3.5], dtype=object))
    assert prices.iloc[0] == 1.0 and prices.iloc[3] == 3.5
    assert bad.tolist() == [False, True, False, False]


def test_bool_column() -> None:
    flags, bad = parse_bool_column(pd.Series(["yes", "0", "True", "maybe", ""]))
    assert bad.tolist() == [False, False, False, True, False]
    assert flags.tolist()[:3] == [True, False, True]
    flags, bad = parse_bool_column(pd.Series(["1", "false"]))
    assert flags.dtype == bool and not bad.any()


def test_list_text_and_description_text() -> None:
    assert parse_list_text("[1, 2, 30]") == ["1", "2", "30"]
    assert parse_list_text("['a', \"b\"]") == ["a", "b"]
    assert parse_list_text("") == [] and parse_list_text(None) == []
    with pytest.raises(ValueError):
        parse_list_text("[1, 2")
    assert text_from_listlike("['Nice pen.', '', 'Blue ink.']") == "Nice pen. Blue ink."
    assert text_from_listlike("plain text") == "plain text"
    assert text_from_listlike("['', '']") is None
    assert text_from_listlike(["a", "b"], sep="; ") == "a; b"


def test_attribute_inference_keeps_leading_zeros() -> None:
    assert infer_attribute_column(pd.Series(["02139", "94043"])).tolist() == ["02139", "94043"]
    assert infer_attribute_column(pd.Series(["3", "4"])).dtype == np.int64
    assert infer_attribute_column(pd.Series(["3.5", "NA"])).dtype == np.float64


def _frame(**columns: list[object]) -> pd.DataFrame:
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in columns.items()})


def test_first_bad_row_wins_across_fields() -> None:
    # Row 3 has a bad timestamp; row 2 an empty item_id: the error names row 2.
    df = _frame(user_id=["u1", "u2", "u3"], item_id=["a", "", "c"], timestamp=["1", "2", "x"])
    with pytest.raises(SchemaError) as excinfo:
        validate_table("interactions", df, "f.csv", "error", LoadReport())
    assert (excinfo.value.row, excinfo.value.field) == (2, ITEM_ID)


def test_validate_interactions_skip_records_and_types() -> None:
    df = _frame(
        user_id=["007", " u2 ", "u3", "u4"],
        item_id=["a", "b", "", "d"],
        timestamp=["1", "abc", "3", ""],
        event=["VIEW", "click", "x", "Cart"],
        rating=["5", "4", "3", "?"],
        extra=["k", "k", "k", "k"],
    )
    report = LoadReport()
    out = validate_table(
        "interactions", df, "f.csv", "skip", report, row_numbers=np.array([2, 3, 5, 6])
    )
    assert out[USER_ID].tolist() == ["007"]
    assert out[EVENT].tolist() == ["view"]
    assert out["extra"].tolist() == ["k"]
    assert report.skipped == [
        SkippedRow("f.csv", 3, TIMESTAMP, "cannot parse 'abc' as a timestamp"),
        SkippedRow("f.csv", 5, ITEM_ID, "missing or empty value"),
        SkippedRow("f.csv", 6, RATING, "cannot parse '?' as a number"),
    ]


def test_validate_interactions_missing_column_names_file_and_field() -> None:
    with pytest.raises(SchemaError) as excinfo:
        validate_table("interactions", _frame(user_id=["u"]), "f.csv", "error", LoadReport())
    assert excinfo.value.file == "f.csv" and excinfo.value.field == ITEM_ID


def test_validate_items_price_and_duplicates_noted() -> None:
    df = _frame(item_id=["a", "a", "b"], price=["$1.50", "2", "free"], title=["x", "", "z"])
    with pytest.raises(SchemaError) as excinfo:
        validate_table("items", df, "items.csv", "error", LoadReport())
    assert (excinfo.value.row, excinfo.value.field) == (3, PRICE)
    report = LoadReport()
    out = validate_table("items", df, "items.csv", "skip", report)
    assert out[PRICE].tolist() == [1.5, 2.0]
    assert out["title"].isna().tolist() == [False, True]
    assert any("duplicate item_id" in n for n in report.notes)


def test_bad_rows_outside_frame_and_policy_check() -> None:
    report = LoadReport()
    bad = BadRows("x.jsonl", 2, "skip", report, np.array([1, 3]))
    bad.add([SkippedRow("x.jsonl", 2, None, "cannot parse line as JSON")])
    bad.flag(np.array([False, True]), USER_ID, "missing or empty value")
    assert bad.resolve().tolist() == [True, False]
    assert [s.row for s in report.skipped] == [2, 3]
    with pytest.raises(ConfigError):
        BadRows("x", 0, "ignore", report)  # type: ignore[arg-type]


def test_concat_interactions_adds_source_row() -> None:
    first = pd.DataFrame({USER_ID: ["a"], ITEM_ID: ["x"], TIMESTAMP: [1.0]})
    second = pd.DataFrame({USER_ID: ["b", "c"], ITEM_ID: ["y", "z"], TIMESTAMP: [np.nan] * 2})
    out = concat_interactions([first, second])
    assert out[SOURCE_ROW].tolist() == [0, 1, 2]
    assert out[SOURCE_ROW].dtype == np.int64
