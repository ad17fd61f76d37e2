"""Spark MLlib ALS (``--engine spark``) against the single-machine iALS (``implicit``).

For each data set: the same leave-one-out protocol as ``digirec benchmark`` (tune on
validation, refit on train + validation, test once, all items ranked, digirec's metrics and
bootstrap intervals), once with the data prepared and split on Spark and the model fitted by
MLlib, once on one machine. The two prepared data sets are checked to be identical first.
Reports test metrics with 95% intervals, the paired difference Spark - local with its
interval, and wall seconds per stage.

    python benchmarks/spark_vs_ials.py --out benchmarks/results/spark_vs_ials.json \
        --markdown benchmarks/results/spark_vs_ials.md

Each side gets its own small grid, the same size, in its own convention (Spark scales the
penalty by each row's count and uses confidence 1 + alpha * r; implicit uses one penalty and
alpha * x), centred on the setting the full iALS grid chose for that data set
(benchmarks/results/{ml100k,instruments}.json), at 64 factors and 15 iterations on both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from digirec import __version__
from digirec.data.dataset import Dataset
from digirec.data.load import load_data
from digirec.data.split import leave_one_out
from digirec.evaluation.evaluate import metrics_of_recommendations, rank_holdout
from digirec.evaluation.stats import confidence_intervals, paired_differences, user_sample
from digirec.training.tuning import tune_and_refit

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DATASETS = {
    "movielens-100k": SHARED / "movielens-100k",
    "instruments": SHARED / "amazon-instruments-2018-5core",
}
KS = (10, 20)
METRICS = ("ndcg@10", "recall@10", "ndcg@20", "recall@20", "mrr@20")
COMMON = {"factors": 64, "iterations": 15}
#: Per data set: (implicit grid, Spark grid). ML-100K users have ~100 interactions, so the
#: chosen implicit penalty 10 is ~0.1 in Spark's per-rating scale; Instruments' ~8 -> ~1.
GRIDS: dict[str, tuple[dict[str, list[float]], dict[str, list[float]]]] = {
    "movielens-100k": (
        {"regularization": [3.0, 10.0, 30.0], "alpha": [2.0, 10.0]},
        {"regularization": [0.03, 0.1, 0.3], "alpha": [1.0, 9.0]},
    ),
    "instruments": (
        {"regularization": [3.0, 10.0, 30.0], "alpha": [10.0, 40.0]},
        {"regularization": [0.3, 1.0, 3.0], "alpha": [9.0, 39.0]},
    ),
}
#: ``--single-setting``: no search, the setting the full iALS grid chose on this data set's
#: validation split (benchmarks/results/instruments.json: regularization 10, alpha 40) and its
#: translation to Spark's convention (confidence 1 + 39 = 40; penalty 10 / ~8 ratings per user).
SINGLE: dict[str, tuple[dict[str, list[float]], dict[str, list[float]]]] = {
    "movielens-100k": (
        {"regularization": [10.0], "alpha": [2.0]},
        {"regularization": [0.1], "alpha": [1.0]},
    ),
    "instruments": (
        {"regularization": [10.0], "alpha": [40.0]},
        {"regularization": [1.0], "alpha": [39.0]},
    ),
}


def say(message: str) -> None:
    print(message, flush=True)


def evaluate(run: Any, test: Dataset, train_valid: Dataset) -> tuple[dict[str, Any], Any]:
    users, reco, truth = rank_holdout(run.model, test, max(KS))
    metrics = metrics_of_recommendations(
        reco, truth, ks=KS, n_items=test.n_items, train=train_valid
    )
    sample = user_sample(users, reco, truth, ks=KS, n_items=test.n_items)
    return metrics, sample


def one_side(
    name: str, dataset: Dataset, masks: Any, grid: dict[str, list[float]]
) -> tuple[dict[str, Any], Any]:
    start = time.perf_counter()
    train = dataset.subset(masks.train)
    valid = dataset.subset(masks.valid)
    train_valid = dataset.subset(masks.train | masks.valid)
    test = dataset.subset(masks.test)
    subsets = time.perf_counter() - start
    run = tune_and_refit(
        name, train, valid, train_valid, params={name: COMMON}, grids={name: grid}, progress=say
    )
    start = time.perf_counter()
    metrics, sample = evaluate(run, test, train_valid)
    eval_seconds = time.perf_counter() - start
    entry = {
        "model": name,
        "params": run.search.best.params,
        "valid": {"ndcg@10": run.search.best.valid["ndcg@10"]},
        "test": {m: metrics[m] for m in (*METRICS, "coverage@10")},
        "test_ci95": confidence_intervals(sample, METRICS),
        "n_test_users": int(sample.n_users),
        "seconds": {
            "subsets": subsets,
            "tuning": float(sum(t.fit_seconds for t in run.search.trials)),
            "tuning_fits": len(run.search.trials),
            "refit": run.fit_seconds,
            "evaluate": eval_seconds,
        },
        "grid": grid,
    }
    return entry, sample


def compare(key: str, spark: Any, *, single: bool = False) -> dict[str, Any]:
    from digirec.engines.spark import prepare

    path = DATASETS[key]
    local_grid, spark_grid = (SINGLE if single else GRIDS)[key]
    start = time.perf_counter()
    raw = load_data(path)
    load_seconds = time.perf_counter() - start
    say(f"{key}: loaded {len(raw.interactions)} rows in {load_seconds:.1f}s")

    # Spark side: prepare + split on Spark, MLlib ALS.
    prepared = prepare(spark, raw, duplicates="first", split=True)
    assert prepared.masks is not None
    say(f"{key}: Spark preparation {prepared.seconds}")
    spark_entry, spark_sample = one_side("spark-als", prepared.dataset, prepared.masks, spark_grid)
    spark_entry["seconds"] = {**prepared.seconds, **spark_entry["seconds"]}

    # Local side: Dataset.from_raw + leave_one_out, implicit's ALS.
    start = time.perf_counter()
    dataset = Dataset.from_raw(raw, duplicates="first")
    prepare_seconds = time.perf_counter() - start
    start = time.perf_counter()
    masks = leave_one_out(dataset)
    split_seconds = time.perf_counter() - start
    # The two preparations must agree exactly, or the comparison means nothing.
    assert dataset.user_map == prepared.dataset.user_map
    assert dataset.item_map == prepared.dataset.item_map
    for part in ("train", "valid", "test"):
        assert np.array_equal(getattr(masks, part), getattr(prepared.masks, part))
    local_entry, local_sample = one_side("als", dataset, masks, local_grid)
    local_entry["seconds"] = {
        "prepare": prepare_seconds,
        "split": split_seconds,
        **local_entry["seconds"],
    }
    return {
        "dataset": {
            "name": key,
            "n_users": dataset.n_users,
            "n_items": dataset.n_items,
            "n_interactions": dataset.n_interactions,
        },
        "split": {
            "n_train": int(masks.train.sum()),
            "n_valid": int(masks.valid.sum()),
            "n_test": int(masks.test.sum()),
        },
        "load_seconds": load_seconds,
        "results": [local_entry, spark_entry],
        "spark_minus_local": paired_differences(spark_sample, local_sample, METRICS),
    }


def to_markdown(document: dict[str, Any]) -> str:
    lines = [
        "### Spark MLlib ALS vs single-machine iALS (leave-one-out, tuned on validation)",
        "",
        f"Spark master `{document['spark_master']}`; {document['machine']}. Test metrics with "
        "95% bootstrap intervals over test users; the difference is paired (same users, same "
        "draws). Seconds are wall time on a shared, heavily loaded 2-core machine: compare "
        "them with each other, not with other tables.",
        "",
    ]
    for entry in document["datasets"]:
        ds = entry["dataset"]
        lines += [
            f"#### {ds['name']} — {ds['n_users']:,} users, {ds['n_items']:,} items, "
            f"{ds['n_interactions']:,} interactions",
            "",
            "| engine | model | ndcg@10 [95% CI] | recall@10 [95% CI] | mrr@20 | valid ndcg@10 "
            "| chosen |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in entry["results"]:
            ci = r["test_ci95"]
            engine = "spark" if r["model"] == "spark-als" else "local"
            chosen = ", ".join(
                f"{k}={v}" for k, v in r["params"].items() if k in ("regularization", "alpha")
            )
            lines.append(
                f"| {engine} | {r['model']} | {r['test']['ndcg@10']:.4f} "
                f"[{ci['ndcg@10'][0]:.4f}, {ci['ndcg@10'][1]:.4f}] | "
                f"{r['test']['recall@10']:.4f} [{ci['recall@10'][0]:.4f}, "
                f"{ci['recall@10'][1]:.4f}] | {r['test']['mrr@20']:.4f} | "
                f"{r['valid']['ndcg@10']:.4f} | `{chosen}` |"
            )
        diff = entry["spark_minus_local"]
        lines += [
            "",
            "Spark − local: "
            + "; ".join(
                f"{m} {diff[m]['diff']:+.4f} [{diff[m]['ci95'][0]:+.4f}, {diff[m]['ci95'][1]:+.4f}]"
                for m in ("ndcg@10", "recall@10")
            ),
            "",
            "| stage (s) | local | spark |",
            "|---|---|---|",
        ]
        local, spark = (r["seconds"] for r in entry["results"])
        for stage in ("prepare", "split", "collect", "tuning", "refit", "evaluate"):
            left = local.get(stage)
            right = spark.get(stage)
            lines.append(
                f"| {stage} | {'–' if left is None else f'{left:.1f}'} | "
                f"{'–' if right is None else f'{right:.1f}'} |"
            )
        lines.append(f"| fits in the search | {local['tuning_fits']} | {spark['tuning_fits']} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument(
        "--single-setting",
        action="store_true",
        help="No search: the setting chosen earlier on validation (SINGLE), one fit per side.",
    )
    args = parser.parse_args()
    from digirec.engines.spark import spark_session

    spark = spark_session(args.master, app_name="digirec-spark-vs-ials")
    started = time.perf_counter()
    document: dict[str, Any] = {
        "digirec_version": __version__,
        "spark_master": spark.sparkContext.master,
        "pyspark_version": spark.version,
        "machine": f"{os.cpu_count()} CPUs, shared with other jobs",
        "protocol": "leave-one-out (DESIGN.md section 3)",
        "common_params": COMMON,
        "single_setting": args.single_setting,
        "datasets": [],
    }
    for key in args.datasets.split(","):
        document["datasets"].append(compare(key, spark, single=args.single_setting))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(document, indent=2))
    document["total_seconds"] = time.perf_counter() - started
    args.out.write_text(json.dumps(document, indent=2))
    if args.markdown is not None:
        args.markdown.write_text(to_markdown(document))
    say(to_markdown(document))


if __name__ == "__main__":
    main()
