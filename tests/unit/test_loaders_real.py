"""Loading the real data sets in ../shared/datasets (skipped where absent).

Counts come from each folder's PROVENANCE.md.
"""

from __future__ import annotations

from pathlib import Path

from loader_fixtures import real_dataset

from digirec.columns import ITEM_ID, SOURCE_ROW, TIMESTAMP, USER_ID
from digirec.data.load import detect_format, load_data
from digirec.data.tables import RawData


def _counts(data: RawData) -> tuple[int, int, int]:
    frame = data.interactions
    return frame[USER_ID].nunique(), frame[ITEM_ID].nunique(), len(frame)


def _check_common(data: RawData) -> None:
    frame = data.interactions
    assert data.report.n_skipped == 0
    assert frame[SOURCE_ROW].is_monotonic_increasing
    assert all(isinstance(v, str) for v in frame[USER_ID].iloc[:100])


def test_instruments_lcrec() -> None:
    path = real_dataset("amazon-instruments-2018-5core")
    assert detect_format(path) == "lcrec"
    data = load_data(path)
    _check_common(data)
    assert _counts(data) == (24_772, 9_922, 206_153)
    assert data.interactions[ITEM_ID].iloc[0] == "B000FFWZKI"  # ASINs, not indices
    assert data.interactions[TIMESTAMP].isna().all()


def test_cellphones_rechorus() -> None:
    path = real_dataset("amazon-cellphones-2014-5core")
    assert detect_format(path) == "rechorus"
    data = load_data(path)
    _check_common(data)
    assert _counts(data) == (27_878, 10_217, 137_478)
    assert data.interactions[TIMESTAMP].notna().all()
    assert data.items is not None and len(data.items) == 10_329
    assert data.items["also_bought"].map(len).gt(0).sum() == 9_206
    # Delegation from the amazon2014 format gives the same data.
    assert _counts(load_data(path, format="amazon2014")) == (27_878, 10_217, 137_478)


def test_movielens_100k() -> None:
    path = real_dataset("movielens-100k")
    assert detect_format(path) == "movielens"
    data = load_data(path)
    _check_common(data)
    assert _counts(data) == (943, 1_682, 100_000)
    assert data.users is not None and len(data.users) == 943
    assert data.items is not None and len(data.items) == 1_682
    assert data.items["release_date"].notna().sum() == 1_681
    folds = data.extras["folds"]
    assert isinstance(folds, list) and len(folds) == 5
    assert all(Path(p).is_file() for pair in folds for p in pair)


def test_office_minionerec() -> None:
    path = real_dataset("amazon-office-2018-minionerec-partial")
    assert detect_format(path) == "minionerec"
    data = load_data(path)
    _check_common(data)
    assert data.items is not None and len(data.items) == 3_459
    assert data.items["brand"].notna().sum() == 3_454
    rows = data.extras["rows"]
    assert len(rows) == 4_866 * 2
    assert rows.loc[rows["split"] == "valid", USER_ID].nunique() == 1_795
    assert rows.loc[rows["split"] == "test", USER_ID].nunique() == 2_024
    n_users, n_items, n_interactions = _counts(data)
    assert n_users == 3_231  # users of valid and test together
    assert n_items == 3_317  # all referenced items
    assert n_interactions == 22_447
