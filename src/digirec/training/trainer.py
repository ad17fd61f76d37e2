"""One training loop for every torch model in digirec.

The estimator wrappers (``digirec.models.mf``, ``digirec.models.sasrec``, ...) own the data
preparation and the network; this module owns everything that is the same for all of them:

- seeds: torch's RNG (parameter init, dropout) is seeded inside a forked RNG scope, so a fit is
  reproducible and leaves the caller's global RNG untouched; batch shuffling and negative sampling
  use a ``numpy.random.Generator`` handed to the wrapper's batch iterator;
- threads: ``torch.set_num_threads`` for the duration of the fit (default: the cores this process
  may use), restored afterwards;
- device: ``"auto"`` trains on CUDA when it is available, else on the CPU;
- epochs with a tqdm progress bar on stderr (``show_progress=False`` silences it);
- early stopping on a validation metric supplied by the wrapper as a callback (full-ranking
  NDCG@10 by default, see :func:`ranking_validation`; RMSE for explicit ratings, minimised),
  evaluated every ``eval_every`` epochs, with ``patience`` counted in evaluations; the best
  weights are kept in memory (and, optionally, in a checkpoint directory) and restored at the end;
- a history (epoch, mean loss, validation metric, seconds) that benchmarks and tests read.

Without a validation callback the loop trains for exactly ``epochs`` epochs and keeps the last
weights.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from digirec.models.base import ModelConfig

if TYPE_CHECKING:
    import torch
    from torch import nn

    from digirec.data.dataset import Dataset
    from digirec.models.base import Recommender

Mode = Literal["max", "min"]
DeviceName = Literal["auto", "cpu", "cuda"]

#: Signature of a wrapper's batch source: given the epoch's generator, yield batches (tensors, or
#: tuples / lists / dicts of tensors; the trainer moves them to the training device).
BatchSource = Callable[[np.random.Generator], Iterable[Any]]
#: Signature of a wrapper's loss: ``loss_fn(module, batch) -> scalar tensor``.
LossFn = Callable[["nn.Module", Any], "torch.Tensor"]


# ---------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class TrainerConfig:
    """Settings of one :class:`Trainer` run.

    Attributes
    ----------
    epochs:
        Maximum number of passes over the training batches.
    lr, weight_decay:
        Adam's step size and L2 weight decay (the default optimiser).
    patience:
        Stop after this many *evaluations* in a row without improvement (``None``: never stop
        early; the best evaluated weights are still restored).
    eval_every:
        Evaluate every this many epochs (and after the last epoch).
    mode:
        ``"max"`` when a larger metric is better (NDCG), ``"min"`` otherwise (RMSE).
    min_delta:
        An evaluation improves only if it beats the best by more than this.
    min_steps_between_evals:
        Skip an evaluation until this many optimiser steps have passed since the last one. A
        small data set has few steps per epoch (MovieLens-100K with batch 128: 8), so "patience
        10 evaluations" would otherwise mean a few hundred updates -- far too early to judge a
        model that needs thousands. Patience is thereby measured in updates, not in epochs.
    smoothing_window:
        Patience is counted against the mean of the last this many evaluations (1: the raw
        metric). On small validation sets (MovieLens-100K: 943 users) one lucky evaluation
        otherwise stops a still-improving model; the restored weights are still those of the
        best raw evaluation.
    n_threads:
        Torch intra-op threads during the fit; ``None`` uses the cores available to the process.
    device:
        ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda"``.
    show_progress:
        Show a per-epoch tqdm bar on stderr.
    checkpoint_dir:
        If set, the best weights (``best.pt``) and the history (``history.json``) are written
        there whenever the validation metric improves.
    random_state:
        Seeds torch (dropout) and the numpy generator given to the batch source.
    metric_name:
        Name of the validation metric, for the progress bar and the history.
    desc:
        Label of the progress bar.
    """

    epochs: int = 100
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int | None = 10
    eval_every: int = 1
    mode: Mode = "max"
    min_delta: float = 0.0
    min_steps_between_evals: int = 0
    smoothing_window: int = 1
    n_threads: int | None = None
    device: DeviceName = "auto"
    show_progress: bool = True
    checkpoint_dir: str | None = None
    random_state: int = 42
    metric_name: str = "ndcg@10"
    desc: str = "train"

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be >= 1, got {self.eval_every}")
        if self.min_steps_between_evals < 0:
            raise ValueError(
                f"min_steps_between_evals must be >= 0, got {self.min_steps_between_evals}"
            )
        if self.smoothing_window < 1:
            raise ValueError(f"smoothing_window must be >= 1, got {self.smoothing_window}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {self.patience}")
        if self.mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {self.mode!r}")


class NeuralConfig(ModelConfig):
    """Training settings shared by the configurations of all torch models.

    Attributes
    ----------
    lr:
        Adam learning rate.
    weight_decay:
        Adam L2 weight decay.
    batch_size:
        Training examples per optimiser step.
    epochs:
        Maximum epochs; without a validation set the model trains exactly this many.
    patience:
        Early stopping: evaluations without improvement of the validation metric before stopping.
    eval_every:
        Evaluate on the validation set every this many epochs.
    min_steps_between_evals:
        Evaluate only once this many optimiser steps have passed since the last evaluation.
    smoothing_window:
        Early stopping compares the mean of the last this many evaluations (1: raw metric).
    n_threads:
        Torch threads while training (``None``: all cores available to the process).
    device:
        ``"auto"`` trains on a CUDA GPU when one is available, else on the CPU.
    show_progress:
        Per-epoch progress bar on stderr.
    checkpoint_dir:
        Directory for the best weights and the training history (``None``: memory only).
    random_state:
        Seeds initialisation, dropout, shuffling, sampling and the tie-break.
    """

    lr: float = Field(1e-3, gt=0, description="Adam learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="Adam L2 weight decay.")
    batch_size: int = Field(128, ge=1, description="Examples per optimiser step.")
    epochs: int = Field(100, ge=1, description="Maximum epochs (exact count without validation).")
    patience: int = Field(10, ge=1, description="Evaluations without improvement before stopping.")
    eval_every: int = Field(1, ge=1, description="Epochs between validation evaluations.")
    min_steps_between_evals: int = Field(
        0, ge=0, description="Optimiser steps between two validation evaluations, at least."
    )
    smoothing_window: int = Field(
        1, ge=1, description="Evaluations averaged for the early-stopping decision."
    )
    n_threads: int | None = Field(None, ge=1, description="Torch threads (None: all cores).")
    device: DeviceName = Field("auto", description="auto (CUDA if available), cpu or cuda.")
    show_progress: bool = Field(True, description="Per-epoch progress bar on stderr.")
    checkpoint_dir: str | None = Field(None, description="Where to write best weights.")

    def trainer_config(
        self, *, mode: Mode = "max", metric_name: str = "ndcg@10", desc: str = "train"
    ) -> TrainerConfig:
        """The :class:`TrainerConfig` these settings describe."""
        return TrainerConfig(
            epochs=self.epochs,
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience,
            eval_every=self.eval_every,
            min_steps_between_evals=self.min_steps_between_evals,
            smoothing_window=self.smoothing_window,
            mode=mode,
            n_threads=self.n_threads,
            device=self.device,
            show_progress=self.show_progress,
            checkpoint_dir=self.checkpoint_dir,
            random_state=self.random_state,
            metric_name=metric_name,
            desc=desc,
        )


# ---------------------------------------------------------------------- history
@dataclass(frozen=True)
class EpochRecord:
    """One epoch of training.

    ``seconds`` is the training time of the epoch alone; ``eval_seconds`` the time spent on the
    validation metric after it (0 when the epoch was not evaluated, ``metric`` is then ``None``).
    """

    epoch: int
    loss: float
    metric: float | None
    seconds: float
    eval_seconds: float = 0.0


@dataclass
class TrainHistory:
    """What a :meth:`Trainer.fit` run did.

    Attributes
    ----------
    records:
        One :class:`EpochRecord` per epoch run (1-based epochs).
    best_epoch:
        Epoch whose weights the module holds after the fit (the last epoch without validation).
    best_metric:
        Validation metric at ``best_epoch`` (``None`` without validation).
    stopped_early:
        Whether patience ran out before ``epochs``.
    metric_name, mode:
        Which metric was tracked and whether larger is better.
    """

    records: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_metric: float | None = None
    stopped_early: bool = False
    metric_name: str = "ndcg@10"
    mode: Mode = "max"

    @property
    def n_epochs(self) -> int:
        return len(self.records)

    @property
    def seconds_per_epoch(self) -> float:
        """Mean training seconds per epoch (validation time excluded); NaN before any epoch."""
        if not self.records:
            return float("nan")
        return float(np.mean([r.seconds for r in self.records]))

    @property
    def total_seconds(self) -> float:
        return float(sum(r.seconds + r.eval_seconds for r in self.records))

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": [asdict(r) for r in self.records],
            "best_epoch": self.best_epoch,
            "best_metric": self.best_metric,
            "stopped_early": self.stopped_early,
            "metric_name": self.metric_name,
            "mode": self.mode,
            "seconds_per_epoch": self.seconds_per_epoch,
        }

    def to_arrays(self, prefix: str = "history") -> dict[str, NDArray[Any]]:
        """The history as numpy arrays (for a model's saved state)."""
        metric = [np.nan if r.metric is None else r.metric for r in self.records]
        return {
            f"{prefix}_epoch": np.asarray([r.epoch for r in self.records], dtype=np.int64),
            f"{prefix}_loss": np.asarray([r.loss for r in self.records], dtype=np.float64),
            f"{prefix}_metric": np.asarray(metric, dtype=np.float64),
            f"{prefix}_seconds": np.asarray([r.seconds for r in self.records], dtype=np.float64),
            f"{prefix}_eval_seconds": np.asarray(
                [r.eval_seconds for r in self.records], dtype=np.float64
            ),
            f"{prefix}_summary": np.asarray(
                [
                    self.best_epoch,
                    np.nan if self.best_metric is None else self.best_metric,
                    float(self.stopped_early),
                ],
                dtype=np.float64,
            ),
            f"{prefix}_meta": np.asarray([self.metric_name, self.mode], dtype=str),
        }

    @classmethod
    def from_arrays(
        cls, state: Mapping[str, NDArray[Any]], prefix: str = "history"
    ) -> TrainHistory | None:
        """Inverse of :meth:`to_arrays` (``None`` when the state holds no history)."""
        if f"{prefix}_epoch" not in state:
            return None
        metric = state[f"{prefix}_metric"]
        records = [
            EpochRecord(
                epoch=int(e),
                loss=float(loss),
                metric=None if np.isnan(m) else float(m),
                seconds=float(s),
                eval_seconds=float(es),
            )
            for e, loss, m, s, es in zip(
                state[f"{prefix}_epoch"],
                state[f"{prefix}_loss"],
                metric,
                state[f"{prefix}_seconds"],
                state[f"{prefix}_eval_seconds"],
                strict=True,
            )
        ]
        best_epoch, best_metric, stopped = state[f"{prefix}_summary"].tolist()
        metric_name, mode = state[f"{prefix}_meta"].tolist()
        return cls(
            records=records,
            best_epoch=int(best_epoch),
            best_metric=None if math.isnan(best_metric) else float(best_metric),
            stopped_early=bool(stopped),
            metric_name=str(metric_name),
            mode="min" if mode == "min" else "max",
        )


# ---------------------------------------------------------------------- helpers
def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity, e.g. in containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` without a GPU is an error."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for but torch sees no CUDA device")
    return torch.device(device)


@contextmanager
def seeded(random_state: int) -> Iterator[None]:
    """Seed torch's RNGs for the block, restoring the caller's RNG state afterwards.

    Used around module construction (initial weights) and around training (dropout), so two fits
    with the same seed are identical and fitting never disturbs other code's random streams.
    """
    import torch

    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    # Deterministic kernels where torch has them (same seed and thread count -> same numbers);
    # warn_only, because an op without a deterministic variant must not fail a fit. Restored
    # afterwards: the setting is process-global.
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(random_state)
            yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)


@contextmanager
def torch_threads(n_threads: int | None) -> Iterator[int]:
    """Set torch's intra-op thread count for the block (default: available cores)."""
    import torch

    previous = torch.get_num_threads()
    wanted = available_cores() if n_threads is None else int(n_threads)
    torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        torch.set_num_threads(previous)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a tensor, or a tuple / list / dict of tensors, to ``device``."""
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple):
        return tuple(to_device(b, device) for b in batch)
    if isinstance(batch, list):
        return [to_device(b, device) for b in batch]
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter (CPU for a module without parameters)."""
    import torch

    for param in module.parameters():
        return param.device
    return torch.device("cpu")


def ranking_validation(
    model: Recommender, valid: Dataset, metric: str = "ndcg@10"
) -> Callable[[], float]:
    """A validation callback: ``metric`` of ``model`` on ``valid`` with full ranking.

    It runs :func:`digirec.evaluation.evaluate.evaluate_model`, i.e. exactly the benchmark
    protocol (all items ranked, training items filtered, fixed tie-break). It is meant to be
    called from inside the model's ``_fit``, where the base class has already set the id maps,
    the seen matrix and the tie-break but not yet ``is_fitted``: the flag is raised for the
    duration of the evaluation only.
    """
    from digirec.evaluation.evaluate import evaluate_model

    name, _, cutoff = metric.partition("@")
    if not name or not cutoff.isdigit():
        raise ValueError(f"metric must look like 'ndcg@10', got {metric!r}")
    k = int(cutoff)

    def evaluate() -> float:
        was_fitted = model.is_fitted
        model.is_fitted = True
        try:
            return float(evaluate_model(model, valid, ks=(k,))[metric])
        finally:
            model.is_fitted = was_fitted

    return evaluate


def _is_better(value: float, best: float | None, mode: Mode, min_delta: float) -> bool:
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value > best + min_delta if mode == "max" else value < best - min_delta


# ---------------------------------------------------------------------- the loop
class Trainer:
    """The training loop shared by all torch models (see the module docstring).

    Examples
    --------
    >>> trainer = Trainer(TrainerConfig(epochs=50, patience=5))  # doctest: +SKIP
    >>> history = trainer.fit(net, batches, loss_fn, evaluate=validate)  # doctest: +SKIP
    """

    def __init__(self, config: TrainerConfig | None = None) -> None:
        self.config = config or TrainerConfig()

    def fit(
        self,
        module: nn.Module,
        batches: BatchSource,
        loss_fn: LossFn,
        evaluate: Callable[[], float] | None = None,
        optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
    ) -> TrainHistory:
        """Train ``module`` in place and return the history.

        Parameters
        ----------
        module:
            The network, already initialised (build it inside :func:`seeded` for reproducible
            initial weights). It is moved to the training device and left there, in eval mode,
            holding the best weights.
        batches:
            Called once per epoch with the run's numpy generator; yields the epoch's batches.
        loss_fn:
            ``loss_fn(module, batch)`` -> scalar loss to minimise.
        evaluate:
            Validation metric of the current weights (called in eval mode without gradients);
            ``None`` trains ``epochs`` epochs without early stopping.
        optimizer:
            Factory for the optimiser; default Adam with the configured ``lr`` and
            ``weight_decay``.
        """
        import torch
        from tqdm.auto import tqdm

        from digirec.engines import torch_dist

        cfg = self.config
        # Under torchrun (WORLD_SIZE > 1): DistributedDataParallel, see digirec.engines.torch_dist.
        here = torch_dist.world()
        device = torch_dist.training_device(resolve_device(cfg.device), here)
        history = TrainHistory(metric_name=cfg.metric_name, mode=cfg.mode)
        checkpoint = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir and here.is_main else None
        if checkpoint is not None:
            checkpoint.mkdir(parents=True, exist_ok=True)
        step_fn: Callable[[Any], torch.Tensor] = lambda batch: loss_fn(module, batch)  # noqa: E731
        n_threads = cfg.n_threads
        if here.is_distributed:
            backend = torch_dist.ensure_process_group(device)
            torch_dist.log_start(here, cfg.desc, backend, device)
            batches = torch_dist.shard_batches(batches, here)
            if n_threads is None:
                # The ranks of one machine share its cores.
                n_threads = max(1, available_cores() // here.local_size)
        rng = np.random.default_rng(cfg.random_state)
        best_state: dict[str, torch.Tensor] | None = None
        bad_evals = 0
        evaluations: list[float] = []
        best_smoothed: float | None = None
        steps_since_eval = 0

        # Each rank its own dropout stream (rank 0 keeps the single-process one); the initial
        # weights were drawn before, alike on every rank, and DDP broadcasts rank 0's anyway.
        with torch_threads(n_threads), seeded(cfg.random_state + here.rank):
            module.to(device)
            if here.is_distributed:
                step_fn = torch_dist.distributed_module(module, loss_fn, device)
            opt = (
                optimizer(module)
                if optimizer is not None
                else torch.optim.Adam(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            )
            bar = tqdm(
                range(1, cfg.epochs + 1),
                desc=cfg.desc,
                file=sys.stderr,
                disable=not cfg.show_progress or not here.is_main,
                leave=False,
                dynamic_ncols=True,
            )
            for epoch in bar:
                module.train()
                start = time.perf_counter()
                total = torch.zeros((), device=device)
                n_batches = 0
                for batch in batches(rng):
                    opt.zero_grad(set_to_none=True)
                    loss = step_fn(to_device(batch, device))
                    loss.backward()  # type: ignore[no-untyped-call]
                    opt.step()
                    # Accumulate on the device: one host sync per epoch, not per batch.
                    total += loss.detach()
                    n_batches += 1
                if here.is_distributed:
                    # The epoch's mean over all ranks (the same number on every rank), and its
                    # steps counted in batches of data, as one process would take them.
                    loss_sum, batch_sum = torch_dist.all_reduce_sum(
                        [float(total), n_batches], device
                    )
                    total = torch.tensor(loss_sum)
                    n_batches = round(batch_sum)
                steps_since_eval += n_batches
                mean_loss = float(total) / max(n_batches, 1)
                seconds = time.perf_counter() - start
                if not math.isfinite(mean_loss):
                    raise FloatingPointError(
                        f"{cfg.desc}: training loss is {mean_loss} at epoch {epoch}; "
                        "lower the learning rate"
                    )

                metric: float | None = None
                eval_seconds = 0.0
                due = (
                    epoch % cfg.eval_every == 0 and steps_since_eval >= cfg.min_steps_between_evals
                )
                if evaluate is not None and (due or epoch == cfg.epochs):
                    steps_since_eval = 0
                    module.eval()
                    eval_start = time.perf_counter()
                    with torch.no_grad():
                        metric = float(evaluate()) if here.is_main else math.nan
                    if here.is_distributed:
                        # Rank 0 evaluated; every rank takes its number, hence the same decision.
                        metric = torch_dist.broadcast_value(metric, device)
                    eval_seconds = time.perf_counter() - eval_start
                    if _is_better(metric, history.best_metric, cfg.mode, cfg.min_delta):
                        history.best_metric = metric
                        history.best_epoch = epoch
                        # A copy, not a reference: the optimiser keeps changing the tensors.
                        best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
                        if checkpoint is not None:
                            torch.save(best_state, checkpoint / "best.pt")
                    # Patience follows the (smoothed) trend, the weights follow the best value.
                    evaluations.append(metric)
                    smoothed = float(np.mean(evaluations[-cfg.smoothing_window :]))
                    if _is_better(smoothed, best_smoothed, cfg.mode, cfg.min_delta):
                        best_smoothed = smoothed
                        bad_evals = 0
                    else:
                        bad_evals += 1

                history.records.append(EpochRecord(epoch, mean_loss, metric, seconds, eval_seconds))
                if checkpoint is not None and metric is not None:
                    (checkpoint / "history.json").write_text(
                        json.dumps(history.to_dict(), indent=2)
                    )
                postfix = {"loss": f"{mean_loss:.4f}"}
                if history.best_metric is not None:
                    postfix[f"best {cfg.metric_name}"] = f"{history.best_metric:.4f}"
                bar.set_postfix(postfix)
                if evaluate is not None and cfg.patience is not None and bad_evals >= cfg.patience:
                    history.stopped_early = epoch < cfg.epochs
                    break
            bar.close()

            if best_state is not None:
                module.load_state_dict(best_state)
            else:
                history.best_epoch = len(history.records)
            module.eval()
        return history


NeuralConfigT = TypeVar("NeuralConfigT", bound=NeuralConfig)


def with_best_epochs(config: NeuralConfigT, history: TrainHistory) -> NeuralConfigT:
    """The config with ``epochs`` set to the epoch early stopping chose.

    After a fit with validation the benchmark refits on train + validation without a validation
    set; it then trains exactly the chosen number of epochs instead of the maximum (which on
    Instruments turns hours into minutes and keeps the refit's setting the validated one).
    """
    if history.best_metric is None or history.best_epoch < 1:
        return config
    return config.model_copy(update={"epochs": int(history.best_epoch)})
