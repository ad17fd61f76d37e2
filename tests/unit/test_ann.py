"""Filtered top-k retrieval: exact index, FAISS index and the picker between them.

The guarantees under test hold for any data: a disallowed or excluded item is never returned,
rows are full whenever enough items qualify, and FAISS recall against exact search reaches 0.9
at default settings (on unstructured random vectors, the hardest case for an ANN index).
"""

from __future__ import annotations

import numpy as np
import pytest

from digirec.exceptions import ConfigError
from digirec.retrieval.filtered import ExactIndex, ItemIndex, make_index
from digirec.retrieval.topk import tie_break_ranks, topk

faiss = pytest.importorskip("faiss", reason="faiss-cpu (the `ann` extra) is not installed")

from digirec.retrieval.ann import FaissIndex  # noqa: E402  (after the importorskip)

N_ITEMS, DIM, N_QUERIES = 4000, 16, 64


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((N_ITEMS, DIM)).astype(np.float32)
    queries = rng.standard_normal((N_QUERIES, DIM)).astype(np.float32)
    return vectors, queries


@pytest.fixture(scope="module")
def ivf(data: tuple[np.ndarray, np.ndarray]) -> FaissIndex:
    return FaissIndex(data[0])


@pytest.fixture(scope="module")
def exact(data: tuple[np.ndarray, np.ndarray]) -> ExactIndex:
    return ExactIndex(data[0])


def _random_filters(
    rng: np.random.Generator, share: float, n_rows: int, n_exclude: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    allowed = rng.random(N_ITEMS) < share
    excludes = [rng.choice(N_ITEMS, n_exclude, replace=False) for _ in range(n_rows)]
    return allowed, excludes


def _check_guarantees(
    idx: np.ndarray, allowed: np.ndarray | None, excludes: list[np.ndarray], k: int
) -> None:
    for row, ex in zip(idx, excludes, strict=True):
        got = row[row >= 0]
        assert len(set(got.tolist())) == got.size, "an item came back twice"
        if allowed is not None:
            assert allowed[got].all(), "a filtered-out item was returned"
        assert not np.isin(got, ex).any(), "an excluded item was returned"
        qualifying = N_ITEMS if allowed is None else int(allowed.sum())
        qualifying -= ex.size if allowed is None else int(allowed[ex].sum())
        assert got.size == min(k, qualifying), "k not honoured although enough items qualify"
        # Padding only at the end.
        assert (row[got.size :] == -1).all()


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [np.intersect1d(f[f >= 0], t[t >= 0]).size for f, t in zip(found, truth, strict=True)]
    return float(np.sum(hits) / np.sum(truth >= 0))


# ------------------------------------------------------------------------------------ exact
def test_exact_matches_brute_force_topk(data: tuple[np.ndarray, np.ndarray]) -> None:
    vectors, queries = data
    index = ExactIndex(vectors, random_state=3)
    idx, scores = index.search(queries, 10)
    expected, expected_scores = topk(queries @ vectors.T, 10, tie_break_ranks(N_ITEMS, 3))
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5)


@pytest.mark.parametrize("share", [1.0, 0.6, 0.3, 0.01, 0.001])
def test_exact_filters_are_exact(exact: ExactIndex, data: tuple, share: float) -> None:
    vectors, queries = data
    rng = np.random.default_rng(int(share * 1000))
    allowed, excludes = _random_filters(rng, share, N_QUERIES, 30)
    idx, scores = exact.search(queries, 10, allowed=allowed, exclude_per_row=excludes)
    _check_guarantees(idx, allowed, excludes, 10)
    # Same result as masking the full score matrix by hand.
    full = queries @ vectors.T
    full[:, ~allowed] = -np.inf
    for row, ex in enumerate(excludes):
        full[row, ex] = -np.inf
    expected, _ = topk(full, 10, exact.tie_ranks)
    np.testing.assert_array_equal(idx, expected)
    assert np.isnan(scores[idx < 0]).all()


def test_exact_cosine_normalises(data: tuple) -> None:
    vectors, queries = data
    index = ExactIndex(vectors * 5.0, metric="cosine")
    idx, scores = index.search(queries[:3] * 0.1, 5)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    q = queries[:3] / np.linalg.norm(queries[:3], axis=1, keepdims=True)
    np.testing.assert_allclose(scores, np.take_along_axis(q @ unit.T, idx, axis=1), rtol=1e-5)
    assert (scores <= 1.0 + 1e-6).all()


def test_input_validation(exact: ExactIndex) -> None:
    with pytest.raises(ConfigError):
        exact.search(np.zeros((2, DIM + 1)), 5)
    with pytest.raises(ConfigError):
        exact.search(np.zeros((2, DIM)), 0)
    with pytest.raises(ConfigError):
        exact.search(np.zeros((2, DIM)), 5, allowed=np.ones(N_ITEMS, dtype=int))
    with pytest.raises(ConfigError):
        exact.search(np.zeros((2, DIM)), 5, exclude_per_row=[np.array([1])])
    with pytest.raises(ConfigError):
        exact.search(np.zeros((1, DIM)), 5, exclude_per_row=[np.array([N_ITEMS])])
    # One vector is one query row.
    idx, _ = exact.search(np.ones(DIM), 3)
    assert idx.shape == (1, 3)


def test_short_rows_are_padded(exact: ExactIndex, data: tuple) -> None:
    allowed = np.zeros(N_ITEMS, dtype=bool)
    allowed[[5, 9, 11]] = True
    idx, scores = exact.search(data[1][:2], 5, allowed=allowed, exclude_per_row=[[9], None])
    assert sorted(idx[0, :2].tolist()) == [5, 11] and (idx[0, 2:] == -1).all()
    assert sorted(idx[1, :3].tolist()) == [5, 9, 11] and (idx[1, 3:] == -1).all()
    assert np.isnan(scores[0, 2:]).all()
    none, _ = exact.search(data[1][:1], 5, allowed=np.zeros(N_ITEMS, dtype=bool))
    assert (none == -1).all()


# ------------------------------------------------------------------------------------ FAISS
def test_faiss_recall_at_default_settings(ivf: FaissIndex, exact: ExactIndex, data: tuple) -> None:
    queries = data[1]
    truth, _ = exact.search(queries, 10)
    found, _ = ivf.search(queries, 10)
    assert _recall(found, truth) >= 0.9
    assert ivf.calibrated_recall_ is not None and ivf.calibrated_recall_ >= 0.9
    assert ivf.nprobe_ is not None and 1 <= ivf.nprobe_ <= ivf.nlist


@pytest.mark.parametrize("share", [1.0, 0.5, 0.2, 0.06, 0.03, 0.002])
def test_faiss_never_returns_filtered_items(
    ivf: FaissIndex, exact: ExactIndex, data: tuple, share: float
) -> None:
    queries = data[1]
    rng = np.random.default_rng(int(share * 10_000) + 1)
    allowed, excludes = _random_filters(rng, share, N_QUERIES, 40)
    idx, scores = ivf.search(queries, 10, allowed=allowed, exclude_per_row=excludes)
    _check_guarantees(idx, allowed, excludes, 10)
    truth, _ = exact.search(queries, 10, allowed=allowed, exclude_per_row=excludes)
    assert _recall(idx, truth) >= 0.9
    # Scores are the true inner products of the returned items.
    valid = idx >= 0
    true_scores = np.einsum("rd,rkd->rk", queries, data[0][np.maximum(idx, 0)])
    np.testing.assert_allclose(scores[valid], true_scores[valid], rtol=1e-4, atol=1e-4)


def test_faiss_refills_rows_left_short(data: tuple) -> None:
    # nprobe=1, widened by sqrt(k / 10) = 10 for k=1000 and by 1/0.3 for the 30 % filter, is
    # 34 of 253 cells: about 160 allowed items for k=1000 (of ~1,200 allowed). Rows are left
    # short, and the exact refill must fill them.
    index = FaissIndex(data[0], nprobe=1, exact_fraction=0.0)
    refilled: list[int] = []
    exact_search = index.exact._search

    def spy(queries: np.ndarray, *args: object) -> tuple[np.ndarray, np.ndarray]:
        refilled.append(len(queries))
        return exact_search(queries, *args)  # type: ignore[arg-type]

    index.exact._search = spy  # type: ignore[method-assign]
    rng = np.random.default_rng(0)
    allowed, excludes = _random_filters(rng, 0.3, N_QUERIES, 10)
    idx, _ = index.search(data[1], 1000, allowed=allowed, exclude_per_row=excludes)
    _check_guarantees(idx, allowed, excludes, 1000)
    assert refilled and 0 < refilled[0] <= N_QUERIES  # only the short rows were recomputed


def test_faiss_hnsw_and_large_k(data: tuple, exact: ExactIndex) -> None:
    vectors, queries = data
    index = FaissIndex(vectors[:1500], kind="hnsw", metric="cosine")
    assert index.name == "faiss-hnsw" and index.ef_search_ is not None
    rng = np.random.default_rng(5)
    allowed = rng.random(1500) < 0.5
    excludes = [rng.choice(1500, 5, replace=False) for _ in range(8)]
    idx, _ = index.search(queries[:8], 800, allowed=allowed, exclude_per_row=excludes)
    for row, ex in zip(idx, excludes, strict=True):
        got = row[row >= 0]
        assert allowed[got].all() and not np.isin(got, ex).any()
        assert got.size == min(800, int(allowed.sum()) - int(allowed[ex].sum()))


def test_faiss_is_deterministic(data: tuple) -> None:
    a = FaissIndex(data[0][:2000], random_state=1)
    b = FaissIndex(data[0][:2000], random_state=1)
    assert a.nprobe_ == b.nprobe_
    np.testing.assert_array_equal(a.search(data[1], 10)[0], b.search(data[1], 10)[0])


# ------------------------------------------------------------------------------------ picker
def test_make_index_picks_by_size(data: tuple) -> None:
    small = make_index(data[0], exact_threshold=10_000)
    assert isinstance(small, ExactIndex) and small.name == "exact"
    large = make_index(data[0], exact_threshold=1000, metric="cosine")
    assert isinstance(large, FaissIndex) and large.name == "faiss-ivf"
    assert isinstance(large, ItemIndex) and large.metric == "cosine"
