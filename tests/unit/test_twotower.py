"""Two-tower hybrid: network pieces, one-batch overfit, sampled softmax, cold items and users."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.sequences import user_sequences
from digirec.data.split import cold_items, cold_users
from digirec.data.synth import SynthConfig, generate_shop
from digirec.evaluation.metrics import recall_at_k, truth_from_lists
from digirec.exceptions import ConfigError
from digirec.features.profile import build_profiles
from digirec.models.base import Recommender
from digirec.models.neural.losses import full_softmax_cross_entropy
from digirec.models.neural.twotower import PAD, TwoTower, csr_rows
from digirec.models.popular import PopularModel
from digirec.models.twotower import TwoTowerModel, _ExampleBatches, _loss, last_items
from digirec.training.trainer import torch_threads

K = 20
#: Small, fast settings for the synthetic shop (a few seconds per fit on one thread).
SHOP_FAST = {
    "dim": 32,
    "epochs": 8,
    "lr": 3e-3,
    "batch_size": 256,
    "n_threads": 1,
    "show_progress": False,
}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # Tiny tensors: one thread is fastest, and a busy shared machine punishes more.
    with torch_threads(1):
        yield


def _csr(dense: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    m = sp.csr_matrix(np.asarray(dense, dtype=np.float32))
    return (
        torch.from_numpy(m.indptr.astype(np.int64)),
        torch.from_numpy(m.indices.astype(np.int64)),
        torch.from_numpy(m.data),
        int(m.shape[1]),
    )


# ---------------------------------------------------------------------- network
def test_csr_rows_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    dense = rng.random((7, 5)) * (rng.random((7, 5)) < 0.4)
    dense[3] = 0.0  # an empty row
    indptr, indices, values, _ = _csr(dense)
    rows = torch.tensor([3, 0, 6, 0, 2])
    positions, offsets = csr_rows(indptr, indices, rows)
    expected = sp.csr_matrix(dense.astype(np.float32))[rows.numpy()]
    np.testing.assert_array_equal(indices[positions].numpy(), expected.indices)
    np.testing.assert_allclose(values[positions].numpy(), expected.data)
    np.testing.assert_array_equal(offsets.numpy(), expected.indptr[:-1])


def test_shapes_and_masks() -> None:
    torch.manual_seed(0)
    content = np.eye(6, 4)
    net = TwoTower(
        n_users=3,
        n_items=6,
        item_content=_csr(content),
        user_attributes=_csr(np.eye(3, 2)),
        user_profile=None,
        dim=8,
        hidden=16,
        dropout=0.0,
    ).eval()
    items = net.item_vectors(torch.arange(6), torch.ones(6, dtype=torch.bool))
    assert items.shape == (6, 9)  # 8 dimensions and the item bias
    pooled, has = net.pool_history(items, torch.tensor([[PAD, PAD], [PAD, 2], [1, 4]]))
    assert has.tolist() == [False, True, True]
    torch.testing.assert_close(pooled[0], torch.zeros(8))
    torch.testing.assert_close(pooled[1], items[2, :-1])
    torch.testing.assert_close(pooled[2], (items[1, :-1] + items[4, :-1]) / 2)
    on = torch.ones(3, dtype=torch.bool)
    users = net.user_vectors(
        torch.arange(3),
        id_keep=on,
        attributes_keep=on,
        profile_keep=on,
        history=pooled,
        history_keep=has,
    )
    assert users.shape == (3, 8) and net.scores(users, items).shape == (3, 6)
    torch.testing.assert_close(
        net.scores(users, items)[:, 4], net.pair_scores(users, items[[4, 4, 4]])
    )
    # A dropped id does not matter: changing the embedding changes nothing.
    off = torch.zeros(6, dtype=torch.bool)
    before = net.item_vectors(torch.arange(6), off)
    with torch.no_grad():
        net.item_id.weight.add_(1.0)
    torch.testing.assert_close(net.item_vectors(torch.arange(6), off), before)


def test_one_batch_overfit() -> None:
    torch.manual_seed(0)
    n_users, n_items = 6, 12
    net = TwoTower(n_users, n_items, item_content=_csr(np.eye(n_items)), dim=16, dropout=0.0)
    users = torch.arange(n_users)
    targets = torch.tensor([3, 7, 1, 11, 0, 5])
    on = torch.ones(n_users, dtype=torch.bool)
    items_on = torch.ones(n_items, dtype=torch.bool)
    history = torch.full((n_users, 1), PAD)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    losses = []
    for _ in range(150):
        optimizer.zero_grad()
        items = net.item_vectors(torch.arange(n_items), items_on)
        pooled, has = net.pool_history(items, history)
        u = net.user_vectors(
            users, id_keep=on, attributes_keep=on, profile_keep=on, history=pooled, history_keep=has
        )
        loss = full_softmax_cross_entropy(net.scores(u, items), targets)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[0] > 2.0
    assert losses[-1] < 0.05
    with torch.no_grad():
        net.eval()
        items = net.item_vectors(torch.arange(n_items), items_on)
        u = net.user_vectors(
            users, id_keep=on, attributes_keep=on, profile_keep=on, history=pooled, history_keep=has
        )
        assert net.scores(u, items).argmax(dim=1).tolist() == targets.tolist()


def test_last_items() -> None:
    seqs = [np.array([5, 6, 7]), np.array([], dtype=np.int64), np.array([1])]
    np.testing.assert_array_equal(last_items(seqs, 2), [[6, 7], [-1, -1], [-1, 1]])


# ---------------------------------------------------------------------- training batches
def _tiny_sequences() -> tuple[list[np.ndarray], np.ndarray]:
    sequences = [np.array([0, 2, 3]), np.array([], dtype=np.int64), np.array([3, 0])]
    counts = np.bincount(np.concatenate(sequences), minlength=5)  # items 1 and 4: cold
    return sequences, counts


def test_examples_see_only_the_past_and_skip_cold_items() -> None:
    sequences, counts = _tiny_sequences()
    cfg = TwoTowerModel(history_len=2, batch_size=100, loss="full").config
    source = _ExampleBatches(sequences, counts, cfg, item_id_dropout=0.5)
    (batch,) = list(source(np.random.default_rng(0)))
    items = batch["items"].numpy()
    assert items.tolist() == [0, 2, 3]  # the softmax never contains items 1 and 4
    examples = {
        (int(u), int(items[t])): sorted(int(items[h]) for h in hist if h != PAD)
        for u, t, hist in zip(
            batch["users"], batch["targets"], batch["history"].numpy(), strict=True
        )
    }
    assert examples == {(0, 0): [], (0, 2): [0], (0, 3): [0, 2], (2, 3): [], (2, 0): [3]}


def test_sampled_loss_is_log_q_corrected() -> None:
    sequences, counts = _tiny_sequences()
    cfg = TwoTowerModel(loss="sampled", n_negatives=4, batch_size=100).config
    (batch,) = list(_ExampleBatches(sequences, counts, cfg, 0.0)(np.random.default_rng(1)))
    torch.manual_seed(0)
    net = TwoTower(3, 5, dim=8, dropout=0.0).eval()
    with torch.no_grad():
        loss = _loss(net, batch)
    # The same number by hand: logit - log(n_negatives * q) for the target and each negative,
    # accidental hits removed.
    with torch.no_grad():
        items = net.item_vectors(batch["items"], batch["item_keep"])
        pooled, has = net.pool_history(items, batch["history"])
        users = net.user_vectors(
            batch["users"],
            id_keep=batch["id_keep"],
            attributes_keep=batch["attributes_keep"],
            profile_keep=batch["profile_keep"],
            history=pooled,
            history_keep=has & batch["history_keep"],
        )
        q = counts[batch["items"].numpy()] / counts.sum()
        log_q = np.log(4 * q)
        total = 0.0

        def score(row: int, item: int) -> float:
            return float(users[row] @ items[item, :-1] + items[item, -1]) - log_q[item]

        for row in range(len(users)):
            t = int(batch["targets"][row])
            negatives = [n for n in batch["negatives"].tolist() if n != t]
            logits = [score(row, t)] + [score(row, n) for n in negatives]
            total += -logits[0] + float(np.log(np.exp(logits).sum()))
    assert float(loss) == pytest.approx(total / len(users), rel=1e-5)


def test_invalid_rates() -> None:
    with pytest.raises(ConfigError):
        TwoTowerModel(cold_user_rate=0.6, history_only_rate=0.5)


# ---------------------------------------------------------------------- cold start on the shop
@dataclass(frozen=True)
class Split:
    data: Dataset
    train: Dataset
    test: Dataset
    held_out: np.ndarray


@pytest.fixture(scope="module")
def shop() -> Dataset:
    # ~900 items: the 10% held out are enough candidates for Recall@20 to mean something.
    return Dataset.from_raw(generate_shop(SynthConfig(n_users=800, n_items=1000, random_state=3)))


@pytest.fixture(scope="module")
def item_split(shop: Dataset) -> Split:
    split = cold_items(shop, 0.1, random_state=0)
    return Split(shop, shop.subset(~split.mask), shop.subset(split.mask), split.held_out)


@pytest.fixture(scope="module")
def user_split(shop: Dataset) -> Split:
    split = cold_users(shop, 0.1, random_state=0)
    return Split(shop, shop.subset(~split.mask), shop.subset(split.mask), split.held_out)


@pytest.fixture(scope="module")
def cold_item_model(item_split: Split) -> TwoTowerModel:
    return TwoTowerModel(SHOP_FAST).fit(item_split.train)


def _recall(reco: np.ndarray, truth: sp.csr_matrix) -> float:
    return float(np.nanmean(recall_at_k(reco, truth, K)))


def _cold_item_recall(model: Recommender, split: Split, *, among_cold: bool) -> float:
    truth = split.test.user_item_matrix(binary=True)
    users = np.flatnonzero(np.diff(truth.indptr) > 0)
    cold = np.zeros(split.data.n_items, dtype=bool)
    cold[split.held_out] = True
    reco, _ = model.recommend_idx(users, K, candidates=cold if among_cold else None)
    return _recall(reco, truth[users])


def test_cold_items_are_scored_from_content(
    cold_item_model: TwoTowerModel, item_split: Split
) -> None:
    pop = PopularModel().fit(item_split.train)
    # Ranked among the new items only (a "new arrivals" shelf): popularity knows nothing about
    # them and falls back to its random tie-break; the content path must do far better.
    ours = _cold_item_recall(cold_item_model, item_split, among_cold=True)
    base = _cold_item_recall(pop, item_split, among_cold=True)
    chance = K / len(item_split.held_out)
    assert ours >= 2 * base, (ours, base)
    assert ours >= 2 * chance, (ours, chance)
    # Ranked among all items, popularity never shows a new item; the two-tower model does.
    assert _cold_item_recall(pop, item_split, among_cold=False) == 0.0
    assert _cold_item_recall(cold_item_model, item_split, among_cold=False) > 0.1


def test_cold_items_ignore_their_untrained_id(
    cold_item_model: TwoTowerModel, item_split: Split
) -> None:
    assert not cold_item_model.item_has_id_[item_split.held_out].any()
    users = np.arange(10)
    before = cold_item_model._score_users(users)
    with torch.no_grad():
        cold_item_model.net_.item_id.weight[torch.from_numpy(item_split.held_out)] += 5.0
    cold_item_model._item_cache = None
    np.testing.assert_array_equal(cold_item_model._score_users(users), before)


def test_cold_users_by_attributes_and_history(user_split: Split) -> None:
    model = TwoTowerModel(SHOP_FAST).fit(user_split.train)
    pop = PopularModel().fit(user_split.train)
    held = user_split.held_out
    data = user_split.data

    # Known by attributes only: users in the map without a training event.
    assert not model.user_has_id_[held].any()
    truth = user_split.test.user_item_matrix(binary=True)[held]
    ours, _ = model.recommend_idx(held, K)
    base, _ = pop.recommend_idx(held, K)
    attr_r, attr_pop = _recall(ours, truth), _recall(base, truth)
    # Age band, gender and city tier say little about what a shopper buys (popularity per age
    # band is only ~10% above global popularity here): attributes must stay near the
    # popularity they start from, and far better than chance. The ratio to popularity spreads
    # with the seed -- 1.13 / 0.89 / 0.96 at random_state 0 / 1 / 2 with the leak-free
    # profile, 1.18 / 0.87 / 1.02 with the earlier leaky one -- hence the 0.8 floor.
    assert attr_r >= 0.8 * attr_pop, (attr_r, attr_pop)
    assert attr_r >= 3 * K / data.n_items, attr_r

    # Known by the first half of their history only: the second half is the truth.
    seqs = user_sequences(user_split.test)
    halves = [(seqs[u][: len(seqs[u]) // 2], seqs[u][len(seqs[u]) // 2 :]) for u in held]
    histories = {str(i): list(data.item_map.to_external(h)) for i, (h, _) in enumerate(halves)}
    truth_second = truth_from_lists([t for _, t in halves], data.n_items)

    def history_recall(m: Recommender) -> float:
        recs = m.recommend_from_history(histories, k=K)
        reco = np.full((len(held), K), -1, dtype=np.int64)
        for key, rows in recs.groupby(C.USER_ID, sort=False):
            reco[int(key), : len(rows)] = data.item_map.to_internal(rows[C.ITEM_ID].tolist())
        return _recall(reco, truth_second)

    hist_r, hist_pop = history_recall(model), history_recall(pop)
    assert hist_r >= 2 * hist_pop, (hist_r, hist_pop)


# ---------------------------------------------------------------------- losses, persistence
def test_sampled_softmax_learns_with_early_stopping(item_split: Split) -> None:
    params = {**SHOP_FAST, "epochs": 4, "loss": "sampled", "n_negatives": 64, "patience": 2}
    # Validation on the cold items' interactions: early stopping watches the cold-start metric.
    model = TwoTowerModel(params).fit(item_split.train, item_split.test)
    history = model.history_
    assert history is not None and all(r.metric is not None for r in history.records)
    assert model.config.epochs == 4  # fit leaves the config alone (issue 12)
    # What a refit without validation trains: the learned choice, in the fitted config.
    assert model.get_config()["epochs"] == history.best_epoch
    chance = K / len(item_split.held_out)
    assert _cold_item_recall(model, item_split, among_cold=True) >= 2 * chance


def test_save_load_serves_cold_users_and_items(
    cold_item_model: TwoTowerModel, item_split: Split, tmp_path: Path
) -> None:
    loaded = Recommender.load(cold_item_model.save(tmp_path / "twotower"))
    assert isinstance(loaded, TwoTowerModel)
    users = np.arange(item_split.data.n_users)
    np.testing.assert_array_equal(loaded._score_users(users), cold_item_model._score_users(users))
    new_items = list(item_split.data.item_map.to_external(item_split.held_out[:3]))
    pd.testing.assert_frame_equal(
        loaded.recommend_from_history([new_items], k=5),
        cold_item_model.recommend_from_history([new_items], k=5),
    )
    pd.testing.assert_frame_equal(
        loaded.similar_items(new_items, k=5), cold_item_model.similar_items(new_items, k=5)
    )


def test_without_catalogue_or_user_table(item_split: Split) -> None:
    bare = Dataset(
        user_map=item_split.train.user_map,
        item_map=item_split.train.item_map,
        interactions=item_split.train.interactions,
        name="bare",
    )
    model = TwoTowerModel({**SHOP_FAST, "epochs": 2}).fit(bare)
    assert model.item_content_ is None and model.user_attributes_ is None
    assert model.user_profile_ is not None  # activity and recency need no tables
    recs = model.recommend(item_split.train.user_map.to_list()[:5], k=5)
    assert len(recs) == 25


# ---------------------------------------------------------------------- no leaks
def test_content_features_ignore_the_held_out_items(item_split: Split) -> None:
    """The recipe is fitted on the training items: rewriting a held-out item's catalogue row
    (new brand, new words, a new price) leaves every training item's features unchanged."""
    from digirec.models.twotower import TwoTowerConfig, item_content_matrix

    train = item_split.train
    assert train.items is not None
    config = TwoTowerConfig(text_dim=16)
    before = item_content_matrix(train, config)
    items = train.items.copy()
    held = item_split.held_out[:20]
    items.loc[held, C.BRAND] = "Zyxwv Unseen Brand"
    items.loc[held, C.TITLE] = "qqqq wwww eeee rrrr unheard-of product words"
    items.loc[held, C.PRICE] = 99_999.0
    changed = Dataset(
        user_map=train.user_map,
        item_map=train.item_map,
        interactions=train.interactions,
        items=items,
        users=train.users,
        name=train.name,
    )
    after = item_content_matrix(changed, config)
    assert before is not None and after is not None and before.shape == after.shape
    warm = np.flatnonzero(np.bincount(train.item_idx, minlength=train.n_items) > 0)
    np.testing.assert_allclose(after[warm].toarray(), before[warm].toarray(), atol=1e-6)
    # The rewritten rows did change (the test would be vacuous otherwise).
    assert not np.allclose(after[held].toarray(), before[held].toarray())


def test_training_profile_never_contains_the_target() -> None:
    """User "a" buys 4 items of brand X, then 4 of brand Y. The training profile is that of
    the first half (all X), shown only with the examples of the second half."""
    from digirec.models.twotower import prefix_profiles, user_feature_matrices

    items = pd.DataFrame(
        {
            C.ITEM_ID: [f"i{n}" for n in range(10)],
            C.BRAND: ["X"] * 5 + ["Y"] * 5,
            C.CATEGORY: ["c"] * 10,
        }
    )
    rows = [("a", f"i{n}", float(n)) for n in (0, 1, 2, 3, 5, 6, 7, 8)]
    rows += [("b", f"i{n}", 100.0 + n) for n in (4, 9, 0)]
    frame = pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP])
    ds = Dataset.from_interactions(frame, items=items)
    profile, cut = prefix_profiles(ds)
    assert profile is not None
    a, b = ds.user_map.to_internal(["a", "b"])
    assert cut[a] == 4 and cut[b] == 1
    _, names = build_profiles(ds).feature_matrix()
    col_x, col_y = names.index("brand=X"), names.index("brand=Y")
    dense = profile.toarray()
    assert dense[a, col_x] == pytest.approx(1.0) and dense[a, col_y] == 0.0
    # The full profile (used for scoring) has both brands at 1/2.
    _, full = user_feature_matrices(ds)
    assert full is not None
    assert full.toarray()[a, col_x] == pytest.approx(0.5)
    assert full.toarray()[a, col_y] == pytest.approx(0.5)
    # Examples read the prefix profile only at positions >= cut.
    from digirec.models.twotower import TwoTowerConfig

    sequences = user_sequences(ds)
    batches = _ExampleBatches(
        sequences,
        np.bincount(ds.item_idx, minlength=ds.n_items),
        TwoTowerConfig(),
        0.0,
        profile_from=cut,
    )
    start = batches.start_of
    position = np.arange(len(batches.flat)) - start
    expected = position >= cut[batches.user_of]
    np.testing.assert_array_equal(batches.profile_ok, expected)
    assert batches.profile_ok[batches.user_of == a].tolist() == [False] * 4 + [True] * 4
