"""Stochastic models over several seeds: mean ± sd of test NDCG@10 and of the paired difference.

Usage::

    python benchmarks/seeds.py ml100k [office ...]

Reads ``benchmarks/results/<name>.json`` (the default run, seed 42) and every
``<name>_*seed<S>.json`` (the same command with ``--models als,sasrec,hybrid``, or ``--models
als`` alone, and ``--params`` giving each of them ``random_state`` S), and writes
``<name>_seeds.json`` and ``<name>_seeds.md``.
A seed run's paired difference is against the best baseline of *its own* run (chosen on
validation there; deterministic baselines such as EASE are the same in every run), so each
seed's difference and interval is reported as measured.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
#: The models whose numbers depend on the seed (initialisation, sampling, data order).
STOCHASTIC = ("als", "sasrec", "hybrid")
METRIC = "ndcg@10"


def _seed_of(result: dict[str, Any]) -> int:
    return int(result["params"].get("random_state", 42))


def collect(name: str) -> dict[str, Any]:
    """Per stochastic model: one row per seed (test, interval, paired difference)."""
    runs = sorted(p for p in RESULTS.glob(f"{name}_*seed*.json") if p.name != f"{name}_seeds.json")
    paths = [RESULTS / f"{name}.json", *runs]
    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in STOCHASTIC}
    for path in paths:
        if not path.exists():
            continue
        document = json.loads(path.read_text(encoding="utf-8"))
        for result in document["results"]:
            if result["model"] not in rows:
                continue
            same = [r for r in rows[result["model"]] if r["seed"] == _seed_of(result)]
            if same and (same[0]["test_ci95"] is not None or "test_ci95" not in result):
                continue  # the same model and seed from another file (a partial rerun)
            if same:
                rows[result["model"]].remove(same[0])  # an older run without intervals
            vs = result.get("vs_best_baseline", {})
            if vs.get("baseline") == result["model"]:
                vs = {}  # a run of this model alone: no other baseline to compare with
            rows[result["model"]].append(
                {
                    "seed": _seed_of(result),
                    "file": path.name,
                    METRIC: result["test"][METRIC],
                    "test_ci95": result.get("test_ci95", {}).get(METRIC),
                    "baseline": vs.get("baseline"),
                    "diff": vs.get(METRIC, {}).get("diff"),
                    "diff_ci95": vs.get(METRIC, {}).get("ci95"),
                }
            )
    summary: dict[str, Any] = {"dataset": name, "metric": METRIC, "models": {}}
    for model, seeds in rows.items():
        if not seeds:
            continue
        values = [s[METRIC] for s in seeds]
        diffs = [s["diff"] for s in seeds if s["diff"] is not None]
        summary["models"][model] = {
            "seeds": seeds,
            "mean": statistics.fmean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "diff_mean": statistics.fmean(diffs) if diffs else None,
            "diff_sd": statistics.stdev(diffs) if len(diffs) > 1 else 0.0,
            "n_seeds_better": sum(
                1 for s in seeds if s["diff_ci95"] is not None and s["diff_ci95"][0] > 0
            ),
        }
    return summary


def to_markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"### {summary['dataset']} — stochastic models over seeds (test {METRIC})",
        "",
        "| model | seeds | test ndcg@10 per seed [95% CI] | mean ± sd | Δ vs baseline per seed "
        "[95% paired CI] | Δ mean ± sd | seeds with Δ interval > 0 |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, m in summary["models"].items():
        seeds = m["seeds"]
        per_seed = "; ".join(
            f"{s[METRIC]:.4f}"
            + (f" [{s['test_ci95'][0]:.4f}, {s['test_ci95'][1]:.4f}]" if s["test_ci95"] else "")
            for s in seeds
        )
        per_diff = "; ".join(
            f"{s['diff']:+.4f} [{s['diff_ci95'][0]:+.4f}, {s['diff_ci95'][1]:+.4f}] vs "
            f"{s['baseline']}"
            for s in seeds
            if s["diff"] is not None
        )
        diff = "–" if m["diff_mean"] is None else f"{m['diff_mean']:+.4f} ± {m['diff_sd']:.4f}"
        lines.append(
            f"| {model} | {', '.join(str(s['seed']) for s in seeds)} | {per_seed} | "
            f"{m['mean']:.4f} ± {m['sd']:.4f} | {per_diff or '–'} | {diff} | "
            f"{m['n_seeds_better']}/{len(seeds)} |"
        )
    lines += [
        "",
        "sd: sample standard deviation over the seeds. Each run tunes on validation only; a "
        "seed run repeats the default command for these models with `random_state` = seed.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    for name in sys.argv[1:] or ["ml100k"]:
        summary = collect(name)
        (RESULTS / f"{name}_seeds.json").write_text(json.dumps(summary, indent=2) + "\n")
        table = to_markdown(summary)
        (RESULTS / f"{name}_seeds.md").write_text(table)
        print(table)


if __name__ == "__main__":
    main()
