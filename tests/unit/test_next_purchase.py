"""The next-purchase protocol's split, worked out by hand on a tiny log."""

from __future__ import annotations

import pandas as pd
import pytest

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.evaluation.next_purchase import (
    arms_for,
    bought_matrix,
    is_model_default,
    next_purchase_split,
    training_part,
)
from digirec.exceptions import ConfigError

LOG = [
    # user a: the purchase of x (t3) is validation, of y (t5) test; the repeat buy of x (t7)
    # is no new item, and everything after t5 is dropped.
    ("a", "x", 1, "view"), ("a", "y", 2, "view"), ("a", "x", 3, "purchase"),
    ("a", "z", 4, "view"), ("a", "y", 5, "purchase"), ("a", "w", 6, "view"),
    ("a", "x", 7, "purchase"), ("a", "q", 8, "view"),
    # user b: a purchase with nothing before it is no target: b is training data only.
    ("b", "z", 1, "purchase"), ("b", "x", 2, "view"),
    # user c: one purchase with history: a test target, no validation target.
    ("c", "x", 1, "view"), ("c", "w", 2, "purchase"),
]  # fmt: skip


def events() -> Dataset:
    df = pd.DataFrame(LOG, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP, C.EVENT])
    return Dataset.from_interactions(df, duplicates="keep")


def rows(ds: Dataset, mask: object) -> list[tuple[str, str, float]]:
    sub = ds.subset(mask)  # type: ignore[arg-type]
    return [
        (u, i, t)
        for u, i, t in zip(
            ds.user_map.to_external(sub.user_idx),
            ds.item_map.to_external(sub.item_idx),
            sub.interactions[C.TIMESTAMP],
            strict=True,
        )
    ]


def test_split_by_hand() -> None:
    ds = events()
    split = next_purchase_split(ds)
    assert rows(ds, split.test_target) == [("a", "y", 5.0), ("c", "w", 2.0)]
    assert rows(ds, split.valid_target) == [("a", "x", 3.0)]
    assert rows(ds, split.train) == [
        ("a", "x", 1.0), ("a", "y", 2.0), ("b", "z", 1.0), ("b", "x", 2.0), ("c", "x", 1.0)
    ]  # fmt: skip
    assert rows(ds, split.between) == [("a", "x", 3.0), ("a", "z", 4.0)]
    assert rows(ds, split.after) == [("a", "w", 6.0), ("a", "x", 7.0), ("a", "q", 8.0)]


def test_training_parts_combine_only_earlier_events() -> None:
    ds = events()
    split = next_purchase_split(ds)
    fit_test = training_part(ds, split.fit_test, "max")
    m = fit_test.user_item_matrix()
    a = ds.user_map.to_internal(["a"])[0]
    x, y = ds.item_map.to_internal(["x", "y"])
    assert m[a, x] == 8.0  # view then purchase before the test target: the purchase counts
    assert m[a, y] == 1.0  # y's own purchase is the target: only the view is history
    fit_valid = training_part(ds, split.fit_valid, "max").user_item_matrix()
    assert fit_valid[a, x] == 1.0  # the validation target is not in its own training part
    # Only items already bought are excluded from the ranking: a's x, not the viewed y.
    bought = bought_matrix(ds, split.fit_test, "purchase")
    assert bought[a].indices.tolist() == [x]


def test_arms_and_errors() -> None:
    assert [arm.name for arm in arms_for("als", "max")] == ["weighted", "binary"]
    assert [arm.name for arm in arms_for("pop", "max")] == ["as-configured"]
    # The weighted arm is the models' default (binary=False since issue 9), the binary one not.
    for name in ("als", "ease", "itemknn"):
        weighted, binary = arms_for(name, "max")
        assert is_model_default(name, weighted) and not is_model_default(name, binary)
    no_events = Dataset.from_interactions(
        pd.DataFrame({C.USER_ID: ["a", "a"], C.ITEM_ID: ["x", "y"]}), duplicates="keep"
    )
    with pytest.raises(ConfigError, match="event column"):
        next_purchase_split(no_events)
    with pytest.raises(ConfigError, match="nothing to predict"):
        next_purchase_split(events(), target_event="refund")
