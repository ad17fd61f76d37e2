"""Learning curves: the kept histories (hand-checked) and a planted curve that must rise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.split import leave_one_out
from digirec.evaluation.learning_curve import (
    keep_recent,
    learning_curve_markdown,
    learning_curve_svg,
    parse_fractions,
    run_learning_curve,
)
from digirec.evaluation.report import ResultFile, is_benchmark_document, render_report


def frame(rows: list[tuple[str, str]]) -> Dataset:
    data = pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID])
    data[C.TIMESTAMP] = np.arange(len(rows), dtype=np.float64)
    return Dataset.from_interactions(data)


def counted() -> Dataset:
    """u10: 12 events (10 train), u5: 7 (5 train), u2: 2 events (both train, < 3)."""
    rows = [("u10", f"a{t}") for t in range(12)]
    rows += [("u5", f"b{t}") for t in range(7)]
    rows += [("u2", "a0"), ("u2", "b0")]
    return frame(rows)


def kept_items(ds: Dataset, mask: np.ndarray, user: str) -> list[str]:
    u = ds.user_map.to_internal([user])[0]
    return ds.item_map.to_external(ds.item_idx[mask & (ds.user_idx == u)]).tolist()


def test_keep_recent_keeps_the_newest_ceil_fraction() -> None:
    ds = counted()
    train = leave_one_out(ds).train
    quarter = keep_recent(ds, train, 0.25)
    # ceil(2.5) = 3 newest of a0..a9; ceil(1.25) = 2 of b0..b4; ceil(0.5) = 1 of u2's two.
    assert kept_items(ds, quarter, "u10") == ["a7", "a8", "a9"]
    assert kept_items(ds, quarter, "u5") == ["b3", "b4"]
    assert kept_items(ds, quarter, "u2") == ["b0"]
    # 0.3 * 10 is 3.0000000000000004 in floating point: still 3 kept, not 4.
    assert len(kept_items(ds, keep_recent(ds, train, 0.3), "u10")) == 3
    np.testing.assert_array_equal(keep_recent(ds, train, 1.0), train)


def test_kept_sets_are_nested_and_never_touch_the_targets() -> None:
    ds = counted()
    masks = leave_one_out(ds)
    previous = np.zeros(ds.n_interactions, dtype=bool)
    for fraction in (0.05, 0.1, 0.25, 0.5, 0.75, 1.0):
        kept = keep_recent(ds, masks.train, fraction)
        assert not (kept & (masks.valid | masks.test)).any()
        assert (previous <= kept).all()  # nested: more data never drops a row
        # Every user keeps at least one interaction, so the user set never changes.
        assert len(np.unique(ds.user_idx[kept])) == ds.n_users
        previous = kept


@pytest.mark.parametrize("text", ["0", "1.5", "-0.1", "nan", "a,b", ""])
def test_bad_fractions_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_fractions(text)


def test_fractions_are_sorted_and_unique() -> None:
    assert parse_fractions("1,0.5,0.5,0.1") == (0.1, 0.5, 1.0)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        keep_recent(counted(), leave_one_out(counted()).train, 0.0)


def planted() -> Dataset:
    """A curve that must rise: popularity only finds the test item with full histories.

    10 "fans" have HIT as their OLDEST training event, then F1..F12, then a private validation
    item V and a private test item X. 10 "newcomers" have F1..F12, their own V, and HIT as test.
    HIT is counted by popularity only when a fan's whole history is kept (fraction > 12/13): then
    it is every newcomer's most popular unseen item (10 fans vs <= 1 for any other unseen item).
    Otherwise HIT and every X have popularity 0 and rank behind >= 19 validation items.
    """
    rows: list[tuple[str, str]] = []
    fillers = [f"F{j}" for j in range(1, 13)]
    for a in range(10):
        rows += [(f"fan{a}", item) for item in ["HIT", *fillers, f"Vf{a}", f"Xf{a}"]]
    for b in range(10):
        rows += [(f"new{b}", item) for item in [*fillers, f"Vn{b}", "HIT"]]
    return frame(rows)


def test_planted_curve_is_non_decreasing_and_exact() -> None:
    doc = run_learning_curve(planted(), ["pop"], fractions=(0.1, 0.5, 0.9, 1.0))
    points = doc["learning_curve"]["pop"]
    assert [p["fraction"] for p in points] == [0.1, 0.5, 0.9, 1.0]
    ndcg = [p["ndcg@10"] for p in points]
    assert ndcg == sorted(ndcg)
    # Only the full history brings HIT in: the 10 newcomers hit at rank 0, the fans never.
    assert ndcg == [0.0, 0.0, 0.0, pytest.approx(0.5)]
    assert points[-1]["recall@10"] == pytest.approx(0.5)
    per_user = [p["interactions_per_user"] for p in points]
    assert per_user == sorted(per_user) and per_user[-1] == pytest.approx((14 * 10 + 13 * 10) / 20)
    # fraction 0.1: fans keep ceil(1.3) = 2 + V, newcomers ceil(1.2) = 2 + V.
    assert points[0]["n_train"] == 20 * 3


def test_document_shape_markdown_and_report_render() -> None:
    ds = counted()
    doc = run_learning_curve(ds, ["pop", "ease"], fractions=(0.5, 1.0), tune=False)
    assert doc["protocol"] == "learning-curve"
    assert set(doc["learning_curve"]) == {"pop", "ease"}
    for points in doc["learning_curve"].values():
        assert len(points) == 2
        for point in points:
            assert {
                "fraction",
                "interactions_per_user",
                "ndcg@10",
                "recall@10",
                "fit_seconds",
            } <= set(point)
    # The split is leave-one-out, with the same targets at every fraction.
    assert doc["split"] == {"n_train": 17, "n_valid": 2, "n_test": 2}
    # `results` (each model at the largest fraction) makes it a benchmark document for the
    # report, which then draws the curve from `learning_curve`.
    assert is_benchmark_document(doc)
    assert [r["model"] for r in doc["results"]] == ["pop", "ease"]
    page = render_report([ResultFile(name="lc", document=doc)])
    assert "Learning curve" in page and "<polyline" in page
    md = learning_curve_markdown(doc)
    assert "#### ease" in md and "| 0.5 |" in md
    svg = learning_curve_svg(doc)
    assert svg.startswith("<svg") and "training interactions per user" in svg
