"""digirec against RecTools (SASRec and EASE) on one split, one machine, one run.

RecTools (https://github.com/MobileTeleSystems/RecTools) lives in its own virtualenv -- it is
never a dependency of digirec::

    python3 -m venv /work/peers-venv
    # reuse digirec's CPU torch instead of downloading the CUDA build from PyPI:
    echo /work/main/.venv/lib/python3.11/site-packages \
        > /work/peers-venv/lib/python3.11/site-packages/zz_digirec_torch.pth
    /work/peers-venv/bin/pip install 'torch==2.13.0' 'rectools[torch]'

Protocol: digirec's leave-one-out split (DESIGN.md section 3). Both libraries train on train +
validation with the same settings for a fixed number of epochs (no early stopping, so an epoch
means the same work), the user's training items are filtered, and the top-k lists of both are
scored by digirec's metric code (full ranking over all items) with 95% bootstrap intervals and a
paired difference (digirec minus RecTools). Runs alternate between the libraries (digirec
SASRec, RecTools SASRec, digirec EASE, RecTools EASE) so that a shared machine's load hits both
alike; both use the same torch build and thread count.

    .venv/bin/python benchmarks/peers/run_peers.py --data ../shared/datasets/movielens-100k \
        --epochs 50 --threads 2 --out benchmarks/results/peers.json \
        --markdown benchmarks/results/peers.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from digirec import __version__
from digirec.data.dataset import Dataset
from digirec.data.load import load_data
from digirec.data.split import leave_one_out
from digirec.evaluation.evaluate import metrics_of_recommendations
from digirec.evaluation.stats import confidence_intervals, paired_differences, user_sample
from digirec.models.registry import create_model

HERE = Path(__file__).resolve().parent
KS = (10, 20)
HEADLINE = ("ndcg@10", "recall@10", "ndcg@20", "recall@20", "mrr@20")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "threads": args.threads,
        "seed": args.seed,
        "k": max(KS),
        # digirec's SASRec defaults (DESIGN / docs/benchmark.md), mirrored in RecTools' names.
        "sasrec": {
            "hidden": 64,
            "n_blocks": 2,
            "n_heads": 1,
            "dropout": 0.3,
            "max_len": 50,
            "lr": 1e-3,
            "batch_size": 128,
            "epochs": args.epochs,
        },
        "ease": {"lambda": args.ease_lambda},
    }


def _score(
    name: str, reco: np.ndarray, users: np.ndarray, truth: Any, n_items: int
) -> dict[str, Any]:
    metrics = metrics_of_recommendations(reco, truth, ks=KS, n_items=n_items)
    sample = user_sample(users, reco, truth, ks=KS, n_items=n_items)
    return {
        "name": name,
        "test": {m: metrics[m] for m in (*HEADLINE, "coverage@10")},
        "test_ci95": confidence_intervals(sample),
        "_sample": sample,
    }


def _rectools(peers_python: str, work: Path, model: str) -> tuple[np.ndarray, dict[str, Any]]:
    out = work / "out"
    cmd = [peers_python, str(HERE / "rectools_side.py"), str(work), str(out), model]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    wall = time.perf_counter() - start
    info = json.loads((out / f"{model}.json").read_text())
    info["process_seconds"] = wall
    return np.load(out / f"{model}_reco.npy"), info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ease-lambda", type=float, default=100.0)
    parser.add_argument("--peers-python", default="/work/peers-venv/bin/python")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--markdown", type=Path, required=True)
    args = parser.parse_args()
    settings = _settings(args)
    # The machine's load is measured, not assumed: absolute seconds mean little on a machine
    # that other jobs share, while the alternating order keeps the ratios fair either way.
    load_before = os.getloadavg()[0]
    import torch

    torch.set_num_threads(args.threads)

    dataset = Dataset.from_raw(load_data(args.data))
    masks = leave_one_out(dataset)
    fit_data = dataset.subset(masks.train | masks.valid)
    test = dataset.subset(masks.test)
    truth_all = test.user_item_matrix(binary=True)
    users = np.flatnonzero(np.diff(truth_all.indptr) > 0).astype(np.int64)
    truth = truth_all[users]
    n_items = dataset.n_items

    with tempfile.TemporaryDirectory(prefix="digirec-peers-") as tmp:
        work = Path(tmp)
        inter = fit_data.interactions
        pd.DataFrame(
            {
                "user": fit_data.user_idx,
                "item": fit_data.item_idx,
                # Rows are grouped by user in chronological order: the row number keeps it.
                "order": np.arange(len(inter), dtype=np.int64),
            }
        ).to_csv(work / "train.csv", index=False)
        pd.DataFrame({"user": users}).to_csv(work / "users.csv", index=False)
        (work / "settings.json").write_text(json.dumps(settings))

        rows: list[dict[str, Any]] = []
        s = settings["sasrec"]
        # 1. digirec SASRec (fixed epochs: no validation set is passed).
        sasrec = create_model(
            "sasrec",
            {
                "hidden": s["hidden"],
                "n_blocks": s["n_blocks"],
                "n_heads": s["n_heads"],
                "dropout": s["dropout"],
                "max_len": s["max_len"],
                "lr": s["lr"],
                "batch_size": s["batch_size"],
                "epochs": s["epochs"],
                "n_threads": args.threads,
                "show_progress": False,
                "random_state": args.seed,
            },
        )
        start, cpu = time.perf_counter(), time.process_time()
        sasrec.fit(fit_data)
        fit_seconds, fit_cpu = time.perf_counter() - start, time.process_time() - cpu
        reco, _ = sasrec.recommend_idx(users, max(KS))
        row = _score("digirec SASRec", reco, users, truth, n_items)
        history = sasrec.history_
        assert history is not None
        row.update(
            library="digirec",
            model="sasrec",
            fit_seconds=fit_seconds,
            fit_cpu_seconds=fit_cpu,
            seconds_per_epoch=history.seconds_per_epoch,
            # CPU seconds of the process per epoch (the fit has no validation, so this is
            # training plus a small setup share): robust to a loaded machine.
            cpu_seconds_per_epoch=fit_cpu / history.n_epochs,
            epochs=history.n_epochs,
        )
        rows.append(row)
        print(f"digirec sasrec: {row['seconds_per_epoch']:.2f} s/epoch", flush=True)
        # 2. RecTools SASRec.
        reco, info = _rectools(args.peers_python, work, "sasrec")
        row = _score("RecTools SASRecModel", reco, users, truth, n_items)
        row.update(
            library="rectools",
            model="sasrec",
            fit_seconds=info["fit_seconds"],
            fit_cpu_seconds=info["fit_cpu_seconds"],
            seconds_per_epoch=float(np.mean(info["epoch_seconds"])),
            cpu_seconds_per_epoch=info["fit_cpu_seconds"] / len(info["epoch_seconds"]),
            epochs=len(info["epoch_seconds"]),
            rectools_version=info["rectools_version"],
        )
        rows.append(row)
        print(f"rectools sasrec: {row['seconds_per_epoch']:.2f} s/epoch", flush=True)
        # 3. digirec EASE, 4. RecTools EASE.
        ease = create_model("ease", {"lambda": args.ease_lambda})
        start, cpu = time.perf_counter(), time.process_time()
        ease.fit(fit_data)
        fit_seconds, fit_cpu = time.perf_counter() - start, time.process_time() - cpu
        reco, _ = ease.recommend_idx(users, max(KS))
        row = _score("digirec EASE", reco, users, truth, n_items)
        row.update(
            library="digirec", model="ease", fit_seconds=fit_seconds, fit_cpu_seconds=fit_cpu
        )
        rows.append(row)
        reco, info = _rectools(args.peers_python, work, "ease")
        row = _score("RecTools EASEModel", reco, users, truth, n_items)
        row.update(
            library="rectools",
            model="ease",
            fit_seconds=info["fit_seconds"],
            fit_cpu_seconds=info["fit_cpu_seconds"],
        )
        rows.append(row)

    by_key = {(r["library"], r["model"]): r for r in rows}
    comparisons = {}
    for model in ("sasrec", "ease"):
        ours, theirs = by_key[("digirec", model)], by_key[("rectools", model)]
        entry: dict[str, Any] = {
            "digirec_minus_rectools": paired_differences(ours["_sample"], theirs["_sample"]),
            "fit_seconds_ratio": ours["fit_seconds"] / theirs["fit_seconds"],
            "fit_cpu_seconds_ratio": ours["fit_cpu_seconds"] / theirs["fit_cpu_seconds"],
        }
        if model == "sasrec":
            entry["seconds_per_epoch_ratio"] = (
                ours["seconds_per_epoch"] / theirs["seconds_per_epoch"]
            )
            entry["cpu_seconds_per_epoch_ratio"] = (
                ours["cpu_seconds_per_epoch"] / theirs["cpu_seconds_per_epoch"]
            )
        comparisons[model] = entry
    for r in rows:
        del r["_sample"]
    document = {
        "dataset": {
            "name": dataset.name,
            "n_users": dataset.n_users,
            "n_items": dataset.n_items,
            "n_interactions": dataset.n_interactions,
        },
        "protocol": (
            "leave-one-out; fit on train + validation, fixed epochs, test scored by digirec"
        ),
        "settings": settings,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
            "note": _load_note(load_before, os.getloadavg()[0], os.cpu_count() or 1),
        },
        "digirec_version": __version__,
        "results": rows,
        "comparisons": comparisons,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2, sort_keys=True))
    args.markdown.write_text(_markdown(document))
    print(_markdown(document))


def _markdown(doc: dict[str, Any]) -> str:
    ds = doc["dataset"]
    s = doc["settings"]
    lines = [
        f"### digirec vs RecTools on {ds['name']} ({ds['n_users']:,} users, "
        f"{ds['n_items']:,} items, {ds['n_interactions']:,} interactions)",
        "",
        f"Leave-one-out (digirec's split), both fitted on train + validation, "
        f"{s['sasrec']['epochs']} epochs for SASRec (hidden {s['sasrec']['hidden']}, "
        f"{s['sasrec']['n_blocks']} blocks, {s['sasrec']['n_heads']} head, dropout "
        f"{s['sasrec']['dropout']}, max_len {s['sasrec']['max_len']}, batch "
        f"{s['sasrec']['batch_size']}, Adam {s['sasrec']['lr']}, full softmax), EASE "
        f"λ={s['ease']['lambda']:g}; torch threads {s['threads']}. Test lists of both libraries "
        "scored by digirec's metric code; 95% bootstrap intervals over users.",
        "",
        "| library | model | ndcg@10 [95% CI] | recall@10 | ndcg@20 | s / epoch (wall) "
        "| CPU s / epoch | fit s (wall) | fit CPU s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["results"]:
        lo, hi = r["test_ci95"]["ndcg@10"]
        per_epoch = r.get("seconds_per_epoch")
        cpu_epoch = r.get("cpu_seconds_per_epoch")
        lines.append(
            f"| {r['library']} | {r['model']} | {r['test']['ndcg@10']:.4f} [{lo:.4f}, {hi:.4f}] "
            f"| {r['test']['recall@10']:.4f} | {r['test']['ndcg@20']:.4f} | "
            f"{'–' if per_epoch is None else f'{per_epoch:.2f}'} | "
            f"{'–' if cpu_epoch is None else f'{cpu_epoch:.2f}'} | {r['fit_seconds']:.1f} | "
            f"{r['fit_cpu_seconds']:.1f} |"
        )
    lines += [
        "",
        "| model | Δ ndcg@10 digirec − RecTools [95% CI] | wall-time ratio digirec / RecTools "
        "| CPU-time ratio |",
        "|---|---|---|---|",
    ]
    for model, c in doc["comparisons"].items():
        d = c["digirec_minus_rectools"]["ndcg@10"]
        ratio = c.get("seconds_per_epoch_ratio", c["fit_seconds_ratio"])
        cpu_ratio = c.get("cpu_seconds_per_epoch_ratio", c["fit_cpu_seconds_ratio"])
        unit = "per epoch" if "seconds_per_epoch_ratio" in c else "per fit"
        lines.append(
            f"| {model} | {d['diff']:+.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}] | "
            f"{ratio:.2f}× {unit} | {cpu_ratio:.2f}× {unit} |"
        )
    lines += ["", doc["machine"]["note"] + "."]
    return "\n".join(lines) + "\n"


def _load_note(before: float, after: float, cpus: int) -> str:
    """The measured 1-minute load averages, stated without guessing what caused them."""
    return (
        f"1-minute load average {before:.2f} before the run and {after:.2f} after it, on {cpus} "
        "CPUs (the run itself keeps up to `threads` cores busy; the 1-minute average decays "
        "over minutes, so 'before' also carries any job that ended just before); the libraries "
        "ran alternately in one process window"
    )


def rerender(json_path: Path, markdown_path: Path) -> None:
    """Rewrite a result's note from its recorded load averages, and its markdown from it."""
    document = json.loads(json_path.read_text())
    load = document["machine"]["load_average_1min"]
    document["machine"]["note"] = _load_note(
        load["before"], load["after"], document["machine"]["cpus"]
    )
    json_path.write_text(json.dumps(document, indent=2, sort_keys=True))
    markdown_path.write_text(_markdown(document))


if __name__ == "__main__":
    main()
