"""Issue 9: every event of a shop log counts, and DataFrames meet the file validator.

Each test names the case of the issue it covers; the expected values are worked out by hand
from the tiny frames below.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.events import DEFAULT_WEIGHTS, EventWeights
from digirec.exceptions import ConfigError, SchemaError


def shop_log() -> pd.DataFrame:
    # u1 views then buys x; u2 only views x; u1 carts y. Pair (u1, x): first event a view.
    return pd.DataFrame(
        {
            C.USER_ID: ["u1", "u1", "u2", "u1"],
            C.ITEM_ID: ["x", "x", "x", "y"],
            C.EVENT: ["view", "purchase", "view", "cart"],
            C.TIMESTAMP: [10.0, 20.0, 15.0, 30.0],
        }
    )


def test_purchases_survive_the_training_default() -> None:
    ds = Dataset.from_interactions(shop_log())
    assert ds.stats is not None and ds.stats.duplicates == "max"
    info = ds.describe()
    # The (u1, x) pair keeps its first position in time but carries the purchase.
    assert info["events"] == {"purchase": 1, "view": 1, "cart": 1}
    assert info["raw_events"] == {"view": 2, "purchase": 1, "cart": 1}
    m = ds.user_item_matrix()
    u1, x = ds.user_map.to_internal(["u1"])[0], ds.item_map.to_internal(["x"])[0]
    assert m[u1, x] == DEFAULT_WEIGHTS["purchase"]
    row = ds.interactions[(ds.user_idx == u1) & (ds.item_idx == x)]
    assert row[C.TIMESTAMP].tolist() == [10.0]
    # The protocol rule still exists and keeps the first event (a view).
    first = Dataset.from_interactions(shop_log(), duplicates="first")
    assert first.describe()["events"] == {"view": 2, "cart": 1}


def test_event_weights_merge_with_the_defaults() -> None:
    merged = EventWeights(weights={"wishlist": 5, "Share": 2})
    assert merged.weights["view"] == 1.0 and merged.weights["purchase"] == 8.0
    assert merged.weights["wishlist"] == 5.0 and merged.weights["share"] == 2.0
    # A stored full dict round-trips unchanged (bundle manifests store all weights).
    assert EventWeights(**merged.model_dump()).weights == merged.weights


@pytest.mark.parametrize("bad", [-1, float("nan"), "heavy"])
def test_event_weights_refuse_bad_values(bad: object) -> None:
    with pytest.raises(ConfigError, match="purchase"):
        EventWeights.from_options({"purchase": bad})


def test_unknown_events_error_skip_or_weight() -> None:
    df = shop_log()
    df.loc[3, C.EVENT] = "share"
    with pytest.raises(ConfigError, match="'share' x 1"):
        Dataset.from_interactions(df)
    skipped = Dataset.from_interactions(df, event_weights=EventWeights.from_options(
        unknown_events="skip"))  # fmt: skip
    assert skipped.n_interactions == 2  # (u1, x) merged, (u2, x); the share row is gone
    assert skipped.stats is not None
    assert skipped.stats.n_unknown_events_skipped == 1
    assert skipped.stats.skipped_events == {"share": 1}
    assert skipped.describe()["n_unknown_events_skipped"] == 1
    weighted = Dataset.from_interactions(
        df, event_weights=EventWeights.from_options(unknown_events="weight=0.5")
    )
    u1, y = weighted.user_map.to_internal(["u1"])[0], weighted.item_map.to_internal(["y"])[0]
    assert weighted.user_item_matrix()[u1, y] == 0.5
    for bad in ("ignore", "weight=", "weight=-2"):
        with pytest.raises(ConfigError, match="unknown-events"):
            EventWeights.from_options(unknown_events=bad)


@pytest.mark.parametrize(
    ("policy", "weight_ux"), [("first", 1.0), ("last", 8.0), ("sum", 9.0), ("max", 8.0)]
)
def test_duplicate_rules_by_hand(policy: str, weight_ux: float) -> None:
    ds = Dataset.from_interactions(shop_log(), duplicates=policy)  # type: ignore[arg-type]
    u1, x = ds.user_map.to_internal(["u1"])[0], ds.item_map.to_internal(["x"])[0]
    assert ds.user_item_matrix()[u1, x] == weight_ux
    with pytest.raises(ConfigError, match="--duplicates"):
        Dataset.from_interactions(shop_log(), duplicates="mean")  # type: ignore[arg-type]


def test_als_weighted_scores_depend_on_the_purchase_weight() -> None:
    """Issue case: ALS {"binary": false} gave identical scores for purchase=50 and =1."""
    from digirec.models.registry import create_model

    rng = np.random.default_rng(0)
    rows = []
    for u in range(40):
        items = rng.choice(30, size=6, replace=False)
        for t, i in enumerate(items):
            rows.append((f"u{u}", f"i{i}", "view", float(t)))
            if (u + i) % 3 == 0:
                rows.append((f"u{u}", f"i{i}", "purchase", t + 0.5))
    df = pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.EVENT, C.TIMESTAMP])
    scores = []
    for purchase in (50.0, 1.0):
        weights = EventWeights(weights={"purchase": purchase})
        ds = Dataset.from_interactions(df, event_weights=weights)
        model = create_model("als", {"binary": False, "factors": 8, "iterations": 5})
        model.fit(ds)
        scores.append(model.recommend(["u0", "u1"], k=5)[C.SCORE].to_numpy())
    assert not np.allclose(scores[0], scores[1])


# ------------------------------------------------------------------ DataFrames are validated
def test_datetime64_column_becomes_seconds_and_describe_works() -> None:
    df = shop_log().drop(columns=[C.TIMESTAMP])
    df[C.TIMESTAMP] = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-01", "2024-01-03"])
    ds = Dataset.from_interactions(df)
    assert ds.interactions[C.TIMESTAMP].min() == pd.Timestamp("2024-01-01", tz="UTC").timestamp()
    span = ds.describe()["time_span"]
    assert isinstance(span, dict) and span["start"].startswith("2024-01-01")


@pytest.mark.parametrize(
    "stamps",
    [
        ["2024-01-01T00:00:00", "2024-01-02", "2024-01-01 12:00", "2024-01-03"],
        [1704067200, 1704153600, 1704110400, 1704240000],
        [1704067200000, 1704153600000, 1704110400000, 1704240000000],
    ],
)
def test_iso_strings_and_epoch_seconds_or_ms_agree(stamps: list[object]) -> None:
    df = shop_log()
    df[C.TIMESTAMP] = stamps
    ds = Dataset.from_interactions(df, duplicates="keep")
    assert ds.interactions[C.TIMESTAMP].min() == 1704067200.0


def test_bad_string_date_names_the_row_and_field() -> None:
    df = shop_log()
    df[C.TIMESTAMP] = ["2024-01-01", "yesterday", "2024-01-01", "2024-01-03"]
    with pytest.raises(SchemaError, match=r"row 2, field 'timestamp'.*yesterday"):
        Dataset.from_interactions(df)


@pytest.mark.parametrize("column", [C.USER_ID, C.ITEM_ID])
def test_nan_id_is_refused_with_its_row(column: str) -> None:
    df = shop_log()
    df[column] = df[column].astype(object)
    df.loc[2, column] = np.nan
    with pytest.raises(SchemaError, match=rf"row 3, field '{column}'"):
        Dataset.from_interactions(df)


def test_integer_ids_with_nan_are_refused_not_turned_into_floats() -> None:
    df = pd.DataFrame({C.USER_ID: [7.0, np.nan], C.ITEM_ID: [1, 2]})
    with pytest.raises(SchemaError, match="row 2"):
        Dataset.from_interactions(df)
    ok = Dataset.from_interactions(pd.DataFrame({C.USER_ID: [7.0, 8.0], C.ITEM_ID: [1, 2]}))
    assert ok.user_map.to_list() == ["7", "8"]


@pytest.mark.parametrize("value", [-1.0, "-3"])
def test_negative_weight_is_refused(value: object) -> None:
    df = shop_log()
    df[C.WEIGHT] = [1.0, value, 1.0, 1.0]
    with pytest.raises(SchemaError, match=r"row 2, field 'weight'.*negative"):
        Dataset.from_interactions(df)


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [("datetime", C.TIMESTAMP), ("ts", C.TIMESTAMP), ("user", C.USER_ID), ("item", C.ITEM_ID)],
)
def test_column_aliases_are_mapped_with_a_note(alias: str, canonical: str) -> None:
    df = shop_log().rename(columns={canonical: alias})
    ds = Dataset.from_interactions(df, duplicates="first")
    assert ds.stats is not None and any(alias in note for note in ds.stats.notes)
    if canonical == C.TIMESTAMP:
        # Leave-one-out by time now runs on time, not file order: u1 = x@10, y@30.
        u1 = ds.user_map.to_internal(["u1"])[0]
        rows = ds.interactions[ds.user_idx == u1]
        assert rows[C.TIMESTAMP].tolist() == [10.0, 30.0]


def test_alias_next_to_its_canonical_column_is_refused() -> None:
    df = shop_log()
    df["datetime"] = df[C.TIMESTAMP]
    with pytest.raises(SchemaError, match="both 'datetime' and 'timestamp'"):
        Dataset.from_interactions(df)


def test_rectools_columns_are_understood() -> None:
    # RecTools' Columns: user_id, item_id, weight, datetime.
    df = pd.DataFrame(
        {
            "user_id": [1, 1, 2],
            "item_id": [10, 11, 10],
            "weight": [1.0, 2.0, 1.0],
            "datetime": pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-01"]),
        }
    )
    ds = Dataset.from_interactions(df)
    rows = ds.interactions[ds.user_idx == ds.user_map.to_internal([1])[0]]
    assert ds.item_map.to_external(rows[C.ITEM_IDX]).tolist() == [11, 10]


def test_source_row_is_the_position_in_the_callers_frame() -> None:
    df = shop_log()
    ds = Dataset.from_interactions(df, duplicates="keep")
    back = df.iloc[ds.interactions[C.SOURCE_ROW].to_numpy()]
    assert back[C.USER_ID].tolist() == ds.user_map.to_external(ds.user_idx).tolist()
    assert back[C.ITEM_ID].tolist() == ds.item_map.to_external(ds.item_idx).tolist()


def test_idmap_reads_a_bare_string_as_one_id() -> None:
    from digirec.data.idmap import IdMap
    from digirec.exceptions import UnknownIdError

    ids = IdMap(["u", "2", "u22"], kind="user")
    assert ids.to_internal("u22").tolist() == [2]  # not 'u', '2', '2'
    with pytest.raises(UnknownIdError, match="'u2'"):
        ids.to_internal("u2")
