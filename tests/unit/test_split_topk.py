"""Splits (leave-one-out and others) and exact top-k with random tie-breaking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.split import global_temporal, leave_one_out, per_user_temporal, random_split
from digirec.retrieval.topk import tie_break_ranks, topk


def make_dataset() -> Dataset:
    rows = []
    # u1: 4 events, u2: 3 events, u3: 2 events (stays in train)
    for user, n in (("u1", 4), ("u2", 3), ("u3", 2)):
        for t in range(n):
            rows.append((user, f"{user}-i{t}", float(10 - t)))  # later rows have earlier times
    df = pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP])
    return Dataset.from_interactions(df)


def test_leave_one_out_uses_time_not_file_order() -> None:
    ds = make_dataset()
    masks = leave_one_out(ds)
    test_items = ds.item_map.to_external(ds.item_idx[masks.test]).tolist()
    valid_items = ds.item_map.to_external(ds.item_idx[masks.valid]).tolist()
    # time runs backwards in the file, so the chronologically last event is the first row (i0)
    assert sorted(test_items) == ["u1-i0", "u2-i0"]
    assert sorted(valid_items) == ["u1-i1", "u2-i1"]
    assert masks.train.sum() == 9 - 4


def test_other_splits_partition() -> None:
    ds = make_dataset()
    for masks in (global_temporal(ds, 0.2, 0.2), per_user_temporal(ds), random_split(ds, 0.2, 0.2)):
        assert (masks.train.astype(int) + masks.valid + masks.test == 1).all()
    g = global_temporal(ds, valid_fraction=0.0, test_fraction=2 / 9)
    assert sorted(ds.interactions[C.TIMESTAMP][g.test]) == [10.0, 10.0]


def test_topk_orders_by_score_then_fixed_permutation() -> None:
    ranks = tie_break_ranks(6, random_state=0)
    scores = np.array([[0.5, 0.9, 0.5, 0.5, -np.inf, 0.1]], dtype=np.float32)
    items, vals = topk(scores, 3, ranks)
    assert items[0, 0] == 1
    tied = [0, 2, 3]
    expected = sorted(tied, key=lambda i: ranks[i])[:2]
    assert items[0, 1:].tolist() == expected
    np.testing.assert_allclose(vals[0], [0.9, 0.5, 0.5])


def test_topk_never_returns_excluded_and_pads() -> None:
    ranks = tie_break_ranks(4, random_state=1)
    scores = np.array([[-np.inf, 1.0, -np.inf, -np.inf]], dtype=np.float32)
    items, vals = topk(scores, 3, ranks)
    assert items.tolist() == [[1, -1, -1]]
    assert np.isnan(vals[0, 1:]).all()


def test_topk_matches_full_sort_reference_on_random_ties() -> None:
    rng = np.random.default_rng(3)
    ranks = tie_break_ranks(50, random_state=7)
    scores = rng.integers(0, 5, size=(40, 50)).astype(np.float32)  # many ties
    scores[rng.random((40, 50)) < 0.2] = -np.inf
    items, _ = topk(scores, 10, ranks)
    for row in range(40):
        ok = np.flatnonzero(np.isfinite(scores[row]))
        ref = sorted(ok, key=lambda i: (-scores[row, i], ranks[i]))[:10]
        got = [i for i in items[row] if i >= 0]
        assert got == ref


def test_one_row_at_a_time_gives_the_batch_lists() -> None:
    """The service ranks one row per request (a 1-D path of its own): every row of the mixed
    matrix ranked alone gives the batch path's list and scores, padding included."""
    rng = np.random.default_rng(12)
    n_items = 60
    ranks = tie_break_ranks(n_items, random_state=5)
    scores = rng.standard_normal((30, n_items)).astype(np.float32)
    scores[5:15] = rng.integers(0, 3, size=(10, n_items))
    scores[15:20, rng.random(n_items) < 0.5] = -np.inf
    scores[20:23, : n_items - 3] = -np.inf
    scores[23, 7] = np.inf
    scores[24, :] = -np.inf
    for k in (1, 8, n_items, n_items + 5):
        items, vals = topk(scores, k, ranks)
        for row in range(len(scores)):
            one_items, one_vals = topk(scores[row : row + 1], k, ranks)
            np.testing.assert_array_equal(one_items[0], items[row])
            np.testing.assert_array_equal(one_vals[0], vals[row])


def test_wide_ties_at_the_threshold_match_a_full_sort() -> None:
    """A sparse model scores most items 0: thousands tie at the threshold, and those rows are
    ranked one by one with a partition of the tie ranks. Same lists as a full sort."""
    rng = np.random.default_rng(21)
    n_rows, n_items, k = 40, 3000, 10
    ranks = tie_break_ranks(n_items, random_state=9)
    scores = np.zeros((n_rows, n_items), dtype=np.float32)
    for row in range(n_rows):
        hot = rng.choice(n_items, size=int(rng.integers(0, 2 * k)), replace=False)
        scores[row, hot] = rng.integers(1, 4, size=len(hot))  # ties above the threshold too
        scores[row, rng.random(n_items) < 0.3] = -np.inf
    scores[3] = -np.inf
    scores[4, :5] = 0.0
    scores[4, 5:] = -np.inf  # fewer eligible items than k
    items, vals = topk(scores, k, ranks)
    for row in range(n_rows):
        ok = np.flatnonzero(~np.isneginf(scores[row]))
        ref = sorted(ok, key=lambda i: (-scores[row, i], ranks[i]))[:k]
        assert items[row, : len(ref)].tolist() == ref
        assert (items[row, len(ref) :] == -1).all()
        np.testing.assert_array_equal(vals[row, : len(ref)], scores[row, ref])


def test_tie_permutation_is_not_id_order() -> None:
    ranks = tie_break_ranks(1000, random_state=42)
    assert sorted(ranks.tolist()) == list(range(1000))
    assert not np.array_equal(ranks, np.arange(1000))


def test_topk_mixed_rows_match_a_per_row_reference() -> None:
    """Clean rows, boundary ties, -inf exclusions, +inf scores and short rows in one call."""
    rng = np.random.default_rng(11)
    n_items, k = 60, 8
    ranks = tie_break_ranks(n_items, random_state=5)
    scores = rng.standard_normal((30, n_items)).astype(np.float32)
    scores[5:15] = rng.integers(0, 3, size=(10, n_items))  # heavy ties at the boundary
    scores[15:20, rng.random(n_items) < 0.5] = -np.inf  # exclusions
    scores[20:23, : n_items - 3] = -np.inf  # fewer eligible items than k
    scores[23, 7] = np.inf
    items, vals = topk(scores, k, ranks)
    for row in range(len(scores)):
        ok = [i for i in range(n_items) if not np.isneginf(scores[row, i])]
        ref = sorted(ok, key=lambda i: (-scores[row, i], ranks[i]))[:k]
        assert items[row, : len(ref)].tolist() == ref
        assert (items[row, len(ref) :] == -1).all()
        np.testing.assert_array_equal(vals[row, : len(ref)], scores[row, ref])


def test_block_rows_bounds_the_block() -> None:
    from digirec.retrieval.topk import MAX_BLOCK_ELEMENTS, block_rows

    assert block_rows(100_000, 1024) * 100_000 <= MAX_BLOCK_ELEMENTS
    assert block_rows(1_682, 1024) == 1024  # small catalogues keep the caller's batch
    assert block_rows(10**9, 1024) == 1  # never zero rows


def test_ranking_in_small_blocks_gives_the_lists_of_one_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """recommend_idx in blocks of a few rows equals one whole-matrix ranking (popularity: ties)."""
    import digirec.retrieval.topk as topk_module
    from digirec.models.registry import create_model

    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            C.USER_ID: [f"u{u}" for u in rng.integers(0, 60, 900)],
            C.ITEM_ID: [f"i{i}" for i in rng.zipf(1.6, 900) % 80],
        }
    )
    ds = Dataset.from_interactions(frame)
    users = np.arange(ds.n_users)
    for name in ("pop", "ease"):
        model = create_model(name).fit(ds)
        whole_items, whole_scores = model.recommend_idx(users, 10)
        monkeypatch.setattr(topk_module, "MAX_BLOCK_ELEMENTS", 3 * ds.n_items)  # 3-row blocks
        items, scores = model.recommend_idx(users, 10)
        monkeypatch.undo()
        np.testing.assert_array_equal(items, whole_items)
        np.testing.assert_array_equal(scores, whole_scores)
