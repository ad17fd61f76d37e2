"""A linear model through the one Trainer, for test_torch_distributed.

``torchrun --nproc-per-node N tests/unit/ddp_trainer_script.py OUT_PREFIX BATCH_SIZE`` trains
``y ~ Xw + b`` (float64, SGD) on 64 fixed rows, batches of BATCH_SIZE rows in a seeded order,
with a scripted "validation metric" that only rank 0 may compute. Each rank writes
``OUT_PREFIX.rank<r>.json``: its final weights and the history.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import numpy as np
import torch

from digirec.engines import torch_dist
from digirec.training.trainer import Trainer, TrainerConfig, seeded

#: The metric rank 0 reports at each evaluation: best at the 2nd, patience 2 stops at the 4th.
SCRIPTED = [0.10, 0.20, 0.15, 0.14, 0.13, 0.12]


def main() -> None:
    prefix, batch_size = sys.argv[1], int(sys.argv[2])
    here = torch_dist.world()
    data = np.random.default_rng(0)
    x = torch.from_numpy(data.normal(size=(64, 5)))
    y = x @ torch.arange(1.0, 6.0, dtype=torch.float64) + 0.1 * torch.from_numpy(
        data.normal(size=64)
    )
    with seeded(0):
        net = torch.nn.Linear(5, 1, dtype=torch.float64)

    def batches(rng: np.random.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.from_numpy(rng.permutation(64))
        for start in range(0, 64, batch_size):
            rows = order[start : start + batch_size]
            yield x[rows], y[rows]

    def loss_fn(module: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        features, target = batch
        return torch.mean((module(features).squeeze(1) - target) ** 2)

    calls = iter(SCRIPTED)

    def evaluate() -> float:
        if here.rank != 0:
            raise AssertionError(f"rank {here.rank} evaluated: only rank 0 may")
        return next(calls)

    config = TrainerConfig(
        epochs=10, patience=2, show_progress=False, n_threads=1, device="cpu", random_state=3
    )
    history = Trainer(config).fit(
        net,
        batches,
        loss_fn,
        evaluate,
        optimizer=lambda m: torch.optim.SGD(m.parameters(), lr=0.05),
    )
    document = {
        "rank": here.rank,
        "world_size": here.size,
        "weights": [float(v) for v in torch.cat([p.detach().flatten() for p in net.parameters()])],
        "records": [[r.epoch, r.loss, r.metric] for r in history.records],
        "best_epoch": history.best_epoch,
        "stopped_early": history.stopped_early,
    }
    with open(f"{prefix}.rank{here.rank}.json", "w", encoding="utf-8") as handle:
        json.dump(document, handle)
    torch_dist.shutdown()


if __name__ == "__main__":
    main()
