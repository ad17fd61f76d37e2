"""The shared torch training loop: early stopping, best weights, history, seeds, threads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from digirec.training.trainer import (
    NeuralConfig,
    Trainer,
    TrainerConfig,
    TrainHistory,
    seeded,
    torch_threads,
)


def fast(**overrides: object) -> TrainerConfig:
    settings: dict[str, object] = {"show_progress": False, "n_threads": 1, "device": "cpu"}
    settings.update(overrides)
    return TrainerConfig(**settings)  # type: ignore[arg-type]


class Scalar(nn.Module):
    """One trainable number; its loss pulls it towards 1 (so it changes every epoch)."""

    def __init__(self) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.zeros(()))


def scalar_batches(rng: np.random.Generator) -> Iterator[torch.Tensor]:
    for _ in range(2):
        yield torch.tensor(float(rng.random()))


def scalar_loss(module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    assert isinstance(module, Scalar)
    return (module.value - 1.0) ** 2 + 0.0 * batch


class ScriptedMetric:
    """A fake validation metric: returns the scripted values and records the weights it saw."""

    def __init__(self, module: Scalar, values: list[float]) -> None:
        self.module = module
        self.values = list(values)
        self.seen: list[float] = []

    def __call__(self) -> float:
        assert not self.module.training and not torch.is_grad_enabled()
        self.seen.append(float(self.module.value.detach()))
        return self.values[len(self.seen) - 1]


def test_early_stopping_after_patience_and_restores_best() -> None:
    module = Scalar()
    metric = ScriptedMetric(module, [0.1, 0.5, 0.3, 0.4, 0.45, 0.9, 0.9])
    history = Trainer(fast(epochs=7, patience=3, lr=0.1)).fit(
        module, scalar_batches, scalar_loss, metric
    )
    # Best at epoch 2; epochs 3, 4, 5 do not improve -> stop after epoch 5 (0.9 never seen).
    assert history.n_epochs == 5
    assert history.stopped_early
    assert history.best_epoch == 2
    assert history.best_metric == pytest.approx(0.5)
    assert [r.metric for r in history.records] == pytest.approx([0.1, 0.5, 0.3, 0.4, 0.45])
    # The module holds the weights evaluated at epoch 2, not the last ones.
    assert len(set(metric.seen)) == 5
    assert float(module.value.detach()) == metric.seen[1]
    assert not module.training


def test_minimise_mode_and_min_delta() -> None:
    module = Scalar()
    metric = ScriptedMetric(module, [1.0, 0.8, 0.79, 0.7, 0.9, 0.95])
    history = Trainer(fast(epochs=6, patience=2, mode="min", min_delta=0.05)).fit(
        module, scalar_batches, scalar_loss, metric
    )
    # 0.79 is not better than 0.8 by more than 0.05; 0.7 is. Then 0.9, 0.95 -> stop.
    assert history.best_epoch == 4
    assert history.best_metric == pytest.approx(0.7)
    assert history.n_epochs == 6
    assert float(module.value.detach()) == metric.seen[3]


def test_eval_every_and_patience_counts_evaluations() -> None:
    module = Scalar()
    metric = ScriptedMetric(module, [0.5, 0.4, 0.3, 0.2])
    history = Trainer(fast(epochs=20, patience=2, eval_every=3)).fit(
        module, scalar_batches, scalar_loss, metric
    )
    evaluated = [r.epoch for r in history.records if r.metric is not None]
    assert evaluated == [3, 6, 9]
    assert history.n_epochs == 9 and history.best_epoch == 3


def test_without_validation_trains_all_epochs() -> None:
    module = Scalar()
    history = Trainer(fast(epochs=4, lr=0.1)).fit(module, scalar_batches, scalar_loss)
    assert history.n_epochs == 4 and history.best_epoch == 4
    assert not history.stopped_early and history.best_metric is None
    losses = [r.loss for r in history.records]
    assert losses == sorted(losses, reverse=True)  # the loss goes down
    assert all(r.seconds >= 0 and r.metric is None for r in history.records)
    assert history.seconds_per_epoch >= 0


def test_history_arrays_round_trip() -> None:
    module = Scalar()
    metric = ScriptedMetric(module, [0.2, 0.1, 0.3])
    history = Trainer(fast(epochs=3, patience=5)).fit(module, scalar_batches, scalar_loss, metric)
    restored = TrainHistory.from_arrays(history.to_arrays())
    assert restored == history
    assert TrainHistory.from_arrays({}) is None
    assert json.loads(json.dumps(history.to_dict()))["best_epoch"] == 3


def test_checkpoint_dir(tmp_path: Path) -> None:
    module = Scalar()
    metric = ScriptedMetric(module, [0.2, 0.5, 0.1])
    Trainer(fast(epochs=3, patience=5, lr=0.1, checkpoint_dir=str(tmp_path / "ckpt"))).fit(
        module, scalar_batches, scalar_loss, metric
    )
    best = torch.load(tmp_path / "ckpt" / "best.pt")
    assert float(best["value"]) == metric.seen[1]
    saved = json.loads((tmp_path / "ckpt" / "history.json").read_text())
    assert saved["best_epoch"] == 2 and len(saved["records"]) == 3


def test_non_finite_loss_raises() -> None:
    def nan_loss(module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return scalar_loss(module, batch) * float("nan")

    with pytest.raises(FloatingPointError, match="epoch 1"):
        Trainer(fast(epochs=2)).fit(Scalar(), scalar_batches, nan_loss)


class Noisy(nn.Module):
    """A module with dropout and random init: determinism needs both seeds."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 1)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(self.dropout(x)).squeeze(-1)


def fit_noisy(random_state: int) -> torch.Tensor:
    data = torch.arange(40, dtype=torch.float32).reshape(10, 4) / 40

    def batches(rng: np.random.Generator) -> Iterator[torch.Tensor]:
        order = torch.from_numpy(rng.permutation(10))
        yield from data[order].split(3)

    def loss(module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return ((module(batch) - 1.0) ** 2).mean()

    with seeded(random_state):
        module = Noisy()
    Trainer(fast(epochs=3, random_state=random_state)).fit(module, batches, loss)
    return module.layer.weight.detach().clone()


def test_same_seed_same_weights_and_global_rng_untouched() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = fit_noisy(5)
    # Fitting did not consume or reseed the caller's random stream.
    assert torch.equal(torch.rand(3), expected_next)
    assert torch.equal(first, fit_noisy(5))
    assert not torch.equal(first, fit_noisy(6))


def test_threads_are_restored() -> None:
    before = torch.get_num_threads()
    with torch_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_config_validation_and_neural_config() -> None:
    with pytest.raises(ValueError):
        TrainerConfig(epochs=0)
    with pytest.raises(ValueError):
        TrainerConfig(patience=0)
    cfg = NeuralConfig(epochs=7, patience=2, lr=0.5).trainer_config(mode="min", metric_name="rmse")
    assert (cfg.epochs, cfg.patience, cfg.lr, cfg.mode, cfg.metric_name) == (
        7,
        2,
        0.5,
        "min",
        "rmse",
    )


def test_smoothing_window_follows_the_trend_not_one_lucky_value() -> None:
    # A lucky spike at evaluation 2, then a steady rise that beats it only at evaluation 8.
    values = [0.10, 0.30, 0.20, 0.22, 0.24, 0.26, 0.28, 0.32, 0.25, 0.25, 0.25, 0.25]
    module = Scalar()
    raw = Trainer(fast(epochs=12, patience=3, lr=0.1)).fit(
        module, scalar_batches, scalar_loss, ScriptedMetric(module, values)
    )
    # Raw metric: 3 evaluations without beating 0.30 -> stop after evaluation 5.
    assert raw.n_epochs == 5 and raw.best_epoch == 2

    module = Scalar()
    smoothed = Trainer(fast(epochs=12, patience=3, lr=0.1, smoothing_window=3)).fit(
        module, scalar_batches, scalar_loss, ScriptedMetric(module, values)
    )
    # Means of the last 3: .10 .20 .20 .24 .22 .24 .26 .287 .283 .273 .25 -> the last improvement
    # is at evaluation 8, so patience 3 stops after evaluation 11 (recomputed by hand below).
    means = [np.mean(values[max(0, i - 2) : i + 1]) for i in range(len(values))]
    best, bad, stop = -1.0, 0, len(values)
    for i, m in enumerate(means):
        if m > best:
            best, bad = m, 0
        else:
            bad += 1
        if bad >= 3:
            stop = i + 1
            break
    assert smoothed.n_epochs == stop == 11
    assert smoothed.best_epoch == 8  # weights of the best raw evaluation


def test_smoothing_window_is_validated() -> None:
    with pytest.raises(ValueError, match="smoothing_window"):
        TrainerConfig(smoothing_window=0)


def test_min_steps_between_evals_spaces_evaluations_by_updates() -> None:
    # scalar_batches yields 2 batches per epoch: at least 5 steps -> every 3rd epoch (6 steps).
    module = Scalar()
    metric = ScriptedMetric(module, [0.1 * i for i in range(1, 20)])
    history = Trainer(fast(epochs=10, patience=5, min_steps_between_evals=5)).fit(
        module, scalar_batches, scalar_loss, metric
    )
    evaluated = [r.epoch for r in history.records if r.metric is not None]
    assert evaluated == [3, 6, 9, 10]  # ... and always after the last epoch
    with pytest.raises(ValueError, match="min_steps_between_evals"):
        TrainerConfig(min_steps_between_evals=-1)
