"""Accuracy benchmark on the real data sets: one command, JSON + markdown per data set.

Usage::

    python benchmarks/run_real_data.py [--datasets instruments,cellphones,ml100k,office]
        [--models pop,itemknn,ease,als,bpr,sasrec,hybrid] [--datasets-dir ../shared/datasets]
        [--no-tune] [--params JSON] [--grid JSON]

Writes ``benchmarks/results/<name>.json`` and ``<name>.md`` and a combined ``summary.md``.
Hyperparameters are tuned on validation only (DESIGN.md §3).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from digirec.data.dataset import Dataset
from digirec.data.load import load_data
from digirec.evaluation.benchmark import run_benchmark, to_markdown

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

#: name -> (folder under the datasets directory, loader format)
DATASETS = {
    "instruments": ("amazon-instruments-2018-5core", "lcrec"),
    "cellphones": ("amazon-cellphones-2014-5core", "rechorus"),
    "ml100k": ("movielens-100k", "movielens"),
    "office": ("amazon-office-2018-minionerec-partial", "minionerec"),
}

#: Every ranking model on the default benchmark; the hybrid last so it reuses the searches.
DEFAULT_MODELS = "pop,itemknn,ease,als,bpr,sasrec,hybrid"


def default_datasets_dir() -> Path:
    env = os.environ.get("DIGIREC_DATASETS")
    return Path(env) if env else HERE.parent.parent / "shared" / "datasets"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--params", type=json.loads, default=None, help="per-model settings")
    parser.add_argument("--grid", type=json.loads, default=None, help="per-model search spaces")
    parser.add_argument("--datasets-dir", type=Path, default=default_datasets_dir())
    parser.add_argument("--no-tune", action="store_true")
    args = parser.parse_args()

    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in args.datasets.split(","):
        folder, fmt = DATASETS[name]
        path = args.datasets_dir / folder
        if not path.exists():
            print(f"skip {name}: {path} not found", file=sys.stderr)
            continue
        start = time.perf_counter()
        dataset = Dataset.from_raw(load_data(path, format=fmt))
        document = run_benchmark(
            dataset,
            args.models.split(","),
            tune=not args.no_tune,
            params=args.params,
            grids=args.grid,
            progress=lambda msg: print(msg, file=sys.stderr, flush=True),
        )
        document["wall_seconds"] = time.perf_counter() - start
        (RESULTS / f"{name}.json").write_text(json.dumps(document, indent=2))
        table = to_markdown(document)
        (RESULTS / f"{name}.md").write_text(table)
        print(table, flush=True)
    write_summary()


def write_summary() -> None:
    """Combine every data set's results (this run's and earlier ones) into summary.md."""
    summary = ["# Real-data benchmark (leave-one-out, full ranking, tuned on validation)", ""]
    for name in DATASETS:
        path = RESULTS / f"{name}.json"
        if path.exists():
            document = json.loads(path.read_text())
            summary.append(to_markdown(document))
            if "wall_seconds" in document:
                summary.append(f"Wall time: {document['wall_seconds']:.0f} s.")
            summary.append("")
        seeds = RESULTS / f"{name}_seeds.md"
        if seeds.exists():
            # Stochastic models over several seeds (benchmarks/seeds.py).
            summary += [seeds.read_text(), ""]
    (RESULTS / "summary.md").write_text("\n".join(summary))


if __name__ == "__main__":
    main()
