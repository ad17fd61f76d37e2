"""SASRec: network shapes and masks, sequence arrays, learning a planted order, persistence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from early_stopping_checks import check_fit_leaves_the_config_alone

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.split import leave_one_out
from digirec.models.base import Recommender
from digirec.models.neural.losses import full_softmax_cross_entropy
from digirec.models.neural.sasrec import SASRec, attention_mask
from digirec.models.sasrec import SASRecModel, next_item_examples, right_aligned
from digirec.training.trainer import torch_threads

N_ITEMS = 30
FAST = {
    "hidden": 32,
    "n_blocks": 1,
    "dropout": 0.1,
    "max_len": 10,
    "lr": 0.01,
    "batch_size": 32,
    "epochs": 30,
    "n_threads": 1,
    "show_progress": False,
}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # Tiny tensors: one thread is fastest, and a busy shared machine punishes more.
    with torch_threads(1):
        yield


# ---------------------------------------------------------------------- network
def test_shapes() -> None:
    net = SASRec(n_items=12, max_len=6, hidden=8, n_blocks=2, n_heads=2, dropout=0.0).eval()
    seqs = torch.tensor([[0, 0, 1, 2, 3], [4, 5, 6, 7, 8]])
    hidden = net.encode(seqs)
    assert hidden.shape == (2, 5, 8)
    assert net.logits(hidden).shape == (2, 5, 12)
    assert net(seqs).shape == (2, 12)
    assert net.item_vectors.shape == (12, 8)
    with pytest.raises(ValueError, match="max_len"):
        net.encode(torch.ones(1, 7, dtype=torch.long))
    with pytest.raises(ValueError, match="divisible"):
        SASRec(n_items=5, hidden=10, n_heads=3)


def test_attention_mask() -> None:
    real = torch.tensor([[False, True, True]])
    allowed = attention_mask(real)[0, 0]
    expected = torch.tensor(
        [
            [True, False, False],  # padding query: only itself (never an empty softmax row)
            [False, True, False],  # first real item: itself, not the padding before it
            [False, True, True],  # no future, no padding
        ]
    )
    assert torch.equal(allowed, expected)


def test_output_at_t_ignores_later_items() -> None:
    torch.manual_seed(0)
    net = SASRec(n_items=20, max_len=8, hidden=16, n_blocks=2, n_heads=2, dropout=0.3).eval()
    seqs = torch.randint(1, 21, (4, 8))
    changed = seqs.clone()
    t = 4
    changed[:, t + 1 :] = torch.randint(1, 21, (4, 8 - t - 1))
    with torch.no_grad():
        before, after = net.encode(seqs), net.encode(changed)
    torch.testing.assert_close(before[:, : t + 1], after[:, : t + 1])
    assert not torch.allclose(before[:, t + 1 :], after[:, t + 1 :])


def test_padding_and_trimming_do_not_change_the_output() -> None:
    torch.manual_seed(1)
    net = SASRec(n_items=20, max_len=8, hidden=16, n_blocks=2, dropout=0.0).eval()
    full = torch.tensor([[0, 0, 0, 0, 0, 3, 9, 4]])
    with torch.no_grad():
        # Trimming leading padding columns (right-aligned positions) gives the same scores.
        torch.testing.assert_close(net(full), net(full[:, -3:]))
        # A short sequence scored next to a long one (more padding) gets the same scores:
        # padding is masked in attention, not just zero.
        long = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
        torch.testing.assert_close(net(torch.cat([full, long]))[:1], net(full))


def test_one_batch_overfit() -> None:
    torch.manual_seed(0)
    net = SASRec(n_items=15, max_len=5, hidden=32, n_blocks=2, dropout=0.0)
    seqs = torch.tensor([[0, 1, 2, 3, 4], [0, 0, 7, 8, 9], [11, 12, 13, 14, 15]])
    targets = torch.tensor([[0, 2, 3, 4, 5], [0, 0, 8, 9, 10], [12, 13, 14, 15, 1]])
    mask = targets > 0
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    losses = []
    for _ in range(150):
        optimizer.zero_grad()
        loss = full_softmax_cross_entropy(net.logits(net.encode(seqs)[mask]), targets[mask] - 1)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[0] > 2.0
    assert losses[-1] < 0.05


# ---------------------------------------------------------------------- sequence arrays
def test_sequence_arrays() -> None:
    sequences = [np.array([5, 6, 7]), np.array([8]), np.array([1, 2, 3, 4, 5]), np.array([], int)]
    np.testing.assert_array_equal(
        right_aligned(sequences, 3), [[6, 7, 8], [0, 0, 9], [4, 5, 6], [0, 0, 0]]
    )
    inputs, targets, lengths = next_item_examples(sequences, 3)
    # Users with fewer than 2 items have no target and are dropped.
    np.testing.assert_array_equal(inputs, [[0, 6, 7], [3, 4, 5]])
    np.testing.assert_array_equal(targets, [[0, 7, 8], [4, 5, 6]])
    np.testing.assert_array_equal(lengths, [2, 3])


# ---------------------------------------------------------------------- the estimator
def planted_order(n_users: int = 160, seed: int = 0) -> Dataset:
    """Every user walks the catalogue in a fixed order: item i is always followed by item i+1."""
    rng = np.random.default_rng(seed)
    names = [f"sku-{n:02d}" for n in rng.permutation(N_ITEMS)]  # ids unrelated to the order
    rows = []
    for user in range(n_users):
        start = int(rng.integers(N_ITEMS))
        length = int(rng.integers(6, 14))
        for step in range(length):
            rows.append((f"u{user:03d}", names[(start + step) % N_ITEMS], 1000.0 * user + step))
    frame = pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP])
    return Dataset.from_interactions(frame.sample(frac=1.0, random_state=seed), name="order")


def successor(dataset: Dataset, item_id: str) -> str:
    order = [f"sku-{n:02d}" for n in np.random.default_rng(0).permutation(N_ITEMS)]
    return order[(order.index(item_id) + 1) % N_ITEMS]


@pytest.fixture(scope="module")
def order_data() -> Dataset:
    return planted_order()


@pytest.fixture(scope="module")
def fitted(order_data: Dataset) -> SASRecModel:
    return SASRecModel(FAST).fit(order_data)


def test_learns_the_planted_order(fitted: SASRecModel, order_data: Dataset) -> None:
    users = order_data.user_map.to_list()[:60]
    top1 = fitted.recommend(users, k=1)
    last = order_data.interactions.groupby(C.USER_IDX)[C.ITEM_IDX].last()
    last_items = order_data.item_map.to_external(last.loc[order_data.user_map.to_internal(users)])
    hits = [
        successor(order_data, prev) == rec
        for prev, rec in zip(last_items, top1[C.ITEM_ID], strict=True)
    ]
    assert np.mean(hits) >= 0.9


def test_history_follows_the_order(fitted: SASRecModel, order_data: Dataset) -> None:
    order = [f"sku-{n:02d}" for n in np.random.default_rng(0).permutation(N_ITEMS)]
    histories = {
        f"s{start}": [order[(start + j) % N_ITEMS] for j in range(4)] for start in range(N_ITEMS)
    }
    recs = fitted.recommend_from_history(histories, k=1)
    hits = [
        rec == successor(order_data, histories[key][-1])
        for key, rec in zip(recs[C.USER_ID], recs[C.ITEM_ID], strict=True)
    ]
    assert np.mean(hits) >= 0.9
    # The order of a history matters: the same items reversed point somewhere else.
    forward = fitted.recommend_from_history([histories["s3"]], k=1)[C.ITEM_ID].iloc[0]
    backward = fitted.recommend_from_history([histories["s3"][::-1]], k=1)[C.ITEM_ID].iloc[0]
    assert forward != backward


def test_early_stopping_on_validation(order_data: Dataset) -> None:
    masks = leave_one_out(order_data)
    train, valid = order_data.subset(masks.train), order_data.subset(masks.valid)
    # Per-epoch evaluation on the raw metric (the defaults space and smooth them).
    settings = {"epochs": 40, "patience": 3, "min_steps_between_evals": 0, "smoothing_window": 1}
    model = SASRecModel({**FAST, **settings}).fit(train, valid)
    history = model.history_
    assert history is not None and history.metric_name == "ndcg@10"
    assert all(r.metric is not None for r in history.records)
    # The valid target is the successor of the last training item: nearly perfect NDCG.
    assert history.best_metric is not None and history.best_metric > 0.8
    if history.stopped_early:
        assert history.n_epochs - history.best_epoch == 3


def test_deterministic_and_save_load(
    fitted: SASRecModel, order_data: Dataset, tmp_path: Path
) -> None:
    users = np.arange(order_data.n_users)
    again = SASRecModel(FAST).fit(order_data)
    np.testing.assert_array_equal(fitted._score_users(users), again._score_users(users))

    loaded = Recommender.load(fitted.save(tmp_path / "sasrec"))
    assert isinstance(loaded, SASRecModel)
    np.testing.assert_array_equal(loaded._score_users(users), fitted._score_users(users))
    histories = [["sku-01", "sku-02"], ["sku-07"]]
    pd.testing.assert_frame_equal(
        loaded.recommend_from_history(histories, k=5), fitted.recommend_from_history(histories, k=5)
    )
    assert loaded.history_ == fitted.history_
    assert fitted.history_ is not None and fitted.history_.n_epochs == FAST["epochs"]


def test_fit_leaves_the_config_alone(order_data: Dataset) -> None:
    """Issue 12: the epoch early stopping chose is learned state, never written into ``config``,
    so a second ``fit(train, valid)`` may train as long as the first (it is not capped)."""
    masks = leave_one_out(order_data)
    train, valid = order_data.subset(masks.train), order_data.subset(masks.valid)
    settings = {"epochs": 20, "patience": 2, "min_steps_between_evals": 0, "smoothing_window": 1}
    check_fit_leaves_the_config_alone(SASRecModel, {**FAST, **settings}, train, valid)
