"""Sampled softmax of the deep models (used where a full softmax over the catalogue is too big)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from digirec.data.dataset import Dataset  # noqa: E402
from digirec.models.neural.losses import sampled_softmax_cross_entropy  # noqa: E402
from digirec.models.sasrec import SASRecModel  # noqa: E402


def test_sampled_softmax_matches_a_hand_computed_loss() -> None:
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(5, 4, generator=gen)
    items = torch.randn(9, 4, generator=gen)
    targets = torch.tensor([0, 3, 3, 8, 1])
    torch.manual_seed(11)
    loss = sampled_softmax_cross_entropy(hidden, items, targets, 6)
    torch.manual_seed(11)
    negatives = torch.randint(0, 9, (6,)).tolist()
    expected = 0.0
    rows = items.tolist()
    for h, t in zip(hidden.tolist(), targets.tolist(), strict=True):
        score = [sum(a * b for a, b in zip(h, row, strict=True)) for row in rows]
        # A sampled negative equal to the example's own target is left out.
        denominator = math.exp(score[t]) + sum(math.exp(score[j]) for j in negatives if j != t)
        expected += -(score[t] - math.log(denominator))
    assert float(loss) == pytest.approx(expected / 5, rel=1e-5)


def test_sasrec_with_sampled_softmax_learns_a_planted_sequence() -> None:
    # Every user walks the same cycle of 30 items: the next item is always determined.
    rows = [(f"u{u}", f"i{(u + t) % 30}", float(t)) for u in range(60) for t in range(12)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    dataset = Dataset.from_interactions(frame)
    model = SASRecModel(
        SASRecModel.config_class(
            epochs=60, batch_size=16, n_negatives=8, hidden=32, dropout=0.0, n_threads=1,
            random_state=0,
            show_progress=False,
        )
    ).fit(dataset)  # fmt: skip
    users = [f"u{u}" for u in range(60)]
    reco = model.recommend(users, k=1, filter_seen=False)
    got = dict(zip(reco["user_id"], reco["item_id"], strict=True))
    # The item after each user's last one (t = 11) is item (u + 12) mod 30.
    hits = sum(got[f"u{u}"] == f"i{(u + 12) % 30}" for u in range(60))
    assert hits >= 57
    losses = np.array([r.loss for r in model.history_.records])
    assert losses[-1] < 0.5 * losses[0]
