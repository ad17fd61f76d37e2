"""The RecTools half of the peer benchmark; runs in the *separate* peers virtualenv.

``run_peers.py`` (digirec's virtualenv) writes the training interactions of digirec's split and
the users to score; this script fits RecTools' ``SASRecModel`` or ``EASEModel`` with the given
settings, times the fit (and each SASRec epoch with a Lightning callback), and writes the top-k
item indices per user. digirec's own metric code scores them afterwards, so both libraries are
judged by one protocol. RecTools is never imported by digirec.

Usage (called by run_peers.py)::

    /work/peers-venv/bin/python rectools_side.py IN_DIR OUT_DIR MODEL
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def main() -> None:
    in_dir, out_dir, model_name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    settings = json.loads((in_dir / "settings.json").read_text())
    import torch

    torch.set_num_threads(int(settings["threads"]))
    from rectools import Columns
    from rectools.dataset import Dataset
    from rectools.models import EASEModel, SASRecModel

    train = pd.read_csv(in_dir / "train.csv")
    # digirec's order within each user is kept exactly: the datetime is the row's position.
    frame = pd.DataFrame(
        {
            Columns.User: train["user"].astype(str),
            Columns.Item: train["item"].astype(str),
            Columns.Weight: 1.0,
            Columns.Datetime: pd.to_datetime(train["order"], unit="s"),
        }
    )
    dataset = Dataset.construct(frame)
    users = pd.read_csv(in_dir / "users.csv")["user"].astype(str).tolist()
    k = int(settings["k"])
    epoch_seconds: list[float] = []
    epoch_cpu_seconds: list[float] = []
    if model_name == "sasrec":
        from pytorch_lightning import Callback, Trainer

        class EpochTimer(Callback):  # type: ignore[misc]
            def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
                self.start = time.perf_counter()
                self.cpu = time.process_time()

            def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
                epoch_seconds.append(time.perf_counter() - self.start)
                epoch_cpu_seconds.append(time.process_time() - self.cpu)

        s = settings["sasrec"]

        def trainer() -> Trainer:
            return Trainer(
                max_epochs=s["epochs"],
                min_epochs=s["epochs"],
                deterministic=True,
                enable_progress_bar=False,
                enable_model_summary=False,
                logger=False,
                enable_checkpointing=False,
                accelerator="cpu",
                devices=1,
                callbacks=[EpochTimer()],
            )

        torch.manual_seed(int(settings["seed"]))
        model = SASRecModel(
            n_blocks=s["n_blocks"],
            n_heads=s["n_heads"],
            n_factors=s["hidden"],
            dropout_rate=s["dropout"],
            session_max_len=s["max_len"],
            loss="softmax",
            lr=s["lr"],
            batch_size=s["batch_size"],
            epochs=s["epochs"],
            deterministic=True,
            get_trainer_func=trainer,
            recommend_torch_device="cpu",
        )
    elif model_name == "ease":
        model = EASEModel(
            regularization=settings["ease"]["lambda"], num_threads=settings["threads"]
        )
    else:
        raise SystemExit(f"unknown model {model_name!r}")
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(dataset)
    fit_seconds, fit_cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    start = time.perf_counter()
    reco = model.recommend(users, dataset, k=k, filter_viewed=True)
    recommend_seconds = time.perf_counter() - start
    rows = {u: r for r, u in enumerate(users)}
    out = np.full((len(users), k), -1, dtype=np.int64)
    ranks = reco[Columns.Rank].to_numpy(dtype=np.int64) - 1
    out[reco[Columns.User].map(rows).to_numpy(), ranks] = reco[Columns.Item].astype(int).to_numpy()
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / f"{model_name}_reco.npy", out)
    import rectools

    (out_dir / f"{model_name}.json").write_text(
        json.dumps(
            {
                "fit_seconds": fit_seconds,
                "fit_cpu_seconds": fit_cpu_seconds,
                "epoch_cpu_seconds": epoch_cpu_seconds,
                "recommend_seconds": recommend_seconds,
                "epoch_seconds": epoch_seconds,
                "rectools_version": rectools.__version__,
                "torch_version": torch.__version__,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
