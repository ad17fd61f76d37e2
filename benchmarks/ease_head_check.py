"""EASE's head+neighbours approximation against exact EASE on MovieLens-100K (validation only).

Fits on the leave-one-out train part and reports validation NDCG@10 / Recall@10 for exact EASE,
the head+neighbours variant with a forced dense block of 1,000, 500 and 1 item(s), and item-kNN.
One run, no intervals: a sanity check of the approximation, quoted in docs/scale.md.

    python benchmarks/ease_head_check.py [--data ../shared/datasets/movielens-100k]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/datasets/movielens-100k")
    parser.add_argument("--lambda", dest="lambda_", type=float, default=200.0)
    args = parser.parse_args()

    from digirec.cli.common import load_dataset
    from digirec.data.split import leave_one_out
    from digirec.evaluation.evaluate import evaluate_model
    from digirec.models.base import Recommender
    from digirec.models.ease import EASEModel
    from digirec.models.itemknn import ItemKNNModel

    ds = load_dataset(args.data, default_duplicates="first")
    masks = leave_one_out(ds)
    train, valid = ds.subset(masks.train), ds.subset(masks.valid)
    lam = args.lambda_
    candidates: list[tuple[str, Recommender]] = [
        ("ease exact", EASEModel({"lambda": lam})),
        ("ease head 1000 + 100 nbrs", EASEModel({"lambda": lam, "max_dense_items": 1000})),
        ("ease head 500 + 100 nbrs", EASEModel({"lambda": lam, "max_dense_items": 500})),
        ("ease neighbours only", EASEModel({"lambda": lam, "max_dense_items": 1})),
        ("itemknn", ItemKNNModel()),
    ]
    for name, model in candidates:
        start = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - start
        metrics = evaluate_model(model, valid, ks=(10,), train=train)
        info = getattr(model, "fit_info_", {})
        print(
            f"{name:28s} valid ndcg@10={metrics['ndcg@10']:.4f} "
            f"recall@10={metrics['recall@10']:.4f} fit={seconds:.1f}s "
            f"dense_share={info.get('dense_share_of_interactions')}",
            flush=True,
        )


if __name__ == "__main__":
    main()
