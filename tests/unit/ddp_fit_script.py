"""Fit SASRec on MovieLens-100K's leave-one-out train part, validation NDCG@10 per user out.

Run as ``torchrun --nproc-per-node N tests/unit/ddp_fit_script.py DATA OUT SETTINGS_JSON``
(N = 1: the single-process trainer; N > 1: DistributedDataParallel). Rank 0 writes OUT (JSON:
the validation users, their NDCG@10 and the training history). Used by test_torch_distributed.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from digirec.data.dataset import Dataset
from digirec.data.load import load_data
from digirec.data.split import leave_one_out
from digirec.engines import torch_dist
from digirec.evaluation.evaluate import rank_holdout
from digirec.evaluation.stats import user_sample
from digirec.models.sasrec import SASRecModel


def main() -> None:
    data, out, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    dataset = Dataset.from_raw(load_data(data), duplicates="first")
    masks = leave_one_out(dataset)
    train, valid = dataset.subset(masks.train), dataset.subset(masks.valid)
    model = SASRecModel(settings).fit(train, valid)
    if torch_dist.is_main_process():
        users, reco, truth = rank_holdout(model, valid, 10)
        sample = user_sample(users, reco, truth, ks=(10,), n_items=valid.n_items)
        history = model.history_
        assert history is not None
        document = {
            "world_size": torch_dist.world().size,
            "users": users.tolist(),
            "ndcg@10": np.nan_to_num(sample.values["ndcg@10"]).tolist(),
            "best_epoch": history.best_epoch,
            "n_epochs": history.n_epochs,
            "best_metric": history.best_metric,
            "seconds_per_epoch": history.seconds_per_epoch,
        }
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
    torch_dist.shutdown()


if __name__ == "__main__":
    main()
