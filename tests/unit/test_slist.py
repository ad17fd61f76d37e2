"""SLIST: the S / T rows by hand, the closed form against a generic least-squares solve, and
recency-weighted scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.models.slist import SLISTModel, _normalise, slist_weights, transition_rows


def test_transition_rows_by_hand() -> None:
    # One user 0 -> 1 -> 2 (decay 1: weights 1, e^-1, e^-2 ...), one user 3 -> 1.
    past, future = transition_rows([np.array([0, 1, 2]), np.array([3, 1])], 4, 1.0, 50)
    e = np.exp(-1.0)
    np.testing.assert_allclose(
        past.toarray(),
        [
            [1, 0, 0, 0],  # t=0 of user A: item 0
            [e, 1, 0, 0],  # t=1: item 1 now, item 0 one step back
            [0, 0, 0, 1],  # t=0 of user B: item 3
        ],
    )
    np.testing.assert_allclose(
        future.toarray(),
        [
            [0, 1, e, 0],  # after t=0: item 1 next, item 2 one step later
            [0, 0, 1, 0],
            [0, 1, 0, 0],
        ],
    )
    # A short window drops the far positions.
    past, future = transition_rows([np.array([0, 1, 2])], 3, 1.0, 1)
    np.testing.assert_allclose(past.toarray(), [[1, 0, 0], [0, 1, 0]])
    np.testing.assert_allclose(future.toarray(), [[0, 1, 0], [0, 0, 1]])


def _reference(
    x: np.ndarray, s: np.ndarray, t: np.ndarray, alpha: float, lam: float, zero_diag: bool
) -> np.ndarray:
    """Column by column least squares on the stacked system (no normal equations)."""
    n = x.shape[1]
    a = np.vstack([np.sqrt(alpha) * x, np.sqrt(1 - alpha) * s, np.sqrt(lam) * np.eye(n)])
    y = np.vstack([np.sqrt(alpha) * x, np.sqrt(1 - alpha) * t, np.zeros((n, n))])
    b = np.zeros((n, n))
    for j in range(n):
        cols = [i for i in range(n) if i != j] if zero_diag else list(range(n))
        coef, *_ = np.linalg.lstsq(a[:, cols], y[:, j], rcond=None)
        b[cols, j] = coef
    return b


@pytest.mark.parametrize("zero_diag", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_closed_form_matches_least_squares(alpha: float, zero_diag: bool) -> None:
    rng = np.random.default_rng(0)
    n_items = 7
    sequences = [rng.permutation(n_items)[: rng.integers(2, 7)] for _ in range(12)]
    x = sp.csr_matrix(
        (
            np.ones(sum(len(q) for q in sequences)),
            (np.repeat(np.arange(len(sequences)), [len(q) for q in sequences]),
             np.concatenate(sequences)),
        ),
        shape=(len(sequences), n_items),
    )  # fmt: skip
    past, future = transition_rows(sequences, n_items, 2.0, 50)
    x, past, future = _normalise(x, "l2"), _normalise(past, "l2"), _normalise(future, "l2")
    ours = slist_weights(x, past, future, alpha, 3.0, zero_diag, n_threads=1)
    ref = _reference(x.toarray(), past.toarray(), future.toarray(), alpha, 3.0, zero_diag)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    if zero_diag:
        assert np.all(np.diag(ours) == 0)


def test_scores_weight_recent_items_more() -> None:
    # Chains: a -> b always, c -> d always. A history (a, c) must rank d above b (c is newer),
    # and (c, a) b above d, through the public history API.
    rows = []
    for n in range(30):
        rows += [(f"u{n}", "a", 2 * n), (f"u{n}", "b", 2 * n + 1)]
        rows += [(f"v{n}", "c", 2 * n), (f"v{n}", "d", 2 * n + 1)]
    frame = pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP])
    model = SLISTModel({"alpha": 0.2, "lambda": 1.0, "inference_decay": 1.0, "n_threads": 1})
    model.fit(Dataset.from_interactions(frame))
    recs = model.recommend_from_history({"ac": ["a", "c"], "ca": ["c", "a"]}, k=2)
    assert recs[recs[C.USER_ID] == "ac"][C.ITEM_ID].tolist() == ["d", "b"]
    assert recs[recs[C.USER_ID] == "ca"][C.ITEM_ID].tolist() == ["b", "d"]
    # A known user is scored from the stored sequence: u0 saw a, b -> nothing new but c, d.
    assert set(model.recommend(["u0"], k=2)[C.ITEM_ID]) == {"c", "d"}


def test_a_scoring_setting_reuses_the_last_solve() -> None:
    from digirec.models import slist

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            C.USER_ID: rng.integers(0, 30, 400).astype(str),
            C.ITEM_ID: rng.integers(0, 25, 400).astype(str),
            C.TIMESTAMP: np.arange(400.0),
        }
    )
    ds = Dataset.from_interactions(frame)
    a = SLISTModel({"inference_decay": 2.0, "n_threads": 1}).fit(ds)
    b = SLISTModel({"inference_decay": 8.0, "n_threads": 1}).fit(ds)
    assert b.weights_ is a.weights_  # only scoring differs: one solve
    assert not np.array_equal(a._score_users(np.arange(5)), b._score_users(np.arange(5)))
    c = SLISTModel({"alpha": 0.9, "n_threads": 1}).fit(ds)
    assert c.weights_ is not a.weights_
    # The cached answer is the answer: a fresh solve gives the same matrix.
    slist._LAST_SOLVE = None
    fresh = SLISTModel({"inference_decay": 8.0, "n_threads": 1}).fit(ds)
    np.testing.assert_array_equal(fresh.weights_, b.weights_)
    # Another data set (even an equal one) never reuses it.
    other = Dataset.from_interactions(frame.copy())
    assert SLISTModel({"n_threads": 1}).fit(other).weights_ is not fresh.weights_


def test_the_memory_guard_refuses_a_dense_fit_over_budget() -> None:
    from digirec.exceptions import MemoryBudgetError

    frame = pd.DataFrame(
        {C.USER_ID: ["a", "a", "b", "b"], C.ITEM_ID: ["x", "y", "y", "z"], C.TIMESTAMP: range(4)}
    )
    # 3 items need 4 x 9 x 8 = 288 bytes; a budget of ~100 bytes must refuse with a message.
    with pytest.raises(MemoryBudgetError, match="SLIST on 3 items"):
        SLISTModel({"max_memory_gb": 1e-7}).fit(Dataset.from_interactions(frame))
