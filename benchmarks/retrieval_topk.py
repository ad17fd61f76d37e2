"""Retrieval micro-benchmark: exact vs FAISS filtered top-k on a 100k-item catalogue.

Usage::

    python benchmarks/retrieval_topk.py [--n-items 100000] [--dim 64] [--n-queries 1000]
        [--k 10] [--kinds ivf,hnsw] [--data clustered|random] [--seed 0]

Writes ``benchmarks/results/retrieval_topk.json`` and ``retrieval_topk.md``.

What is measured, per index and filter scenario:

* **per-query latency** (p50 / p99 / mean, milliseconds): one ``search`` call per query, the way
  a request is served, BLAS and FAISS limited to one thread (one request per core);
* **batch throughput** (queries per second): all queries at once (grouped by filter, since a
  filter mask is shared by the rows of one call), all cores;
* **recall@k** against :class:`~digirec.retrieval.filtered.ExactIndex` under the same filters.

Every query excludes 50 random "seen" items. Filter scenarios: none; one category per query
(12 categories with shop-like shares, 2-25 % of the catalogue); the same category and a price
ceiling near the user's budget; a price ceiling alone (about half the catalogue).

Data: ``clustered`` (default) draws item vectors around 500 centres with varying norms, like
trained item factors or text embeddings, and gives each centre a category (90 % of its items
keep it: phones embed near phones); queries are means of three items plus noise (a user vector
is close to the items the user chose). ``random`` draws isotropic Gaussian vectors and random
categories, the worst case for any ANN index (no structure to exploit). FAISS settings are
calibrated to recall@10 >= 0.95 on 500 held-out queries from the same distribution.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from digirec.retrieval.filtered import ExactIndex, ItemIndex, single_thread_blas

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

#: Category shares of the catalogue (the synthetic shop's mix).
CATEGORY_SHARES = np.array([0.25, 0.11, 0.10, 0.09, 0.07, 0.07, 0.06, 0.06, 0.06, 0.05, 0.05, 0.03])
N_SEEN = 50


N_CENTRES = 500


def make_data(
    n_items: int, dim: int, n_queries: int, kind: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Item vectors, query vectors, calibration queries and item categories.

    Calibration queries come from the query distribution but are not the measured queries (the
    way a service calibrates on a sample of last week's user vectors).
    """
    n_cal = 500
    if kind == "random":
        items = rng.standard_normal((n_items, dim)).astype(np.float32)
        queries = rng.standard_normal((n_queries + n_cal, dim)).astype(np.float32)
        category = rng.choice(len(CATEGORY_SHARES), size=n_items, p=CATEGORY_SHARES)
        return items, queries[:n_queries], queries[n_queries:], category
    centres = rng.standard_normal((N_CENTRES, dim)).astype(np.float32)
    assign = rng.integers(0, N_CENTRES, n_items)
    items = centres[assign] + 0.6 * rng.standard_normal((n_items, dim)).astype(np.float32)
    items *= rng.lognormal(0.0, 0.3, size=(n_items, 1)).astype(np.float32)
    # Categories follow the clusters (phones embed near phones), with 10 % exceptions.
    centre_category = rng.choice(len(CATEGORY_SHARES), size=N_CENTRES, p=CATEGORY_SHARES)
    category = centre_category[assign]
    stray = rng.random(n_items) < 0.1
    category[stray] = rng.choice(len(CATEGORY_SHARES), size=stray.sum(), p=CATEGORY_SHARES)
    picks = rng.integers(0, n_items, size=(n_queries + n_cal, 3))
    queries = items[picks].mean(axis=1) + 0.3 * rng.standard_normal((n_queries + n_cal, dim))
    queries = queries.astype(np.float32)
    return items.astype(np.float32), queries[:n_queries], queries[n_queries:], category


def make_filters(
    category: np.ndarray, n_queries: int, rng: np.random.Generator
) -> dict[str, list[np.ndarray | None]]:
    """Per scenario, one allowed-mask (or None) per query."""
    n_items = category.size
    price = rng.lognormal(np.log(300.0), 1.0, size=n_items)
    query_category = rng.choice(len(CATEGORY_SHARES), size=n_queries, p=CATEGORY_SHARES)
    budget = rng.lognormal(np.log(400.0), 0.7, size=n_queries)
    by_category = [category == c for c in range(len(CATEGORY_SHARES))]
    return {
        "none": [None] * n_queries,
        "category": [by_category[c] for c in query_category],
        "category+price": [
            by_category[c] & (price <= b) for c, b in zip(query_category, budget, strict=True)
        ],
        "price": [price <= np.median(price)] * n_queries,
    }


def _group_by_filter(masks: list[np.ndarray | None]) -> list[tuple[np.ndarray | None, np.ndarray]]:
    """Queries sharing one mask object, so a batch call can serve them together."""
    groups: dict[int, tuple[np.ndarray | None, list[int]]] = {}
    for q, mask in enumerate(masks):
        groups.setdefault(id(mask), (mask, []))[1].append(q)
    return [(mask, np.asarray(rows)) for mask, rows in groups.values()]


def run_scenario(
    index: ItemIndex,
    queries: np.ndarray,
    masks: list[np.ndarray | None],
    excludes: list[np.ndarray],
    k: int,
    *,
    faiss_threads: int | None,
) -> tuple[np.ndarray, dict[str, float]]:
    """Per-query latencies, batch throughput and the results of the batch run."""
    faiss = None
    if index.name.startswith("faiss"):
        import faiss  # type: ignore[no-redef]
    n_queries = len(queries)
    # Per-query: one request at a time, one thread.
    latencies = np.empty(n_queries)
    if faiss is not None:
        faiss.omp_set_num_threads(1)
    with single_thread_blas():
        index.search(queries[:1], k, allowed=masks[0], exclude_per_row=excludes[:1])  # warm-up
        for q in range(n_queries):
            start = time.perf_counter()
            index.search(
                queries[q : q + 1], k, allowed=masks[q], exclude_per_row=excludes[q : q + 1]
            )
            latencies[q] = time.perf_counter() - start
    # Batch: all queries, grouped by filter, all threads.
    if faiss is not None and faiss_threads is not None:
        faiss.omp_set_num_threads(faiss_threads)
    found = np.full((n_queries, k), -1, dtype=np.int64)
    start = time.perf_counter()
    for mask, rows in _group_by_filter(masks):
        idx, _ = index.search(
            queries[rows], k, allowed=mask, exclude_per_row=[excludes[r] for r in rows]
        )
        found[rows] = idx
    batch_s = time.perf_counter() - start
    ms = latencies * 1e3
    return found, {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "batch_qps": float(n_queries / batch_s),
    }


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [np.intersect1d(f[f >= 0], t[t >= 0]).size for f, t in zip(found, truth, strict=True)]
    return float(np.sum(hits) / max(1, np.sum(truth >= 0)))


def to_markdown(report: dict[str, Any]) -> str:
    cfg = report["config"]
    lines = [
        "# Filtered top-k retrieval: exact vs FAISS",
        "",
        f"{cfg['n_items']:,} items x {cfg['dim']}-d ({cfg['data']} vectors), "
        f"{cfg['n_queries']:,} queries, k={cfg['k']}, {N_SEEN} excluded (seen) items per "
        f"query. Machine: {report['machine']['cpu_count']} CPU cores, load average "
        f"{report['machine']['load_average']} at start ({report['machine']['platform']}).",
        "",
        "Per-query latency: one `search` call per query, one thread (BLAS and OpenMP). Batch "
        "throughput: all queries in one call per distinct filter, all cores. Recall@k against "
        "exact search under the same filters.",
        "",
        "## Indexes",
        "",
        "| index | build (s) | settings |",
        "|---|---:|---|",
    ]
    for name, info in report["indexes"].items():
        settings = ", ".join(f"{k}={v}" for k, v in info.items() if k != "build_s")
        lines.append(f"| {name} | {info['build_s']:.1f} | {settings or '-'} |")
    lines += [
        "",
        "## Results",
        "",
        "| filter | allowed share | index | p50 (ms) | p99 (ms) | mean (ms) | batch (q/s) "
        f"| recall@{cfg['k']} |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in report["results"]:
        lines.append(
            f"| {row['filter']} | {row['allowed_share']:.3f} | {row['index']} | "
            f"{row['p50_ms']:.3f} | {row['p99_ms']:.3f} | {row['mean_ms']:.3f} | "
            f"{row['batch_qps']:,.0f} | {row['recall']:.3f} |"
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-items", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--n-queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--kinds", default="ivf,hnsw", help="FAISS index kinds to compare")
    parser.add_argument("--data", choices=("clustered", "random"), default="clustered")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "retrieval_topk")
    args = parser.parse_args(argv)

    from digirec.retrieval.ann import FaissIndex

    rng = np.random.default_rng(args.seed)
    items, queries, calibration, category = make_data(
        args.n_items, args.dim, args.n_queries, args.data, rng
    )
    filters = make_filters(category, args.n_queries, rng)
    excludes = [rng.choice(args.n_items, N_SEEN, replace=False) for _ in range(args.n_queries)]
    n_threads = os.cpu_count() or 1

    indexes: dict[str, ItemIndex] = {}
    info: dict[str, dict[str, Any]] = {}
    start = time.perf_counter()
    indexes["exact"] = ExactIndex(items)
    info["exact"] = {"build_s": time.perf_counter() - start}
    for kind in [k for k in args.kinds.split(",") if k]:
        start = time.perf_counter()
        index = FaissIndex(
            items,
            kind=kind,  # type: ignore[arg-type]
            calibration_queries=calibration,
            n_threads=n_threads,
            random_state=args.seed,
        )
        name = index.name
        indexes[name] = index
        info[name] = {"build_s": time.perf_counter() - start}
        if kind == "ivf":
            info[name].update(nlist=index.nlist, nprobe=index.nprobe_)
        else:
            info[name].update(ef_search=index.ef_search_)
        info[name]["calibrated_recall"] = round(float(index.calibrated_recall_ or 0.0), 3)
        print(f"built {name} in {info[name]['build_s']:.1f}s: {info[name]}", flush=True)

    results = []
    for scenario, masks in filters.items():
        shares = [1.0 if m is None else float(m.mean()) for m in masks]
        truth = None
        for name, index in indexes.items():
            found, stats = run_scenario(
                index, queries, masks, excludes, args.k, faiss_threads=n_threads
            )
            if name == "exact":
                truth = found
            assert truth is not None
            row = {
                "filter": scenario,
                "allowed_share": float(np.mean(shares)),
                "index": name,
                **stats,
                "recall": recall(found, truth),
            }
            results.append(row)
            print(
                f"{scenario:>15} {name:>11}: p50 {row['p50_ms']:.3f} ms, p99 {row['p99_ms']:.3f}"
                f" ms, batch {row['batch_qps']:,.0f} q/s, recall {row['recall']:.3f}",
                flush=True,
            )

    report = {
        "config": {
            "n_items": args.n_items,
            "dim": args.dim,
            "n_queries": args.n_queries,
            "k": args.k,
            "data": args.data,
            "seed": args.seed,
            "n_seen_excluded": N_SEEN,
        },
        "machine": {
            "cpu_count": n_threads,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "platform": platform.platform(),
            "python": sys.version.split()[0],
        },
        "indexes": info,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2))
    args.out.with_suffix(".md").write_text(to_markdown(report))
    print(f"wrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
