"""MovieLens loaders: ml-100k, ml-1m and ml-latest layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from loader_fixtures import assert_schema_error, write_text

from digirec.columns import CATEGORY, EVENT, ITEM_ID, RATING, SOURCE_ROW, TIMESTAMP, TITLE, USER_ID
from digirec.data.load import detect_format, load_data
from digirec.exceptions import SchemaError

GENRES = ["unknown", "Action", "Adventure", "Comedy"]


def _flags(*names: str) -> str:
    return "|".join("1" if g in names else "0" for g in GENRES)


def _write_100k(directory: Path, data: str | None = None, user_age: str = "24") -> Path:
    write_text(
        directory / "u.data",
        data or "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881250950\n",
    )
    write_text(directory / "u.genre", "".join(f"{g}|{i}\n" for i, g in enumerate(GENRES)) + "\n")
    items = (
        f"242|Kolya (1996)|24-Jan-1997||http://imdb/kolya|{_flags('Comedy')}\n"
        f"302|L.A. Confidential (1997)|01-Jan-1997||http://imdb/la|{_flags('Action', 'Comedy')}\n"
        f"267|unknown||||{_flags('unknown')}\n"
        f"5|Caf\xe9 (1995)|01-Jan-1995||http://imdb/cafe|{_flags('Adventure')}\n"
    )
    write_text(directory / "u.item", items, encoding="latin-1")
    write_text(directory / "u.user", f"196|{user_age}|M|technician|85711\n186|53|F|other|T8H1N\n")
    for fold in ("u1", "u2"):
        write_text(directory / f"{fold}.base", "196\t242\t3\t881250949\n")
        write_text(directory / f"{fold}.test", "186\t302\t3\t891717742\n")
    return directory


def test_ml100k(tmp_path: Path) -> None:
    directory = _write_100k(tmp_path / "ml-100k")
    assert detect_format(directory) == "movielens"
    assert detect_format(directory / "u.data") == "movielens"
    data = load_data(directory)
    frame = data.interactions
    assert frame[USER_ID].tolist() == ["196", "186", "196"]
    assert frame[RATING].tolist() == [3.0, 3.0, 5.0]
    assert frame[TIMESTAMP].iloc[0] == 881250949.0
    assert set(frame[EVENT]) == {"rating"}
    assert frame[SOURCE_ROW].tolist() == [0, 1, 2]
    items = data.items.set_index(ITEM_ID)
    assert items.loc["302", "genres"] == "Action|Comedy"
    assert items.loc["302", CATEGORY] == "Action"
    # "unknown" is the no-genre marker; the missing release date stays missing.
    assert items.isna().loc["267", ["release_date", CATEGORY, "genres"]].all()
    assert items.loc["5", TITLE] == "Café (1995)"  # latin-1 decoded
    assert items.loc["242", "release_date"] == "24-Jan-1997"
    users = data.users
    assert users["age"].dtype == np.int64 and users["age"].tolist() == [24, 53]
    assert users["zip"].tolist() == ["85711", "T8H1N"]
    assert users["occupation"].tolist() == ["technician", "other"]
    folds = data.extras["folds"]
    assert folds == [
        (directory / "u1.base", directory / "u1.test"),
        (directory / "u2.base", directory / "u2.test"),
    ]
    assert data.name == "ml-100k"


def test_ml100k_bad_rating_and_bad_age(tmp_path: Path) -> None:
    directory = _write_100k(tmp_path, data="1\t2\t3\t100\n1\t3\tfive\t101\n1\t4\t4\t102\n")
    with pytest.raises(SchemaError) as excinfo:
        load_data(directory)
    assert_schema_error(excinfo, directory / "u.data", 2, RATING)
    data = load_data(directory, on_bad_rows="skip")
    assert data.interactions[ITEM_ID].tolist() == ["2", "4"]
    assert data.report.skipped[0].reason == "cannot parse 'five' as a number"

    directory = _write_100k(tmp_path / "b", user_age="young")
    with pytest.raises(SchemaError) as excinfo:
        load_data(directory)
    assert_schema_error(excinfo, directory / "u.user", 1, "age")


def test_ml1m(tmp_path: Path) -> None:
    write_text(tmp_path / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n")
    write_text(
        tmp_path / "movies.dat",
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n",
        encoding="latin-1",
    )
    write_text(tmp_path / "users.dat", "1::F::1::10::48067\n")
    assert detect_format(tmp_path) == "movielens"
    data = load_data(tmp_path)
    assert data.interactions[ITEM_ID].tolist() == ["1193", "661"]
    assert data.interactions[TIMESTAMP].tolist() == [978300760.0, 978302109.0]
    items = data.items.set_index(ITEM_ID)
    assert items.loc["661", CATEGORY] == "Animation"
    assert items.loc["661", "genres"] == "Animation|Children's|Musical"
    user = data.users.iloc[0]
    assert (user["gender"], user["age"], user["occupation"], user["zip"]) == (
        "F",
        1,
        "K-12 student",
        "48067",
    )


def test_ml1m_bad_timestamp(tmp_path: Path) -> None:
    path = write_text(tmp_path / "ratings.dat", "1::1::5::978300760\n1::2::3::soon\n")
    with pytest.raises(SchemaError) as excinfo:
        load_data(tmp_path, format="movielens")
    assert_schema_error(excinfo, path, 2, TIMESTAMP)


def test_ml_latest(tmp_path: Path) -> None:
    write_text(
        tmp_path / "ratings.csv",
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n",
    )
    write_text(
        tmp_path / "movies.csv",
        "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n"
        '3,"Grumpier Old Men, The (1995)",(no genres listed)\n',
    )
    assert detect_format(tmp_path) == "movielens"
    assert detect_format(tmp_path / "ratings.csv") == "movielens"
    data = load_data(tmp_path)
    assert data.interactions[RATING].tolist() == [4.0, 4.5]
    items = data.items.set_index(ITEM_ID)
    assert items.loc["3", TITLE] == "Grumpier Old Men, The (1995)"
    assert items.loc["1", CATEGORY] == "Adventure"
    assert items.isna().loc["3", [CATEGORY, "genres"]].all()
    assert data.users is None


def test_ml_latest_bad_user_names_source_field(tmp_path: Path) -> None:
    path = write_text(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n,1,4,1\n")
    with pytest.raises(SchemaError) as excinfo:
        load_data(tmp_path)
    assert_schema_error(excinfo, path, 1, "userId")
