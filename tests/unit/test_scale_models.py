"""Dense item-item models at catalogue scale: the memory guard, the EASE variants, item-kNN blocks.

Every EASE variant is checked against an independent computation: numpy's inverse on the
(sub-)catalogue for the dense block, a direct least-squares solve for each neighbourhood
column. The 17k-item fit that used to segfault (OpenBLAS dpotrf on 2 threads) runs in a
subprocess so that a crash fails the test instead of killing pytest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.exceptions import DigirecError, MemoryBudgetError
from digirec.memory import (
    MAX_MEMORY_ENV,
    check_allocation,
    dense_bytes,
    memory_budget_bytes,
)
from digirec.models.ease import (
    DENSE_FLOAT32,
    DENSE_FLOAT64,
    HEAD_NEIGHBOURS,
    EASEModel,
    neighbourhood_weights,
    plan_dense,
)
from digirec.models.itemknn import (
    BYTES_PER_KEPT_ENTRY,
    ItemKNNModel,
    cooccurrence_row_bounds,
    cosine_similarity,
    neighbours_within_budget,
)

GIB = 1024**3


def shop_matrix(n_users: int, n_items: int, seed: int) -> np.ndarray:
    """A binary users x items matrix with skewed item popularity (every item used once)."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    x = rng.random((n_users, n_items)) < 0.25 * popularity / popularity.mean() * 0.2
    x[np.arange(n_items) % n_users, np.arange(n_items)] = True
    x[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    return x.astype(np.float64)


def dataset_of(x: np.ndarray) -> Dataset:
    """A dataset whose binary matrix is ``x`` with items i0.. in index order."""
    users, items = np.nonzero(x)
    order = np.argsort(items, kind="stable")
    frame = pd.DataFrame(
        {C.USER_ID: [f"u{u}" for u in users[order]], C.ITEM_ID: [f"i{i}" for i in items[order]]}
    )
    ds = Dataset.from_interactions(frame)
    assert ds.item_map.to_list() == [f"i{i}" for i in range(x.shape[1])]
    return ds


def exact_ease(x: np.ndarray, lam: float) -> np.ndarray:
    p = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


# ---------------------------------------------------------------------- memory budget
def test_budget_sources_and_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_MEMORY_ENV, "0.5")
    assert memory_budget_bytes() == GIB // 2
    assert memory_budget_bytes(2.0) == 2 * GIB  # the explicit setting wins over the env
    monkeypatch.setenv(MAX_MEMORY_ENV, "lots")
    with pytest.raises(DigirecError, match=MAX_MEMORY_ENV):
        memory_budget_bytes()
    monkeypatch.delenv(MAX_MEMORY_ENV)
    assert memory_budget_bytes() > 0  # from the machine
    # 3 x 100,000² float32 = 120 GB by hand.
    size = dense_bytes((100_000, 100_000), np.float32, 3)
    assert size == 3 * 4 * 10**10
    with pytest.raises(MemoryBudgetError, match=r"111\.8 GiB.*1\.0 GiB.*max_memory_gb.*itemknn"):
        check_allocation("EASE", size, max_memory_gb=1.0, alternatives="use itemknn")
    check_allocation("small", 1000, max_memory_gb=1.0)  # within budget: no error


def test_plan_dense_by_hand() -> None:
    n = 1000
    f64 = 2 * n * n * 8  # two float64 n² arrays
    assert plan_dense(n, f64) == (n, np.float64)
    assert plan_dense(n, f64 - 1) == (n, np.float32)
    assert plan_dense(n, 2 * n * n * 4) == (n, np.float32)
    # Below that: the largest head whose two float32 n² arrays fit.
    assert plan_dense(n, 2 * 500 * 500 * 4) == (500, np.float32)
    assert plan_dense(n, 2 * 500 * 500 * 4 - 1) == (499, np.float32)
    assert plan_dense(n, f64, max_dense_items=300) == (300, np.float32)
    assert plan_dense(n, 7) is None


# ---------------------------------------------------------------------- EASE variants
def test_ease_dense_variants_match_numpy() -> None:
    x = shop_matrix(300, 80, seed=1)
    ds = dataset_of(x)
    expected = exact_ease(x, 20.0)
    m64 = EASEModel({"lambda": 20.0}).fit(ds)
    assert m64.variant_ == DENSE_FLOAT64 and m64.fit_info_["n_dense_items"] == 80
    np.testing.assert_allclose(m64.weights_, expected, rtol=1e-5, atol=1e-7)
    # A budget below two float64 80² arrays (102,400 B) but above two float32 ones (51,200 B).
    m32 = EASEModel({"lambda": 20.0, "max_memory_gb": 80_000 / GIB}).fit(ds)
    assert m32.variant_ == DENSE_FLOAT32
    np.testing.assert_allclose(m32.weights_, expected, rtol=1e-3, atol=1e-5)
    assert np.all(np.diag(m32.weights_) == 0.0)


def test_ease_head_neighbours_against_direct_solves(tmp_path: Path) -> None:
    x = shop_matrix(400, 120, seed=2)
    ds = dataset_of(x)
    lam, n_dense, k = 15.0, 50, 8
    model = EASEModel({"lambda": lam, "max_dense_items": n_dense, "n_neighbors": k}).fit(ds)
    assert model.variant_ == HEAD_NEIGHBOURS
    info = model.fit_info_
    assert info["n_dense_items"] == n_dense and info["n_neighbors"] == k
    counts = x.sum(axis=0)
    # The dense block is the 50 most popular items (ties by index) ...
    head = np.sort(np.lexsort((np.arange(120), -counts))[:n_dense])
    np.testing.assert_array_equal(model.dense_items_, head)
    assert info["dense_share_of_interactions"] == pytest.approx(counts[head].sum() / counts.sum())
    # ... fitted as exact EASE on that sub-catalogue.
    np.testing.assert_allclose(model.weights_, exact_ease(x[:, head], lam), rtol=1e-3, atol=1e-5)
    # Each tail column: ridge regression of its column on its k most co-occurring items.
    gram = x.T @ x
    tail = np.setdiff1d(np.arange(120), head)
    tail_weights = model.tail_weights_
    assert tail_weights is not None
    assert tail_weights[:, head].nnz == 0
    for j in tail[::7]:
        others = np.array([i for i in range(120) if i != j and gram[i, j] > 0])
        ranked = others[np.lexsort((others, -gram[others, j]))][:k]
        nbrs = np.sort(ranked)
        expected = np.linalg.solve(
            gram[np.ix_(nbrs, nbrs)] + lam * np.eye(len(nbrs)), gram[nbrs, j]
        )
        column = tail_weights[:, j].toarray().ravel()
        np.testing.assert_allclose(column[nbrs], expected, rtol=1e-4, atol=1e-6)
        assert np.count_nonzero(np.delete(column, nbrs)) == 0
    # Scores = x @ B with B = the dense block on head columns + the sparse tail columns.
    full = np.zeros((120, 120))
    full[np.ix_(head, head)] = model.weights_
    full += tail_weights.toarray()
    users = ds.user_map.to_internal([f"u{u}" for u in range(400)])
    np.testing.assert_allclose(model._score_users(users), x @ full, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        model._similar_scores(np.array([head[0], tail[0]])), full[[head[0], tail[0]]], atol=1e-6
    )
    # Saved and loaded: identical lists.
    loaded = EASEModel.load(model.save(tmp_path / "ease"))
    assert loaded.variant_ == HEAD_NEIGHBOURS
    pd.testing.assert_frame_equal(
        loaded.recommend(["u1", "u2", "u3"], k=10), model.recommend(["u1", "u2", "u3"], k=10)
    )


def test_neighbourhood_weights_recover_exact_ease_column() -> None:
    # With every other item as a neighbour the restricted regression is EASE's own column
    # (column j of B = ridge regression of x_j on all other columns).
    x = (np.random.default_rng(3).random((200, 30)) < 0.5).astype(np.float64)
    gram = x.T @ x
    assert np.all(gram > 0)  # dense enough that every pair of items co-occurs
    weights = neighbourhood_weights(sp.csr_matrix(x), np.array([4, 17]), 10.0, n_neighbors=29)
    expected = exact_ease(x, 10.0)
    for j in (4, 17):
        np.testing.assert_allclose(weights[:, j].toarray().ravel(), expected[:, j], atol=1e-6)
    assert weights[:, np.setdiff1d(np.arange(30), [4, 17])].nnz == 0


def test_ease_over_budget_without_approximation_names_size_and_alternatives() -> None:
    ds = dataset_of(shop_matrix(100, 60, seed=4))
    with pytest.raises(MemoryBudgetError, match=r"EASE on 60 items.*allow_approximate.*itemknn"):
        EASEModel({"max_memory_gb": 1e-6, "allow_approximate": False}).fit(ds)
    # With approximation allowed (the default) the same budget switches instead.
    model = EASEModel({"max_memory_gb": 1e-6}).fit(ds)
    assert model.variant_ == HEAD_NEIGHBOURS and model.fit_info_["n_dense_items"] < 60


# ---------------------------------------------------------------------- item-kNN blocks
def test_itemknn_blocks_do_not_change_the_result() -> None:
    x = shop_matrix(300, 90, seed=5)
    csr = sp.csr_matrix(x)
    whole = cosine_similarity(csr, 5.0, 10, block_entries=10**12)
    for block_entries in (1, 500, 5000):
        blocked = cosine_similarity(csr, 5.0, 10, block_entries=block_entries)
        assert (blocked != whole).nnz == 0
    # Slow reference: dense shrunk cosine, top 10 per row (ties by column index).
    cooc = x.T @ x
    norms = np.sqrt(np.diag(cooc))
    sim = cooc / (norms[:, None] * norms[None, :] + 5.0)
    np.fill_diagonal(sim, 0.0)
    dense = whole.toarray()
    for i in range(90):
        top = np.lexsort((np.arange(90), -sim[i]))[:10]
        top = top[sim[i, top] > 0]
        np.testing.assert_array_equal(np.flatnonzero(dense[i]), np.sort(top))
        np.testing.assert_allclose(dense[i, top], sim[i, top], rtol=1e-6)


def test_itemknn_all_neighbours_is_the_unpruned_dense_cosine() -> None:
    x = shop_matrix(300, 90, seed=6)
    csr = sp.csr_matrix(x)
    cooc = x.T @ x
    norms = np.sqrt(np.diag(cooc))
    sim = cooc / (norms[:, None] * norms[None, :] + 5.0)
    np.fill_diagonal(sim, 0.0)
    everything = cosine_similarity(csr, 5.0, None, block_entries=700)
    np.testing.assert_allclose(everything.toarray(), sim, rtol=1e-6)
    # Pruning to more neighbours than any row has changes nothing.
    assert (cosine_similarity(csr, 5.0, 89) != everything).nnz == 0
    model = ItemKNNModel({"n_neighbors": None, "shrink": 5.0, "binary": True}).fit(dataset_of(x))
    assert model.fit_info_["n_neighbors_kept"] is None and not model.fit_info_["capped_by_memory"]
    assert model.fit_info_["n_entries"] == np.count_nonzero(sim)


def test_itemknn_keeps_as_many_neighbours_as_the_budget_allows() -> None:
    x = shop_matrix(300, 90, seed=7)
    bounds = cooccurrence_row_bounds(sp.csr_matrix(x))
    # The bound is exact here up to repeated pairs: never below the true co-occurring items.
    true_counts = np.count_nonzero(x.T @ x - np.diag(np.diag(x.T @ x)), axis=1)
    assert np.all(bounds >= true_counts)
    unlimited = 10**12
    assert neighbours_within_budget(bounds, None, unlimited) is None
    assert neighbours_within_budget(bounds, 20, unlimited) == 20
    # A budget of exactly 10 entries per row (hand arithmetic: every row has > 10 candidates).
    assert bounds.min() > 10
    budget = 90 * 10 * BYTES_PER_KEPT_ENTRY
    assert neighbours_within_budget(bounds, None, budget) == 10
    assert neighbours_within_budget(bounds, 5, budget) == 5
    assert neighbours_within_budget(bounds, None, 1) == 1
    gib = budget / GIB
    model = ItemKNNModel({"n_neighbors": None, "shrink": 5.0, "max_memory_gb": gib})
    model.fit(dataset_of(x))
    assert model.fit_info_["n_neighbors_kept"] == 10 and model.fit_info_["capped_by_memory"]
    assert np.diff(model.similarity_.indptr).max() <= 10
    reference = cosine_similarity(sp.csr_matrix(x), 5.0, 10)
    assert (model.similarity_ != reference).nnz == 0


# ---------------------------------------------------------------------- 17k items
_LARGE_FIT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np, scipy.sparse as sp
    from digirec.models.ease import ease_weights, plan_dense
    from digirec.memory import memory_budget_bytes

    n_users, n_items, lam = 30_000, 17_000, 200.0
    rng = np.random.default_rng(7)
    nnz = 400_000
    rows = rng.integers(0, n_users, nnz)
    cols = np.minimum(rng.zipf(1.3, nnz) - 1, n_items - 1)
    cols = np.where(rng.random(nnz) < 0.5, rng.integers(0, n_items, nnz), cols)
    x = sp.csr_matrix((np.ones(nnz), (rows, cols)), shape=(n_users, n_items))
    x.data[:] = 1.0
    n_dense, dtype = plan_dense(n_items, memory_budget_bytes())
    assert n_dense == n_items, (n_dense, n_items)
    start = time.perf_counter()
    b = ease_weights(x, lam, dtype=dtype)
    seconds = time.perf_counter() - start
    # (G + λI) B = (G + λI) - diag(1 / P_jj): off the diagonal, ((G + λI) B)_ij = G_ij.
    gram = (x.T @ x).tocsc()
    cols_checked = [0, 1, 5, 100, 4_000, 16_999]
    worst = 0.0
    for j in cols_checked:
        lhs = gram @ b[:, j].astype(np.float64) + lam * b[:, j]
        rhs = gram[:, j].toarray().ravel()
        off = np.arange(n_items) != j
        worst = max(worst, float(np.abs(lhs[off] - rhs[off]).max() / max(1.0, rhs.max())))
    print(json.dumps({
        "shape": list(b.shape), "dtype": str(b.dtype), "diag_zero": bool(np.all(np.diag(b) == 0)),
        "worst": worst, "seconds": seconds, "precision": np.dtype(dtype).name,
    }))
    """
)


@pytest.mark.slow
def test_ease_fits_17k_items_with_default_threads() -> None:
    # The catalogue size that crashed OpenBLAS's dpotrf on 2 threads, in the precision that
    # crashed (float64). Default threads: no OPENBLAS/OMP limits are set for the child. A 6 GiB
    # budget holds the float64 plan (two 17,000² float64 arrays: 4.6 GB), so it is chosen.
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env[MAX_MEMORY_ENV] = "6"
    proc = subprocess.run(
        [sys.executable, "-c", _LARGE_FIT], capture_output=True, text=True, env=env, timeout=3000
    )
    assert proc.returncode == 0, f"EASE fit crashed (rc={proc.returncode}): {proc.stderr[-2000:]}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["shape"] == [17_000, 17_000] and result["dtype"] == "float32"
    assert result["precision"] == "float64"
    assert result["diag_zero"]
    assert result["worst"] < 1e-3, result


# ---------------------------------------------------------------------- softmax and blend memory
def sequences_dataset(n_users: int, n_items: int, length: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    rows = [
        (f"u{u}", f"i{i}", float(t))
        for u in range(n_users)
        for t, i in enumerate(rng.choice(n_items, size=length, replace=False))
    ]
    return Dataset.from_interactions(
        pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP])
    )


def test_sasrec_switches_to_sampled_softmax_past_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from digirec.models.sasrec import AUTO_NEGATIVES, SASRecConfig, SASRecModel, softmax_plan

    config = SASRecConfig(batch_size=2)
    lengths = np.array([3, 7, 5, 1])
    # Largest batch: the 2 longest rows, 7 + 5 targets, x 1000 items x 3 float32 arrays.
    monkeypatch.setenv(MAX_MEMORY_ENV, str(12 * 1000 * 12 / GIB))
    assert softmax_plan(config, lengths, 1000) == (
        0,
        {"full_softmax_peak_bytes": 144_000, "n_items": 1000, "loss": "full", "n_negatives": 0},
    )
    monkeypatch.setenv(MAX_MEMORY_ENV, str(143_000 / GIB))
    n_negatives, info = softmax_plan(config, lengths, 1000)
    assert (
        n_negatives == AUTO_NEGATIVES and info["switched_from_full"] and info["loss"] == "sampled"
    )
    # A configured sampled softmax is kept whatever the budget.
    assert softmax_plan(SASRecConfig(n_negatives=7), lengths, 1000)[0] == 7
    # A real fit under a tiny budget trains with the sampled softmax and says so
    # (its largest batch: 16 rows x 5 targets x 30 items x 12 bytes = 28,800 bytes).
    monkeypatch.setenv(MAX_MEMORY_ENV, str(20_000 / GIB))
    ds = sequences_dataset(40, 30, 6, seed=0)
    model = SASRecModel(
        {"epochs": 1, "hidden": 8, "show_progress": False, "n_threads": 1, "batch_size": 16}
    ).fit(ds)
    assert model.n_negatives_ == AUTO_NEGATIVES and model.fit_info_["loss"] == "sampled"
    assert model.config.n_negatives == 0  # the choice is learned, not written into the config


def test_hybrid_weight_search_sample_shrinks_to_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from digirec.data.split import leave_one_out
    from digirec.models.hybrid import HybridModel

    ds = sequences_dataset(600, 50, 6, seed=1)
    masks = leave_one_out(ds)
    train, valid = ds.subset(masks.train), ds.subset(masks.valid)
    components = [{"model": "pop", "fixed": True}, {"model": "itemknn", "fixed": True}]
    roomy = HybridModel(components=components, weight_step=0.5).fit(train, valid)
    # The hybrid keeps part of validation aside; the search uses all the rest (300 here).
    searchable = roomy.n_weight_search_users_
    assert searchable > 200
    # 2 components + blend + top-k copy: 4 float32 rows of 50 items = 800 bytes per user.
    monkeypatch.setenv(MAX_MEMORY_ENV, str(150 * 800 / GIB))
    tight = HybridModel(components=components, weight_step=0.5).fit(train, valid)
    assert tight.n_weight_search_users_ == 150
    assert tight.fit_info_["weight_search_users"] == 150


def test_slist_refuses_a_catalogue_past_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from digirec.models.slist import SLISTModel

    ds = sequences_dataset(50, 40, 5, seed=2)
    # 5 x 40² x 8 bytes = 64,000 bytes needed; allow 60,000.
    monkeypatch.setenv(MAX_MEMORY_ENV, str(60_000 / GIB))
    with pytest.raises(MemoryBudgetError, match=r"SLIST on 40 items.*the ease model"):
        SLISTModel().fit(ds)
    monkeypatch.setenv(MAX_MEMORY_ENV, str(70_000 / GIB))
    assert SLISTModel().fit(ds).is_fitted


def test_cli_reports_the_memory_budget_error_with_exit_code_2(tmp_path: Path) -> None:
    x = shop_matrix(60, 30, seed=6)
    users, items = np.nonzero(x)
    data = tmp_path / "events.csv"
    pd.DataFrame({C.USER_ID: [f"u{u}" for u in users], C.ITEM_ID: [f"i{i}" for i in items]}).to_csv(
        data, index=False
    )
    params = json.dumps({"allow_approximate": False, "max_memory_gb": 1e-6})
    command = [sys.executable, "-m", "digirec.cli", "train", "--data", str(data)]
    command += ["--model", "ease", "--params", params, "--out", str(tmp_path / "bundle")]
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "EASE on 30 items" in proc.stderr and "allow_approximate" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_twotower_switches_to_sampled_softmax_past_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from digirec.models.twotower import TwoTowerModel

    ds = sequences_dataset(40, 30, 6, seed=3)
    params = {"epochs": 1, "dim": 8, "hidden": 8, "show_progress": False, "n_threads": 1}
    params |= {"batch_size": 32, "n_negatives": 16}
    roomy = TwoTowerModel(params).fit(ds)
    # 3 float32 arrays of 32 examples x 30 training items = 11,520 bytes.
    assert roomy.loss_ == "full" and roomy.fit_info_["full_softmax_peak_bytes"] == 11_520
    monkeypatch.setenv(MAX_MEMORY_ENV, str(11_000 / GIB))
    tight = TwoTowerModel(params).fit(ds)
    assert tight.loss_ == "sampled" and tight.fit_info_["switched_from_full"]
    assert tight.config.loss == "full"  # learned, not written into the config
