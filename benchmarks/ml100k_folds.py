"""Explicit-rating benchmark on MovieLens-100K's official folds u1..u5 (protocol ml100k-folds).

Usage::

    nice -n 10 .venv/bin/python benchmarks/ml100k_folds.py [DATA_DIR] [MODEL ...]

Defaults: ``../shared/datasets/movielens-100k`` and the protocol's default models. Writes
``benchmarks/results/ml100k_folds.json`` and ``.md``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from digirec.evaluation.rating_folds import rating_folds_markdown, run_rating_folds

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "movielens-100k"
OUT = ROOT / "benchmarks" / "results"


def main(argv: list[str]) -> None:
    data = Path(argv[0]) if argv else DEFAULT_DATA
    models = argv[1:]
    start = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - start:7.1f} s] {message}", flush=True)

    document = run_rating_folds(data, models, progress=say)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ml100k_folds.json").write_text(json.dumps(document, indent=2) + "\n")
    (OUT / "ml100k_folds.md").write_text(rating_folds_markdown(document))
    print(rating_folds_markdown(document))


if __name__ == "__main__":
    main(sys.argv[1:])
