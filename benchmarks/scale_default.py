"""The default ``digirec benchmark`` on a large catalogue, with what each model chose.

Runs exactly the leave-one-out protocol of ``digirec benchmark`` (``run_benchmark``, the default
model set ``DEFAULT_BENCHMARK_MODELS``) on a data folder, optionally with every catalogue item
in the item space (``--include-catalog``: items nobody bought are still ranked, so a 100k-item
catalogue is a 100k-item ranking even when the events touch fewer items). Adds to the benchmark
JSON a ``scale`` block: wall time, peak RSS, the memory budget in force and, per model, the
``fit_info`` the refit model recorded (EASE's variant, SASRec's softmax, the hybrid's parts).

    python benchmarks/scale_default.py --data DIR --include-catalog --no-tune \\
        --out benchmarks/results/scale_default_100k.json \\
        --markdown benchmarks/results/scale_default_100k.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="Data folder or file (any digirec format).")
    parser.add_argument("--include-catalog", action="store_true", help="Rank every catalogue item.")
    parser.add_argument("--models", default=None, help="Default: DEFAULT_BENCHMARK_MODELS.")
    parser.add_argument("--params", default=None, help="Fixed settings per model (JSON).")
    parser.add_argument("--no-tune", action="store_true", help="Fixed settings, no grid search.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--markdown", type=Path, required=True)
    args = parser.parse_args(argv)

    from digirec.cli.common import DEFAULT_BENCHMARK_MODELS, load_dataset, parse_models
    from digirec.evaluation.benchmark import run_benchmark, to_markdown
    from digirec.memory import MAX_MEMORY_ENV, format_bytes, memory_budget_bytes

    start = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - start:8.1f}s] {message}", file=sys.stderr, flush=True)

    dataset = load_dataset(
        args.data, include_catalog_items=args.include_catalog, default_duplicates="first"
    )
    say(f"loaded {dataset.n_users} users, {dataset.n_items} items, {dataset.n_interactions} rows")
    models = parse_models(args.models or DEFAULT_BENCHMARK_MODELS)
    params: dict[str, Any] = json.loads(args.params) if args.params else {}
    document = run_benchmark(dataset, models, tune=not args.no_tune, params=params, progress=say)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    document["scale"] = {
        "wall_seconds": seconds,
        "peak_rss_mb": peak_mb,
        "include_catalog_items": args.include_catalog,
        "memory_budget": os.environ.get(MAX_MEMORY_ENV) or "machine",
        "memory_budget_bytes": memory_budget_bytes(),
        "cpu_count": os.cpu_count(),
        "fit_info": {r["model"]: r.get("fit_info") for r in document["results"]},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    table = to_markdown(document)
    chosen = "\n".join(
        f"- **{name}**: `{json.dumps(info)}`"
        for name, info in document["scale"]["fit_info"].items()
        if info
    )
    table += (
        f"\n\nWall time {seconds:,.0f} s, peak RSS {peak_mb:,.0f} MB, memory budget "
        f"{format_bytes(document['scale']['memory_budget_bytes'])} "
        f"({MAX_MEMORY_ENV}={document['scale']['memory_budget']}), "
        f"{'fixed settings' if args.no_tune else 'tuned on validation'}.\n\n"
        f"What the models chose:\n\n{chosen or '- (nothing recorded)'}\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2))
    args.markdown.write_text(table)
    say(f"wrote {args.out} and {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
