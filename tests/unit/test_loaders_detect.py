"""detect_format on every layout, and its failure message."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from loader_fixtures import json_lines, write_lines, write_text

from digirec.data.load import FORMATS, detect_format, load_data
from digirec.exceptions import SchemaError


def test_formats_tuple() -> None:
    assert FORMATS == (
        "auto",
        "csv",
        "parquet",
        "jsonl",
        "lcrec",
        "rechorus",
        "amazon2014",
        "amazon2018",
        "amazon2023",
        "movielens",
        "minionerec",
        "rees46",
        "taobao",
    )


def test_generic_files_and_directories(tmp_path: Path) -> None:
    csv = write_text(tmp_path / "a" / "events.csv", "user_id,item_id\nu,i\n")
    assert detect_format(csv) == "csv"
    jsonl = write_lines(tmp_path / "b" / "interactions.jsonl", ['{"user_id": "u", "item_id": 1}'])
    assert detect_format(jsonl) == "jsonl"
    assert detect_format(jsonl.parent) == "jsonl"
    parquet_dir = tmp_path / "c"
    parquet_dir.mkdir()
    pd.DataFrame({"user_id": ["u"], "item_id": ["i"]}).to_parquet(
        parquet_dir / "interactions.parquet"
    )
    assert detect_format(parquet_dir) == "parquet"
    assert detect_format(parquet_dir / "interactions.parquet") == "parquet"
    write_text(tmp_path / "d" / "interactions.csv", "user_id,item_id\nu,i\n")
    assert detect_format(tmp_path / "d") == "csv"


def test_rechorus_needs_its_tab_header(tmp_path: Path) -> None:
    write_text(tmp_path / "r" / "train.csv", "user_id\titem_id\ttime\n1\t2\t3\n")
    assert detect_format(tmp_path / "r") == "rechorus"
    assert detect_format(tmp_path / "r" / "train.csv") == "rechorus"
    # A comma-separated train.csv is just a generic CSV file.
    write_text(tmp_path / "g" / "train.csv", "user_id,item_id\n1,2\n")
    assert detect_format(tmp_path / "g" / "train.csv") == "csv"


def test_movielens_ratings_csv_needs_userid_header(tmp_path: Path) -> None:
    write_text(tmp_path / "m" / "ratings.csv", "userId,movieId,rating,timestamp\n1,2,3,4\n")
    assert detect_format(tmp_path / "m") == "movielens"
    write_text(tmp_path / "x" / "ratings.csv", "user_id,item_id,rating\n1,2,3\n")
    assert detect_format(tmp_path / "x" / "ratings.csv") == "csv"


def test_minionerec_and_lcrec(tmp_path: Path) -> None:
    write_text(tmp_path / "o" / "X.item.json", "{}")
    write_text(tmp_path / "o" / "X.test.csv", "user_id,history_item_id,item_id\nu,[1],2\n")
    assert detect_format(tmp_path / "o") == "minionerec"
    assert detect_format(tmp_path / "o" / "X.test.csv") == "minionerec"
    write_text(tmp_path / "l" / "X.inter.json", json.dumps({"0": [1]}))
    assert detect_format(tmp_path / "l") == "lcrec"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"reviewerID": "a", "asin": "b", "overall": 5.0, "unixReviewTime": 1}, "amazon2014"),
        (
            {"reviewerID": "a", "asin": "b", "verified": True, "unixReviewTime": 1},
            "amazon2018",
        ),
        ({"reviewerID": "a", "asin": "b", "style": {}, "unixReviewTime": 1}, "amazon2018"),
        ({"user_id": "a", "parent_asin": "b", "timestamp": 1}, "amazon2023"),
    ],
)
@pytest.mark.parametrize("gz", [True, False])
def test_amazon_versions_by_first_line_keys(
    tmp_path: Path, keys: dict[str, object], expected: str, gz: bool
) -> None:
    name = "Toys.jsonl.gz" if gz else "Toys.json"
    path = write_lines(tmp_path / name, json_lines([keys]), gz=gz)
    assert detect_format(path) == expected
    assert detect_format(tmp_path) == expected


def test_unknown_lists_formats(tmp_path: Path) -> None:
    write_text(tmp_path / "notes.txt", "hello")
    with pytest.raises(SchemaError) as excinfo:
        detect_format(tmp_path)
    message = str(excinfo.value)
    assert str(tmp_path) in message
    for fmt in FORMATS[1:]:
        assert fmt in message
    with pytest.raises(SchemaError, match="amazon2023"):
        load_data(tmp_path / "notes.txt")
    with pytest.raises(SchemaError, match="not found"):
        detect_format(tmp_path / "missing")
