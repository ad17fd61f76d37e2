"""Dataset: chronological order, duplicate policies, the users x items matrix, events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.events import EventWeights
from digirec.data.sequences import user_sequences
from digirec.exceptions import ConfigError, SchemaError


def frame() -> pd.DataFrame:
    # user a: x@3, y@1, z@2 (equal stamps for b keep file order), then a repeats x@5.
    return pd.DataFrame(
        {
            C.USER_ID: ["a", "a", "a", "b", "b", "a"],
            C.ITEM_ID: ["x", "y", "z", "y", "x", "x"],
            C.TIMESTAMP: [3.0, 1.0, 2.0, 7.0, 7.0, 5.0],
            C.EVENT: ["view", "purchase", "cart", "view", "view", "purchase"],
        }
    )


def test_chronological_stable_order_and_first_occurrence() -> None:
    ds = Dataset.from_interactions(frame(), duplicates="first")
    seqs = user_sequences(ds)
    a, b = ds.user_map.to_internal(["a", "b"])
    assert ds.item_map.to_external(seqs[a]).tolist() == ["y", "z", "x"]
    # b's two events share a timestamp: file order (y then x) is kept.
    assert ds.item_map.to_external(seqs[b]).tolist() == ["y", "x"]
    assert ds.stats is not None and ds.stats.n_duplicates_merged == 1
    # the kept (a, x) is the first occurrence: a view, weight 1
    row = ds.interactions[(ds.user_idx == a) & (ds.item_idx == ds.item_map.to_internal(["x"])[0])]
    assert row[C.WEIGHT].tolist() == [1.0]


def test_missing_timestamps_keep_file_order() -> None:
    df = pd.DataFrame({C.USER_ID: ["u"] * 3, C.ITEM_ID: ["c", "a", "b"]})
    ds = Dataset.from_interactions(df)
    assert ds.item_map.to_external(user_sequences(ds)[0]).tolist() == ["c", "a", "b"]


@pytest.mark.parametrize(
    ("policy", "expected_weight", "expected_rows"),
    [("first", 1.0, 5), ("last", 8.0, 5), ("sum", 9.0, 5), ("max", 8.0, 5), ("keep", None, 6)],
)
def test_duplicate_policies(policy: str, expected_weight: float | None, expected_rows: int) -> None:
    ds = Dataset.from_interactions(frame(), duplicates=policy)  # type: ignore[arg-type]
    assert ds.n_interactions == expected_rows
    m = ds.user_item_matrix()
    a = ds.user_map.to_internal(["a"])[0]
    x = ds.item_map.to_internal(["x"])[0]
    # keep: the matrix sums both events of (a, x): 1 + 8
    assert m[a, x] == (9.0 if expected_weight is None else expected_weight)


def test_matrix_orientation_and_binary() -> None:
    ds = Dataset.from_interactions(frame(), duplicates="keep")
    m = ds.user_item_matrix(binary=True)
    assert m.shape == (2, 3)
    assert m.nnz == 5
    assert set(np.unique(m.data)) == {1.0}


def test_event_weights_explicit_weight_wins_and_decay() -> None:
    df = pd.DataFrame(
        {
            C.USER_ID: ["u", "u", "u"],
            C.ITEM_ID: ["a", "b", "c"],
            C.EVENT: ["view", "purchase", "click"],
            C.WEIGHT: [np.nan, np.nan, 5.0],
            C.TIMESTAMP: [0.0, 86_400.0 * 10, 86_400.0 * 20],
        }
    )
    w = EventWeights().row_weights(df)
    assert w.tolist() == [1.0, 8.0, 5.0]
    decayed = EventWeights(half_life_days=10).row_weights(df)
    np.testing.assert_allclose(decayed, [1.0 * 0.25, 8.0 * 0.5, 5.0])


def test_unknown_event_type_is_a_clear_error() -> None:
    df = pd.DataFrame({C.USER_ID: ["u"], C.ITEM_ID: ["a"], C.EVENT: ["share"]})
    with pytest.raises(ConfigError, match="share"):
        EventWeights().row_weights(df)
    assert EventWeights(unknown_weight=3.0).row_weights(df).tolist() == [3.0]


def test_missing_required_column() -> None:
    with pytest.raises(SchemaError, match="item_id"):
        Dataset.from_interactions(pd.DataFrame({C.USER_ID: ["a"]}))


def test_catalogue_items_aligned_and_cold_items_indexed() -> None:
    items = pd.DataFrame({C.ITEM_ID: ["z", "x", "new", "y"], C.PRICE: [3.0, 1.0, 9.0, 2.0]})
    ds = Dataset.from_interactions(frame(), items=items, include_catalog_items=True)
    assert ds.n_items == 4
    assert ds.items is not None
    assert ds.items[C.ITEM_ID].tolist() == ds.item_map.to_list()
    new = ds.item_map.to_internal(["new"])[0]
    assert ds.items[C.PRICE].iloc[new] == 9.0
    assert ds.user_item_matrix()[:, new].nnz == 0
    ds2 = Dataset.from_interactions(frame(), items=items)
    assert ds2.n_items == 3


def test_describe_counts() -> None:
    info = Dataset.from_interactions(frame()).describe()
    assert info["n_users"] == 2 and info["n_items"] == 3 and info["n_interactions"] == 5
    assert info["interactions_per_user"] == {"min": 2, "median": 2.5, "mean": 2.5, "max": 3}
