"""Official Amazon Reviews dumps: 2014, 2018, 2023 (gzip and plain)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from loader_fixtures import assert_schema_error, json_lines, write_lines

from digirec.columns import (
    BRAND,
    CATEGORY,
    DESCRIPTION,
    EVENT,
    IMAGE_URL,
    ITEM_ID,
    PRICE,
    RATING,
    TIMESTAMP,
    TITLE,
    USER_ID,
)
from digirec.data.load import detect_format, load_data
from digirec.exceptions import ConfigError, SchemaError

REVIEWS_2014 = [
    {
        "reviewerID": "A2SUAM1J3GNN3B",
        "asin": "B0001",
        "reviewerName": "J. McDonald",
        "helpful": [2, 3],
        "reviewText": "Works.",
        "overall": 5.0,
        "summary": "Good",
        "unixReviewTime": 1400000000,
        "reviewTime": "05 13, 2014",
    },
    {
        "reviewerID": "A1",
        "asin": "B0002",
        "helpful": [0, 0],
        "reviewText": "Meh.",
        "overall": 3.0,
        "summary": "ok",
        "unixReviewTime": 1400086400,
        "reviewTime": "05 14, 2014",
    },
    {
        "reviewerID": "A1",
        "asin": "B0404",
        "helpful": [0, 0],
        "overall": 4.0,
        "unixReviewTime": 1400086400,
        "reviewTime": "05 14, 2014",
    },
]

# 2014 metadata lines are Python dict literals (str(dict)), single quotes included.
META_2014 = [
    {
        "asin": "B0001",
        "title": "Otter Case",
        "price": 12.99,
        "imUrl": "http://ecx.images-amazon.com/images/I/1.jpg",
        "related": {"also_bought": ["B0002"], "also_viewed": [], "bought_together": ["B0003"]},
        "salesRank": {"Cell Phones & Accessories": 1234},
        "brand": "Otter",
        "categories": [["Cell Phones & Accessories", "Cases", "Basic Cases"], ["Electronics"]],
    },
    {"asin": "B0002", "title": "Charger", "categories": [["Cell Phones & Accessories"]]},
    {"asin": "B0003", "description": "A cable that isn't short."},
]

REVIEWS_2018 = [
    {
        "overall": 5.0,
        "verified": True,
        "reviewTime": "10 17, 2015",
        "reviewerID": "R1",
        "asin": "P1",
        "style": {"Color:": " Black"},
        "reviewerName": "x",
        "reviewText": "good",
        "summary": "Five Stars",
        "unixReviewTime": 1445040000,
    },
    {
        "overall": 2.0,
        "verified": False,
        "reviewTime": "10 18, 2015",
        "reviewerID": "R2",
        "asin": "P2",
        "reviewText": "bad",
        "summary": "Two Stars",
        "unixReviewTime": 1445126400,
    },
]

META_2018 = [
    {
        "category": ["Musical Instruments", "Instrument Accessories", "Picks"],
        "description": ["Great picks.", "Pack of 12."],
        "title": "Medium Picks",
        "also_buy": ["P2"],
        "also_view": ["P3", "P4"],
        "image": ["https://images/1.jpg", "https://images/2.jpg"],
        "brand": "Fender",
        "feature": ["Medium gauge", "Celluloid"],
        "rank": "1,234 in Musical Instruments",
        "main_cat": "Musical Instruments",
        "date": "",
        "price": "$12.99",
        "asin": "P1",
        "details": {},
    },
    {"category": [], "description": [], "title": "Strap", "price": "", "asin": "P2"},
]

REVIEWS_2023 = [
    {
        "rating": 5.0,
        "title": "Great",
        "text": "Nice",
        "images": [],
        "asin": "C1-RED",
        "parent_asin": "C1",
        "user_id": "AGBFYI2DDIKXC5Y4FARTYDTQBMFQ",
        "timestamp": 1588687728923,
        "helpful_vote": 2,
        "verified_purchase": True,
    },
    {
        "rating": 1.0,
        "title": "Bad",
        "text": "No",
        "images": [],
        "asin": "C2",
        "parent_asin": "C2",
        "user_id": "U2",
        "timestamp": 1588687729000,
        "helpful_vote": 0,
        "verified_purchase": False,
    },
]

META_2023 = [
    {
        "main_category": "Cell Phones & Accessories",
        "title": "Phone case",
        "average_rating": 4.5,
        "rating_number": 120,
        "features": ["Slim", "Grip"],
        "description": ["A slim case."],
        "price": 9.99,
        "images": [{"thumb": "t.jpg", "large": "l.jpg", "variant": "MAIN", "hi_res": None}],
        "videos": [],
        "store": "Spigen",
        "categories": ["Cell Phones & Accessories", "Cases, Holsters & Sleeves", "Basic Cases"],
        "details": {"Brand": "Spigen"},
        "parent_asin": "C1",
        "bought_together": None,
    },
    {
        "main_category": "All Electronics",
        "title": "Cable",
        "features": [],
        "description": [],
        "price": None,
        "images": [],
        "store": "Anker",
        "categories": [],
        "parent_asin": "C2",
    },
]


def _write_2014(directory: Path, gz: bool = True) -> tuple[Path, Path]:
    ext = ".json.gz" if gz else ".json"
    reviews = write_lines(
        directory / f"reviews_Cell_Phones_5{ext}", json_lines(REVIEWS_2014), gz=gz
    )
    meta = write_lines(directory / f"meta_Cell_Phones{ext}", [str(m) for m in META_2014], gz=gz)
    return reviews, meta


@pytest.mark.parametrize("gz", [True, False])
def test_amazon2014_reviews_and_python_literal_meta(tmp_path: Path, gz: bool) -> None:
    reviews, _ = _write_2014(tmp_path, gz)
    assert detect_format(tmp_path) == "amazon2014"
    assert detect_format(reviews) == "amazon2014"
    data = load_data(tmp_path)
    frame = data.interactions
    assert frame[USER_ID].tolist() == ["A2SUAM1J3GNN3B", "A1", "A1"]
    assert frame[ITEM_ID].tolist() == ["B0001", "B0002", "B0404"]
    assert frame[RATING].tolist() == [5.0, 3.0, 4.0]
    assert frame[TIMESTAMP].tolist() == [1400000000.0, 1400086400.0, 1400086400.0]
    assert set(frame[EVENT]) == {"rating"}
    assert data.name == "Cell_Phones"
    items = data.items
    assert items is not None and items[ITEM_ID].tolist() == ["B0001", "B0002", "B0003"]
    first = items.iloc[0]
    assert first[CATEGORY] == "Basic Cases"
    assert first["category_path"] == "Cell Phones & Accessories > Cases > Basic Cases"
    assert first[PRICE] == 12.99 and first[BRAND] == "Otter"
    assert first[IMAGE_URL].endswith("1.jpg")
    assert first["also_bought"] == ["B0002"] and first["bought_together"] == ["B0003"]
    assert np.isnan(items[PRICE].iloc[1])
    assert items[DESCRIPTION].iloc[2] == "A cable that isn't short."
    # B0404 has no metadata: kept anyway.
    assert "B0404" in set(frame[ITEM_ID])


def test_amazon2014_malformed_lines(tmp_path: Path) -> None:
    lines = json_lines(REVIEWS_2014)
    lines[1] = lines[1].replace('"overall": 3.0', '"overall": "three"')
    lines.insert(2, '{"reviewerID": "A9", "asin": ')  # line 3: truncated
    reviews = write_lines(tmp_path / "reviews_Toys.json.gz", lines, gz=True)
    with pytest.raises(SchemaError) as excinfo:
        load_data(reviews, format="amazon2014")
    assert_schema_error(excinfo, reviews, 2, "overall")
    data = load_data(reviews, format="amazon2014", on_bad_rows="skip")
    assert data.interactions[ITEM_ID].tolist() == ["B0001", "B0404"]
    skipped = data.report.skipped
    assert [(s.row, s.field) for s in skipped] == [(2, "overall"), (3, None)]
    assert "three" in skipped[0].reason and "JSON" in skipped[1].reason


def test_amazon2014_bad_meta_price_names_meta_file(tmp_path: Path) -> None:
    reviews = write_lines(tmp_path / "reviews_Toys_5.json", json_lines(REVIEWS_2014))
    meta_rows = [str(m) for m in META_2014]
    meta_rows[1] = str({"asin": "B0002", "price": "call us"})
    meta = write_lines(tmp_path / "meta_Toys.json", meta_rows)
    with pytest.raises(SchemaError) as excinfo:
        load_data(reviews)
    assert_schema_error(excinfo, meta, 2, PRICE)


def test_amazon2014_folder_with_rechorus_files_delegates(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("user_id\titem_id\ttime\n1\t2\t1400000000\n")
    data = load_data(tmp_path, format="amazon2014")
    assert data.interactions[ITEM_ID].tolist() == ["2"]


@pytest.mark.parametrize("gz", [True, False])
def test_amazon2018(tmp_path: Path, gz: bool) -> None:
    ext = ".json.gz" if gz else ".json"
    write_lines(tmp_path / f"Musical_Instruments_5{ext}", json_lines(REVIEWS_2018), gz=gz)
    write_lines(tmp_path / f"meta_Musical_Instruments{ext}", json_lines(META_2018), gz=gz)
    assert detect_format(tmp_path) == "amazon2018"
    data = load_data(tmp_path)
    assert data.interactions[USER_ID].tolist() == ["R1", "R2"]
    assert data.interactions[TIMESTAMP].tolist() == [1445040000.0, 1445126400.0]
    items = data.items
    assert items is not None
    first = items.iloc[0]
    assert first[PRICE] == 12.99 and first[CATEGORY] == "Picks"
    assert first[DESCRIPTION] == "Great picks. Pack of 12."
    assert first[IMAGE_URL] == "https://images/1.jpg"
    assert first["also_viewed"] == ["P3", "P4"] and first["main_category"] == "Musical Instruments"
    second = items.iloc[1]
    assert np.isnan(second[PRICE]) and pd.isna(second[CATEGORY]) and pd.isna(second[DESCRIPTION])


def test_amazon2018_bad_user_and_forced_format(tmp_path: Path) -> None:
    rows = [dict(r) for r in REVIEWS_2018]
    rows[1]["reviewerID"] = ""
    path = write_lines(tmp_path / "Toys.json", json_lines(rows))
    with pytest.raises(SchemaError) as excinfo:
        load_data(path, format="amazon2018")
    assert_schema_error(excinfo, path, 2, "reviewerID")
    # Forcing the other reader of the same field names works too (the user may override).
    data = load_data(path, format="amazon2014", on_bad_rows="skip")
    assert len(data.interactions) == 1 and data.report.n_skipped == 1


@pytest.mark.parametrize("gz", [True, False])
def test_amazon2023(tmp_path: Path, gz: bool) -> None:
    ext = ".jsonl.gz" if gz else ".jsonl"
    write_lines(tmp_path / f"Cell_Phones_and_Accessories{ext}", json_lines(REVIEWS_2023), gz=gz)
    write_lines(tmp_path / f"meta_Cell_Phones_and_Accessories{ext}", json_lines(META_2023), gz=gz)
    assert detect_format(tmp_path) == "amazon2023"
    data = load_data(tmp_path)
    frame = data.interactions
    assert frame[ITEM_ID].tolist() == ["C1", "C2"]  # parent_asin, not the variant asin
    assert frame[TIMESTAMP].tolist() == pytest.approx([1588687728.923, 1588687729.0])
    items = data.items
    assert items is not None
    first, second = items.iloc[0], items.iloc[1]
    assert first[BRAND] == "Spigen" and first[CATEGORY] == "Basic Cases"
    assert first[IMAGE_URL] == "l.jpg" and first[PRICE] == 9.99
    assert first["features"] == "Slim; Grip" and first["rating_number"] == 120
    assert second[CATEGORY] == "All Electronics"  # empty path: main category
    assert np.isnan(second[PRICE]) and second[TITLE] == "Cable"


def test_amazon2023_missing_parent_asin(tmp_path: Path) -> None:
    rows = [dict(r) for r in REVIEWS_2023]
    del rows[0]["parent_asin"]
    path = write_lines(tmp_path / "Toys.jsonl", json_lines(rows))
    with pytest.raises(SchemaError) as excinfo:
        load_data(path, format="amazon2023")
    assert_schema_error(excinfo, path, 1, "parent_asin")


def test_amazon_errors(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no reviews file"):
        load_data(tmp_path, format="amazon2018")
    write_lines(tmp_path / "A.json", json_lines(REVIEWS_2018))
    write_lines(tmp_path / "B.json", json_lines(REVIEWS_2018))
    with pytest.raises(SchemaError, match="several reviews files"):
        load_data(tmp_path, format="amazon2018")
    meta = write_lines(tmp_path / "meta_A.json", [json.dumps(META_2018[0])])
    with pytest.raises(SchemaError, match="metadata file"):
        load_data(meta, format="amazon2018")
    with pytest.raises(ConfigError, match="users"):
        load_data(tmp_path / "A.json", format="amazon2018", users=meta)
