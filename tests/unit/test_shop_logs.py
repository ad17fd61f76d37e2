"""Issue 9: real shop logs load (REES46, Taobao), and files are read for what they are."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.load import detect_format, load_data
from digirec.exceptions import ConfigError, SchemaError

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
REES46 = DATASETS / "rees46-multicategory-2019oct-head" / "2019-Oct.csv"
TAOBAO = DATASETS / "taobao-userbehavior-head" / "UserBehavior.csv"

REES46_TEXT = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\r\n"
    "2019-10-01 00:00:00 UTC,view,44600062,210,,shiseido,35.79,541312140,s1\r\n"
    "2019-10-01 00:01:00 UTC,view,3900821,205,appliances.water_heater,aqua,33.20,541312140,s1\r\n"
    "2019-10-01 00:02:00 UTC,purchase,44600062,210,,shiseido,35.79,541312140,s1\r\n"
    "2019-10-01 00:03:00 UTC,view,3900821,205,appliances.water_heater,aqua,33.20,55474"
)
TAOBAO_TEXT = "1,10,7,pv,1511544070\n1,10,7,buy,1511544080\n2,11,8,fav,1511544090\n2,10,7,cart,15"


def test_rees46_named_format_maps_columns_and_short_last_line(tmp_path: Path) -> None:
    path = tmp_path / "2019-Oct.csv"
    path.write_bytes(REES46_TEXT.encode())
    assert detect_format(path) == "rees46"
    with pytest.raises(SchemaError, match=r"row 4, field 'user_session'.*2 field|row 4.*8 field"):
        load_data(path)
    raw = load_data(path, on_bad_rows="skip")
    assert raw.report.n_skipped == 1 and raw.report.n_rows_read == 4
    frame = raw.interactions
    assert frame[C.EVENT].tolist() == ["view", "view", "purchase"]
    assert frame[C.TIMESTAMP].iloc[0] == pd.Timestamp("2019-10-01", tz="UTC").timestamp()
    assert raw.items is not None
    items = raw.items.set_index(C.ITEM_ID)
    # An empty category_code falls back to the category id.
    assert items.loc["44600062", C.CATEGORY] == "210"
    assert items.loc["3900821", C.CATEGORY] == "appliances.water_heater"
    assert items.loc["3900821", C.PRICE] == 33.20 and items.loc["44600062", C.BRAND] == "shiseido"
    ds = Dataset.from_raw(raw)
    assert ds.describe()["events"] == {"purchase": 1, "view": 1}


def test_taobao_named_format(tmp_path: Path) -> None:
    path = tmp_path / "UserBehavior.csv"
    path.write_text(TAOBAO_TEXT.rsplit(",", 1)[0] + "\n")  # last line cut before its time
    assert detect_format(path) == "taobao"
    with pytest.raises(SchemaError, match="row 4"):
        load_data(path)
    raw = load_data(path, on_bad_rows="skip")
    assert raw.interactions[C.EVENT].tolist() == ["view", "purchase", "wishlist"]
    assert raw.report.n_skipped == 1


@pytest.mark.skipif(not REES46.exists() or not TAOBAO.exists(), reason="shared shop logs absent")
@pytest.mark.parametrize(
    ("path", "n_rows", "purchases"),
    # PROVENANCE.md: REES46 17,435 rows with 214 purchases (the partial last row is a view);
    # Taobao 84,475 full rows with 1,750 buys (its cut last line is the bad row).
    [(REES46, 17_434, 214), (TAOBAO, 84_475, 1_750)],
)
def test_real_shop_logs_keep_their_purchases(path: Path, n_rows: int, purchases: int) -> None:
    raw = load_data(path, on_bad_rows="skip")
    assert len(raw.interactions) == n_rows and raw.report.n_skipped == 1
    assert int((raw.interactions[C.EVENT] == "purchase").sum()) == purchases
    ds = Dataset.from_raw(raw)  # the training rule: each pair's strongest event
    info = ds.describe()
    n_pairs_bought = raw.interactions.loc[
        raw.interactions[C.EVENT] == "purchase", [C.USER_ID, C.ITEM_ID]
    ].drop_duplicates()
    assert info["events"]["purchase"] == len(n_pairs_bought)  # type: ignore[index]
    first = Dataset.from_raw(raw, duplicates="first").describe()["events"]
    assert first.get("purchase", 0) < len(n_pairs_bought)  # type: ignore[union-attr]


def test_parquet_json_zip_read_as_csv_say_what_they_are(tmp_path: Path) -> None:
    frame = pd.DataFrame({"user_id": ["u"], "item_id": ["i"]})
    parquet = tmp_path / "events.csv"
    frame.to_parquet(parquet)
    with pytest.raises(SchemaError, match=r"Parquet.*--format parquet"):
        load_data(parquet, format="csv")
    js = tmp_path / "events2.csv"
    js.write_text('{"user_id": "u", "item_id": "i"}\n')
    with pytest.raises(SchemaError, match=r"JSON.*--format jsonl"):
        load_data(js, format="csv")
    zipped = tmp_path / "events3.csv"
    zipped.write_bytes(b"PK\x03\x04rest")
    with pytest.raises(SchemaError, match="zip"):
        load_data(zipped, format="csv")


def test_gzip_under_a_plain_name_is_read_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(gzip.compress(b"user_id,item_id\nu,i\nv,j\n"))
    raw = load_data(path)
    assert raw.interactions[C.USER_ID].tolist() == ["u", "v"]
    assert any("gzip" in note for note in raw.report.notes)


def test_sep_and_encoding(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes("user_id;item_id\nmüller;i\n".encode("latin-1"))
    with pytest.raises(SchemaError, match="decode"):
        load_data(path)
    raw = load_data(path, sep=";", encoding="latin-1")
    assert raw.interactions[C.USER_ID].tolist() == ["müller"]
    with pytest.raises(ConfigError, match="encoding"):
        load_data(path, sep=";", encoding="no-such-codec")
    with pytest.raises(ConfigError, match="one character"):
        load_data(path, sep=";;")


def test_short_generic_row_is_a_bad_row_not_a_nan_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,timestamp\nu,i,100\nv,j\nw,k,\n")
    with pytest.raises(SchemaError, match=r"row 2, field 'timestamp'.*2 field"):
        load_data(path)
    raw = load_data(path, on_bad_rows="skip")
    # The empty (present) timestamp of row 3 is unknown, the short row 2 is skipped.
    assert raw.interactions[C.USER_ID].tolist() == ["u", "w"]
    assert raw.report.n_skipped == 1


@pytest.mark.parametrize("token", ["", "NA", "NaN", "null"])
def test_na_tokens_and_empty_cells_mean_the_same_in_numbers(tmp_path: Path, token: str) -> None:
    path = tmp_path / "events.csv"
    path.write_text(f"user_id,item_id,rating,weight\nu,i,{token},{token}\nu,j,4,2\n")
    raw = load_data(path)
    assert raw.interactions[C.RATING].isna().tolist() == [True, False]
    assert raw.interactions[C.WEIGHT].isna().tolist() == [True, False]


def test_negative_weight_is_a_bad_row_and_a_negative_rating_is_noted(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,weight\nu,i,3\nu,j,-1\n")
    with pytest.raises(SchemaError, match=r"row 2, field 'weight'.*negative"):
        load_data(path)
    signed = tmp_path / "signed.csv"
    signed.write_text("user_id,item_id,rating\nu,i,3\nu,j,-2.5\n")
    raw = load_data(signed)
    assert raw.interactions[C.RATING].tolist() == [3.0, -2.5]
    assert any("1 row(s) have a negative rating" in note for note in raw.report.notes)
