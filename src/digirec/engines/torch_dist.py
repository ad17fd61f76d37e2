"""torch.distributed for the one trainer: what a rank of a ``torchrun`` launch needs.

``torchrun --nproc-per-node N -m digirec train --model sasrec ...`` starts N copies of the CLI,
each with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE`` in its environment
(and the rendezvous settings). :class:`digirec.training.trainer.Trainer` reads them through
:func:`world`: with ``WORLD_SIZE > 1`` it joins the process group (gloo on CPU, nccl on CUDA,
one GPU per local rank), wraps the network in DistributedDataParallel, shards each epoch's
batches over the ranks (:func:`shard_batches`), evaluates and writes checkpoints on rank 0 and
broadcasts the validation metric so that every rank takes the same early-stopping decision.
Without those variables everything here is a no-op and training is the single-process loop.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class World:
    """This process's place in a distributed launch (a single process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def is_distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world() -> World:
    """The launch described by ``torchrun``'s environment variables (or a single process)."""

    def read(name: str, default: int) -> int:
        value = os.environ.get(name)
        try:
            return int(value) if value is not None else default
        except ValueError:
            raise ValueError(f"environment variable {name}={value!r} is not an integer") from None

    size = read("WORLD_SIZE", 1)
    return World(
        rank=read("RANK", 0),
        size=size,
        local_rank=read("LOCAL_RANK", 0),
        local_size=read("LOCAL_WORLD_SIZE", size),
    )


def is_main_process() -> bool:
    """Whether this process writes outputs (rank 0, or not distributed)."""
    return world().is_main


def training_device(device: torch.device, here: World) -> torch.device:
    """One GPU per local rank under a distributed CUDA launch; the given device otherwise."""
    import torch

    if here.is_distributed and device.type == "cuda":
        torch.cuda.set_device(here.local_rank)
        return torch.device("cuda", here.local_rank)
    return device


def ensure_process_group(device: torch.device) -> str:
    """Join the launch's process group once (nccl for CUDA, gloo on CPU); returns the backend."""
    import torch.distributed as dist

    if dist.is_initialized():
        return str(dist.get_backend())
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)  # env:// rendezvous, as torchrun sets it up
    return backend


def shutdown() -> None:
    """Leave the process group (at the end of a command; later fits would need a new one)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def log_start(here: World, desc: str, backend: str, device: torch.device) -> None:
    """Each rank says who it is when training starts (stderr, one line)."""
    print(
        f"[digirec] rank {here.rank}/{here.size} (local {here.local_rank}): training {desc} "
        f"with DistributedDataParallel, backend {backend}, device {device}",
        file=sys.stderr,
        flush=True,
    )


def shard_batches(
    batches: Callable[[np.random.Generator], Iterable[Any]], here: World
) -> Callable[[np.random.Generator], Iterator[Any]]:
    """Each rank's share of an epoch, as ``DistributedSampler`` gives it.

    Every rank draws the same seeded epoch (the generators are seeded alike), so batch ``j``
    is the same everywhere, and rank ``r`` trains on batches ``r, r + N, r + 2N, ...``. When
    the number of batches is not a multiple of ``N``, the short ranks repeat the epoch's first
    batches (``DistributedSampler``'s padding), so that every rank makes the same number of
    optimiser steps -- otherwise the gradient all-reduce of the longer ranks would wait forever.
    """

    def source(rng: np.random.Generator) -> Iterator[Any]:
        head: list[Any] = []  # the first N batches: the padding comes from these
        n_batches = 0
        n_mine = 0
        for index, batch in enumerate(batches(rng)):
            n_batches += 1
            if index < here.size:
                head.append(batch)
            if index % here.size == here.rank:
                n_mine += 1
                yield batch
        per_rank = -(-n_batches // here.size)
        if n_mine < per_rank:
            # Position rank + (per_rank - 1) * N is past the end: wrap around to the start.
            past = here.rank + (per_rank - 1) * here.size - n_batches
            yield head[past % len(head)]

    return source


def distributed_module(module: torch.nn.Module, loss_fn: Any, device: torch.device) -> Any:
    """``module`` wrapped so that DistributedDataParallel sees the loss as its ``forward``.

    Wrappers compute their loss through any method of the network (``encode``, ``logits``,
    ...), not only ``forward``; DDP synchronises gradients of what runs inside *its* forward,
    so the wrapper's ``loss_fn(module, batch)`` becomes that forward.
    """
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    class _Loss(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, batch: Any) -> torch.Tensor:
            loss: torch.Tensor = loss_fn(self.inner, batch)
            return loss

    wrapped = _Loss(module)
    # find_unused_parameters: the two-tower model drops towers per example (id dropout), so a
    # batch may leave parameters without a gradient.
    if device.type == "cuda":
        return DistributedDataParallel(
            wrapped, device_ids=[device.index], find_unused_parameters=True
        )
    return DistributedDataParallel(wrapped, find_unused_parameters=True)


def broadcast_value(value: float, device: torch.device) -> float:
    """Rank 0's ``value`` on every rank (the validation metric behind early stopping)."""
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(tensor, src=0)
    return float(tensor.item())


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum over the ranks (an epoch's loss total and batch count)."""
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return [float(v) for v in tensor.tolist()]
