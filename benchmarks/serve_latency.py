"""Serving benchmark: a real `digirec serve` process under load from a second process.

Usage::

    python benchmarks/serve_latency.py            # 100,000 items, 1,000,000 users (~6 minutes)
    python benchmarks/serve_latency.py --small    # 10,000 items, 50,000 users (~2 minutes)
        [--workdir DIR] [--duration 30] [--concurrency 1,2,4,16] [--engine auto|wrk|httpx]

Writes ``benchmarks/results/serve_latency.json`` and ``serve_latency.md`` (``--small``:
``serve_latency_small.*``).

What it does
------------
1. **Shop.** A catalogue of ``n_items`` (12 categories with the synthetic shop's shares, brands,
   log-normal prices per category, 92 % in stock) and ``n_users`` users with 10-20 interactions
   each (70 % in one favourite category, 30 % anywhere; item popularity is long-tailed, Zipf
   exponent 1), drawn with numpy in seconds (the behavioural generator of ``digirec.data.synth``
   needs minutes for a 100,000-item catalogue and is far too slow for a million users). ALS (64
   factors, 3 sweeps; ``--small``: 5) is trained on it and saved as a bundle; the store (SQLite)
   gets the catalogue through the store API and the events by a bulk insert into the same
   schema. ``--workdir`` keeps all of it for the next run (events a run posts are deleted
   before the next one starts, so every run starts from the same store).
2. **Server.** ``python -m digirec.cli serve`` (uvicorn, one worker, 127.0.0.1, explanations off
   by default: ``DIGIREC_EXPLAIN=false``) as a subprocess. With 100,000 items (above
   ``ann_threshold``) personalised lists use the ANN path: a category filter is scored exactly
   on that category's price-sorted vector block, other filters go through the FAISS index; at
   10,000 items (``--small``) every item is scored exactly.
3. **Load** from a second process, ``benchmarks/serve_loadgen.py``: ``wrk`` when installed
   (``apt-get install wrk``; C, so the load generator takes little of the two cores), else
   asyncio + httpx. ``GET /v1/users/{id}/recommendations?k=10&category=C&max_price=P`` for
   random known users, a category drawn with the catalogue's shares and a price ceiling between
   the category's median and 90th percentile; closed loop with ``c`` connections for
   ``--duration`` seconds per concurrency level; then the same without the category (the FAISS
   path), and with explanations on.
4. **Ingestion**: ``POST /v1/events`` batches of 100 events (4 concurrent writers) for half of
   ``--duration``: events committed per second (each batch is one SQLite transaction,
   ``synchronous=FULL``); then a short load phase on users who now have real-time events.
5. **Freshness**: 50 trials of: read a user's list, post one event (a purchase of the list's
   first item), read again until the list differs; the time from sending the event to the first
   changed list.

Every request goes to 127.0.0.1; every loop is bounded in time and count; the server is
terminated (then killed) at the end whatever happens. Latency figures depend on the machine and
its load: the load average is recorded next to every phase.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
LOADGEN = HERE / "serve_loadgen.py"
API_KEY = "bench-key-0123456789abcdef"

#: Category -> (share of items, share of users' favourite, median price).
CATEGORIES: dict[str, tuple[float, float, float]] = {
    "Phones": (0.11, 0.17, 520.0),
    "Laptops": (0.10, 0.12, 950.0),
    "Tablets": (0.06, 0.08, 420.0),
    "Headphones": (0.09, 0.13, 130.0),
    "Cameras": (0.07, 0.06, 780.0),
    "Smartwatches": (0.06, 0.08, 260.0),
    "TVs": (0.06, 0.07, 700.0),
    "Speakers": (0.05, 0.06, 160.0),
    "Monitors": (0.05, 0.05, 310.0),
    "Games": (0.07, 0.10, 55.0),
    "Software": (0.03, 0.03, 70.0),
    "Accessories": (0.25, 0.05, 30.0),
}
BRANDS = [
    "Apple",
    "Samsung",
    "Huawei",
    "Xiaomi",
    "Google",
    "OPPO",
    "vivo",
    "OnePlus",
    "Sony",
    "Bose",
    "Sennheiser",
    "JBL",
    "Beats",
    "Lenovo",
    "Dell",
    "HP",
    "Asus",
    "Acer",
    "MSI",
    "Microsoft",
    "Canon",
    "Nikon",
    "Fujifilm",
    "Panasonic",
    "LG",
    "TCL",
    "Hisense",
    "Philips",
    "Logitech",
    "Anker",
    "Belkin",
    "Nintendo",
    "Garmin",
    "Amazfit",
    "Razer",
]

SIZES = {
    "full": {"n_items": 100_000, "n_users": 1_000_000, "iterations": 3},
    "small": {"n_items": 10_000, "n_users": 50_000, "iterations": 5},
}


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ---------------------------------------------------------------------- the shop
def make_shop(n_items: int, n_users: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Catalogue and interactions, vectorised (a million users in a few seconds)."""
    rng = np.random.default_rng(seed)
    names = list(CATEGORIES)
    item_share = np.array([CATEGORIES[c][0] for c in names])
    interest = np.array([CATEGORIES[c][1] for c in names])
    median = np.array([CATEGORIES[c][2] for c in names])
    category = rng.choice(len(names), n_items, p=item_share / item_share.sum())
    # Each category sells a handful of brands, some far more than others.
    brand_pool = [rng.choice(len(BRANDS), 10, replace=False) for _ in names]
    brand_rank = np.minimum(rng.zipf(1.6, n_items) - 1, 9)
    brand = np.array([brand_pool[c][r] for c, r in zip(category, brand_rank, strict=True)])
    price = np.exp(np.log(median[category]) + rng.normal(0.0, 0.6, n_items))
    price = np.maximum(np.floor(price) + 0.99, 1.99)
    item_ids = np.char.add("p", np.char.zfill(np.arange(n_items).astype(str), 6)).astype(object)
    items = pd.DataFrame(
        {
            "item_id": item_ids,
            "title": [
                f"{BRANDS[b]} {names[c]} {i}"
                for i, (b, c) in enumerate(zip(brand, category, strict=True))
            ],
            "brand": np.asarray(BRANDS, dtype=object)[brand],
            "category": np.asarray(names, dtype=object)[category],
            "price": price,
            "in_stock": rng.random(n_items) < 0.92,
        }
    )
    # Long-tail popularity: Zipf weights over a random order of the items.
    weight = 1.0 / (10.0 + rng.permutation(n_items)) ** 1.0
    n_per_user = rng.integers(10, 21, n_users)
    total = int(n_per_user.sum())
    user_of = np.repeat(np.arange(n_users), n_per_user)
    favourite = rng.choice(len(names), n_users, p=interest / interest.sum())
    in_favourite = rng.random(total) < 0.7
    picked = np.empty(total, dtype=np.int64)
    uniform = rng.random(total)
    glob = np.cumsum(weight) / weight.sum()
    rest = ~in_favourite
    picked[rest] = np.minimum(np.searchsorted(glob, uniform[rest]), n_items - 1)
    fav_of_draw = favourite[user_of]
    for c in range(len(names)):
        members = np.flatnonzero(category == c)
        draws = np.flatnonzero(in_favourite & (fav_of_draw == c))
        if not len(draws):
            continue
        cum = np.cumsum(weight[members]) / weight[members].sum()
        pos = np.minimum(np.searchsorted(cum, uniform[draws]), len(members) - 1)
        picked[draws] = members[pos]
    user_ids = np.char.add("u", np.char.zfill(np.arange(n_users).astype(str), 7)).astype(object)
    events = rng.choice(
        np.array(["view", "click", "cart", "purchase"], dtype=object),
        total,
        p=[0.8, 0.1, 0.05, 0.05],
    )
    interactions = pd.DataFrame(
        {
            "user_id": user_ids[user_of],
            "item_id": item_ids[picked],
            "event": events,
            "timestamp": 1.7e9 + np.arange(total, dtype=np.float64) * 0.5,
            "source_row": np.arange(total, dtype=np.int64),
        }
    )
    return items, interactions


def seed_events(database: Path, interactions: pd.DataFrame, chunk: int = 500_000) -> int:
    """Bulk insert into the store's own events table (the store API inserts ~30x slower)."""
    conn = sqlite3.connect(database)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        now = time.time()
        users = interactions["user_id"].to_numpy()
        items = interactions["item_id"].to_numpy()
        kinds = interactions["event"].to_numpy()
        stamps = interactions["timestamp"].to_numpy()
        sql = (
            "INSERT INTO events (user_id, item_id, event, timestamp, rating, weight, created_at) "
            "VALUES (?, ?, ?, ?, NULL, NULL, ?)"
        )
        for start in range(0, len(interactions), chunk):
            stop = start + chunk
            rows = zip(
                users[start:stop],
                items[start:stop],
                kinds[start:stop],
                stamps[start:stop].tolist(),
                [now] * (min(stop, len(interactions)) - start),
                strict=True,
            )
            conn.execute("BEGIN")
            conn.executemany(sql, rows)
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (watermark,) = conn.execute("SELECT COALESCE(MAX(event_id), 0) FROM events").fetchone()
    finally:
        conn.close()
    return int(watermark)


def prepare(workdir: Path, size: dict[str, int], seed: int) -> dict[str, Any]:
    """Build (or reuse) the shop, the bundle and the seeded store in ``workdir``."""
    from threadpoolctl import threadpool_limits

    from digirec.artifacts import save_bundle
    from digirec.models.registry import create_model
    from digirec.serving.engine.retrain import build_training_dataset
    from digirec.store import open_store

    marker = workdir / "prepared.json"
    wanted = {**size, "seed": seed}
    if marker.exists():
        info = json.loads(marker.read_text())
        if info.get("params") == wanted:
            say(f"reusing the prepared shop in {workdir}")
            return dict(info)
    shutil.rmtree(workdir / "bundle", ignore_errors=True)
    for stale in workdir.glob("store.db*"):
        stale.unlink()
    shutil.rmtree(workdir / "state", ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    started = time.perf_counter()
    items, interactions = make_shop(size["n_items"], size["n_users"], seed)
    timings["shop_s"] = time.perf_counter() - started
    say(f"shop: {len(items):,} items, {len(interactions):,} interactions")

    started = time.perf_counter()
    dataset = build_training_dataset(interactions, items=items, users=None)
    timings["dataset_s"] = time.perf_counter() - started
    started = time.perf_counter()
    params = {"factors": 64, "iterations": size["iterations"], "random_state": seed}
    with threadpool_limits(1, "blas"):
        model = create_model("als", params).fit(dataset)
    timings["fit_s"] = time.perf_counter() - started
    say(f"ALS fitted in {timings['fit_s']:.0f} s ({dataset.n_users:,} x {dataset.n_items:,})")

    started = time.perf_counter()
    database = workdir / "store.db"
    store = open_store(f"sqlite:///{database}")
    store.upsert_items(items)
    store.close()
    watermark = seed_events(database, interactions)
    timings["store_s"] = time.perf_counter() - started
    say(f"store seeded in {timings['store_s']:.0f} s ({watermark:,} events)")

    started = time.perf_counter()
    # The watermark says every stored event is training data (none is replayed as real time).
    save_bundle(
        model,
        dataset,
        workdir / "bundle",
        extra={"model_version": 1, "store_event_watermark": watermark},
    )
    timings["bundle_s"] = time.perf_counter() - started

    # Request material for the load generator: users, filters and the event pool.
    rng = np.random.default_rng(seed + 1)
    names = list(CATEGORIES)
    shares = items["category"].value_counts(normalize=True).reindex(names).fillna(0).to_numpy()
    ceilings = {
        c: (float(g.quantile(0.5)), float(g.quantile(0.9)))
        for c, g in items.groupby("category")["price"]
    }
    users = dataset.user_map.to_list()
    n_paths = 50_000
    chosen_users = rng.choice(len(users), n_paths)
    chosen_cats = rng.choice(len(names), n_paths, p=shares / shares.sum())
    paths = []
    for u, c in zip(chosen_users, chosen_cats, strict=True):
        lo, hi = ceilings[names[c]]
        ceiling = round(float(rng.uniform(lo, hi)))
        paths.append(
            f"/v1/users/{users[u]}/recommendations?k=10&category={names[c]}&max_price={ceiling}"
        )
    (workdir / "paths.txt").write_text("\n".join(paths) + "\n")
    pool = {
        "users": [users[i] for i in rng.choice(len(users), 20_000, replace=False)],
        "items": items["item_id"].tolist(),
    }
    (workdir / "pool.json").write_text(json.dumps(pool))
    info = {
        "params": wanted,
        "n_items": len(items),
        "n_users": int(dataset.n_users),
        "n_interactions": int(dataset.n_interactions),
        "n_events_in_store": watermark,
        "model": {"name": "als", **params},
        "timings": {k: round(v, 1) for k, v in timings.items()},
    }
    marker.write_text(json.dumps(info, indent=2))
    return info


# ---------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_store(workdir: Path) -> int:
    """Drop the events a previous run posted: every run starts from the prepared store."""
    info = json.loads((workdir / "prepared.json").read_text())
    conn = sqlite3.connect(workdir / "store.db")
    try:
        removed = conn.execute(
            "DELETE FROM events WHERE event_id > ?", (int(info["n_events_in_store"]),)
        ).rowcount
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return int(removed)


def start_server(
    workdir: Path, port: int, log: Path, explain: bool, timeout: float
) -> tuple[subprocess.Popen[bytes], float]:
    import httpx

    removed = reset_store(workdir)
    if removed:
        say(f"removed {removed:,} events a previous run had posted")
    state = workdir / "state"
    shutil.rmtree(state, ignore_errors=True)
    command = [
        sys.executable,
        "-m",
        "digirec.cli",
        "serve",
        "--bundle",
        str(workdir / "bundle"),
        "--database",
        f"sqlite:///{workdir / 'store.db'}",
        "--api-key",
        API_KEY,
        "--state-dir",
        str(state),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    env = {
        **os.environ,
        "DIGIREC_EXPLAIN": "true" if explain else "false",
        "DIGIREC_SEARCH_ENCODER": "tfidf",
        # One request per thread: a multi-threaded BLAS only spins on two shared cores.
        "OPENBLAS_NUM_THREADS": "1",
    }
    started = time.perf_counter()
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/health/ready", timeout=2, trust_env=False).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop_server(process)
            raise RuntimeError(
                f"server not ready after {timeout:.0f} s:\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.5)
    return process, time.perf_counter() - started


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)


def loadgen(args: list[str], out: Path, timeout: float) -> dict[str, Any]:
    """Run the load generator as a second process and read its JSON result."""
    command = [sys.executable, str(LOADGEN), *args, "--out", str(out)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if completed.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{completed.stdout}\n{completed.stderr}")
    return dict(json.loads(out.read_text()))


def run_phase(
    name: str, server: subprocess.Popen[bytes], args: list[str], out: Path, timeout: float
) -> dict[str, Any]:
    cpu_before = cpu_seconds(server.pid)
    started = time.perf_counter()
    result = loadgen(args, out, timeout)
    wall = time.perf_counter() - started
    cpu = cpu_seconds(server.pid) - cpu_before
    result["phase"] = name
    result["server_cpu_s"] = round(cpu, 2)
    result["server_cpu_share"] = round(cpu / wall, 2) if wall > 0 else None
    result["server_rss_mb"] = round(rss_mb(server.pid), 1)
    result["loadavg_after"] = loadavg()
    n = result.get("requests") or result.get("n_batches") or 0
    if n:
        result["server_cpu_ms_per_request"] = round(1000 * cpu / n, 3)
    say(f"{name}: {summary_line(result)}")
    return result


def summary_line(r: dict[str, Any]) -> str:
    if "rps" in r:
        return (
            f"{r['rps']:,.0f} req/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
            f"errors {r['errors']}, load {r['loadavg_after']}"
        )
    if "events_per_s" in r:
        return (
            f"{r['events_per_s']:,.0f} events/s in batches of {r['batch']}, "
            f"batch p50 {r['batch_p50_ms']:.1f} ms, load {r['loadavg_after']}"
        )
    if "median_ms" in r:
        return (
            f"event -> changed list: median {r['median_ms']:.2f} ms, "
            f"p90 {r['p90_ms']:.2f} ms ({r['n_changed']}/{r['trials']} changed)"
        )
    return json.dumps(r)


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="10k items / 50k users, short.")
    parser.add_argument("--workdir", type=Path, default=None, help="Keep/reuse data here.")
    parser.add_argument("--duration", type=float, default=None, help="Seconds per load phase.")
    parser.add_argument("--concurrency", default="1,2,4,16", help="Connections per phase.")
    parser.add_argument("--engine", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start-timeout", type=float, default=900.0)
    parser.add_argument("--out-name", default=None, help="Result file stem.")
    args = parser.parse_args(argv)
    mode = "small" if args.small else "full"
    size = SIZES[mode]
    duration = args.duration if args.duration is not None else (10.0 if args.small else 30.0)
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    stem = args.out_name or ("serve_latency_small" if args.small else "serve_latency")

    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="digirec-serve-")) if temporary else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "benchmark": "serve_latency",
        "mode": mode,
        "machine": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "cpu_count": os.cpu_count(),
            "loadavg_at_start": loadavg(),
        },
        "settings": {
            "duration_s": duration,
            "concurrency": levels,
            "engine": args.engine,
            "explain": False,
            "uvicorn_workers": 1,
        },
    }
    server: subprocess.Popen[bytes] | None = None
    started_all = time.perf_counter()
    try:
        report["data"] = prepare(workdir, size, args.seed)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = workdir / "server.log"
        server, start_s = start_server(workdir, port, log, False, args.start_timeout)
        report["server"] = {
            "start_s": round(start_s, 1),
            "rss_mb_after_start": round(rss_mb(server.pid), 1),
            "info": _server_info(base),
            "http_stack": http_stack(dict(os.environ)),
        }
        say(f"server ready in {start_s:.0f} s: {report['server']['info']}")
        paths = workdir / "paths.txt"
        common = ["--base", base, "--engine", args.engine]
        phase_timeout = duration + 120
        phases: list[dict[str, Any]] = []
        # Warm-up (not reported): first requests import modules, fill the mask cache.
        run_phase(
            "warm-up",
            server,
            ["recs", *common, "--paths", str(paths), "--duration", "5", "--concurrency", "4"],
            workdir / "warmup.json",
            phase_timeout,
        )
        for c in levels:
            phases.append(
                run_phase(
                    f"recommendations c={c}",
                    server,
                    [
                        "recs",
                        *common,
                        "--paths",
                        str(paths),
                        "--duration",
                        str(duration),
                        "--concurrency",
                        str(c),
                    ],
                    workdir / f"recs-{c}.json",
                    phase_timeout,
                )
            )
        # Without a category only the budget filters: the FAISS index path (a category filter
        # is scored exactly on that category's price-sorted vector block).
        phases.append(
            run_phase(
                "recommendations, price filter only (FAISS) c=1",
                server,
                [
                    "recs",
                    *common,
                    "--paths",
                    str(_write_price_only_paths(workdir)),
                    "--duration",
                    str(max(5.0, duration / 3)),
                    "--concurrency",
                    "1",
                ],
                workdir / "recs-price-only.json",
                phase_timeout,
            )
        )
        for explained_c in (1, 4):
            phases.append(
                run_phase(
                    f"recommendations with explanations c={explained_c}",
                    server,
                    [
                        "recs",
                        *common,
                        "--paths",
                        str(paths),
                        "--duration",
                        str(max(5.0, duration / 3)),
                        "--concurrency",
                        str(explained_c),
                        "--query-suffix",
                        "&explain=true",
                    ],
                    workdir / f"recs-explain-c{explained_c}.json",
                    phase_timeout,
                )
            )
        pool = workdir / "pool.json"
        phases.append(
            run_phase(
                "ingestion",
                server,
                [
                    "ingest",
                    "--base",
                    base,
                    "--api-key",
                    API_KEY,
                    "--pool",
                    str(pool),
                    "--duration",
                    str(max(5.0, duration / 2)),
                    "--concurrency",
                    "4",
                    "--batch",
                    "100",
                ],
                workdir / "ingest.json",
                phase_timeout,
            )
        )
        ingested = phases[-1].pop("users_sample", [])
        (workdir / "ingested_users.json").write_text(json.dumps(ingested))
        phases.append(
            run_phase(
                "freshness",
                server,
                [
                    "fresh",
                    "--base",
                    base,
                    "--api-key",
                    API_KEY,
                    "--pool",
                    str(pool),
                    "--trials",
                    "50",
                ],
                workdir / "fresh.json",
                phase_timeout,
            )
        )
        # After the ingestion many users have real-time events: lists fold them in.
        phases.append(
            run_phase(
                "recommendations after ingestion c=4",
                server,
                [
                    "recs",
                    *common,
                    "--paths",
                    str(workdir / "paths_realtime.txt"),
                    "--duration",
                    str(max(5.0, duration / 3)),
                    "--concurrency",
                    "4",
                ],
                workdir / "recs-realtime.json",
                phase_timeout,
            )
            if _write_realtime_paths(workdir)
            else {"phase": "recommendations after ingestion c=4", "skipped": True}
        )
        report["phases"] = phases
        report["server"]["rss_mb_at_end"] = round(rss_mb(server.pid), 1)
    finally:
        if server is not None:
            stop_server(server)
        report["machine"]["loadavg_at_end"] = loadavg()
        report["wall_s"] = round(time.perf_counter() - started_all, 1)
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    report["targets"] = _targets(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2))
    (RESULTS / f"{stem}.md").write_text(render_markdown(report))
    say(f"wrote {RESULTS / stem}.json and .md")
    print(render_markdown(report))
    return 0


def _server_info(base: str) -> dict[str, Any]:
    import httpx

    info = httpx.get(f"{base}/v1/model", timeout=10, trust_env=False).json()
    return {k: info.get(k) for k in ("name", "version", "n_users", "n_items", "n_catalogue_items")}


def _write_price_only_paths(workdir: Path) -> Path:
    """The request paths without their category parameter."""
    out = workdir / "paths_price_only.txt"
    lines = []
    for line in (workdir / "paths.txt").read_text().splitlines():
        path, _, query = line.partition("?")
        kept = [part for part in query.split("&") if not part.startswith("category=")]
        lines.append(f"{path}?{'&'.join(kept)}")
    out.write_text("\n".join(lines) + "\n")
    return out


def http_stack(env: dict[str, str]) -> dict[str, bool]:
    """Whether the server's interpreter finds uvicorn's fast HTTP parser and event loop."""
    # Imported, not only found: uvicorn's "auto" falls back to h11 / asyncio when the import
    # fails (a broken wheel), so this reports what the server runs.
    code = (
        "import importlib, json\n"
        "def ok(m):\n"
        "    try:\n"
        "        importlib.import_module(m)\n"
        "    except Exception:\n"
        "        return False\n"
        "    return True\n"
        "print(json.dumps({m: ok(m) for m in ('httptools', 'uvloop')}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    found: dict[str, bool] = json.loads(out.stdout)
    return found


def _write_realtime_paths(workdir: Path) -> bool:
    """Paths of the users who got events in the ingestion phase (their lists fold them in)."""
    written = workdir / "ingested_users.json"
    if not written.exists():
        return False
    users = json.loads(written.read_text())
    if not users:
        return False
    paths = [line for line in (workdir / "paths.txt").read_text().splitlines() if line]
    rng = np.random.default_rng(7)
    out = []
    for i in range(min(20_000, 10 * len(users))):
        template = paths[i % len(paths)]
        query = template.split("?", 1)[1]
        out.append(f"/v1/users/{users[int(rng.integers(len(users)))]}/recommendations?{query}")
    (workdir / "paths_realtime.txt").write_text("\n".join(out) + "\n")
    return True


def _targets(report: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, each at one shopper at a time (c=1): p50 <= 2 ms, p99 <= 10 ms and
    >= 1,000 req/s for plain lists, p99 <= 20 ms with explanations. ``all_at`` lists every
    concurrency level that meets the three plain ones at once (a closed loop trades latency
    for throughput: more connections queue behind the one worker)."""
    by_name = {p.get("phase"): p for p in report.get("phases", []) if "p99_ms" in p}
    plain = by_name.get("recommendations c=1")
    if plain is None:
        return {}
    explained = by_name.get("recommendations with explanations c=1")
    checks = [
        ("p50_ms", plain, 2.0, False),
        ("p99_ms", plain, 10.0, False),
        ("rps", plain, 1000.0, True),
    ]
    if explained is not None:
        checks.append(("explained_p99_ms", explained, 20.0, False))
    targets: dict[str, Any] = {}
    for key, phase, limit, at_least in checks:
        measured = phase[key.removeprefix("explained_")]
        targets[key] = {
            "target": limit,
            "measured": measured,
            "at": phase["phase"],
            "met": measured >= limit if at_least else measured <= limit,
        }
    targets["all_at"] = [
        name
        for name, p in by_name.items()
        if name.startswith("recommendations c=")
        and p["p50_ms"] <= 2.0
        and p["p99_ms"] <= 10.0
        and p["rps"] >= 1000.0
    ]
    return targets


def render_markdown(report: dict[str, Any]) -> str:
    data = report.get("data", {})
    machine = report["machine"]
    lines = [
        "# Serving benchmark: `digirec serve` under load",
        "",
        f"Mode `{report['mode']}`: {data.get('n_items', 0):,} items, "
        f"{data.get('n_users', 0):,} users, {data.get('n_interactions', 0):,} training "
        f"interactions (store: {data.get('n_events_in_store', 0):,} events, SQLite); model "
        f"ALS {data.get('model', {}).get('factors')} factors, "
        f"{data.get('model', {}).get('iterations')} sweeps. One uvicorn worker on 127.0.0.1, "
        "explanations off unless stated; the load generator "
        "(`benchmarks/serve_loadgen.py`) runs as a second process on the same 2 cores.",
        "",
        f"Machine: {machine['cpu_count']} CPU cores (shared with other jobs), "
        f"{machine['platform']}, Python {machine['python']}. Load average at start "
        f"{machine['loadavg_at_start']}, at end {machine.get('loadavg_at_end')}. "
        "Figures from a shared machine are noisy: compare runs only with their load averages.",
        "",
    ]
    server = report.get("server", {})
    if server:
        stack = server.get("http_stack", {})
        parser = "httptools" if stack.get("httptools") else "h11"
        loop = "uvloop" if stack.get("uvloop") else "asyncio"
        lines += [
            f"Server start (bundle load, catalogue, ANN index): {server.get('start_s')} s; RSS "
            f"{server.get('rss_mb_after_start')} MB after start, "
            f"{server.get('rss_mb_at_end')} MB at the end. uvicorn HTTP parser: {parser}, "
            f"event loop: {loop}.",
            "",
        ]
    lines += [
        "## Recommendations (`GET /v1/users/{id}/recommendations?k=10&category=..&max_price=..`)",
        "",
        "| phase | engine | req/s | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | errors | "
        "server CPU ms/req | load avg after |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for p in report.get("phases", []):
        if "rps" not in p:
            continue
        lines.append(
            f"| {p['phase']} | {p.get('engine')} | {p['rps']:,.0f} | {p['p50_ms']:.2f} | "
            f"{p['p90_ms']:.2f} | {p['p99_ms']:.2f} | {p['max_ms']:.1f} | {p['errors']} | "
            f"{p.get('server_cpu_ms_per_request', '-')} | {p['loadavg_after']} |"
        )
    if any(p.get("engine") == "httpx" for p in report.get("phases", [])):
        lines += [
            "",
            "Engine `httpx` (wrk is not installed): the Python load generator needs about a core "
            "of its own at these rates, so these figures measure it as much as the server.",
        ]
    for p in report.get("phases", []):
        if "events_per_s" in p:
            lines += [
                "",
                "## Event ingestion (`POST /v1/events`)",
                "",
                f"{p['events_per_s']:,.0f} events/s committed in batches of {p['batch']} "
                f"({p['concurrency']} concurrent writers, {p['duration_s']:.0f} s, "
                f"{p['events']:,} events, {p['errors']} errors); batch latency p50 "
                f"{p['batch_p50_ms']:.1f} ms, p99 {p['batch_p99_ms']:.1f} ms. Load average "
                f"after: {p['loadavg_after']}.",
            ]
        if "median_ms" in p:
            lines += [
                "",
                "## Event -> changed recommendations",
                "",
                f"Over {p['trials']} trials (post a purchase of the first recommended item, "
                f"read the list until it changes): median {p['median_ms']:.2f} ms, p90 "
                f"{p['p90_ms']:.2f} ms, max {p['max_ms']:.2f} ms; {p['n_changed']} of "
                f"{p['trials']} changed, {p['n_first_read']} already on the first read after "
                f"the POST returned (POST alone: median {p['post_median_ms']:.2f} ms).",
            ]
    targets = report.get("targets") or {}
    if targets:
        labels = {
            "p50_ms": ("p50 <= 2 ms", "{:.2f} ms"),
            "p99_ms": ("p99 <= 10 ms", "{:.2f} ms"),
            "rps": (">= 1,000 req/s", "{:,.0f}"),
            "explained_p99_ms": ("p99 <= 20 ms with explanations", "{:.2f} ms"),
        }
        lines += ["", "## Targets (2 cores)", "", "| target | measured | where | met |"]
        lines.append("|---|---:|---|---|")
        for key, (label, fmt) in labels.items():
            if key in targets:
                t = targets[key]
                met = "yes" if t["met"] else "no"
                lines.append(f"| {label} | {fmt.format(t['measured'])} | {t['at']} | {met} |")
        lines += [
            "",
            "All three plain targets at one concurrency level: "
            + (", ".join(targets.get("all_at", [])) or "none")
            + ".",
        ]
    flag = " --small" if report["mode"] == "small" else ""
    timings = data.get("timings")
    if timings:
        lines += ["", f"Preparation timings (s): {timings}."]
    lines += [
        "",
        f"Reproduce: `python benchmarks/serve_latency.py{flag}`"
        " (add `--workdir DIR` to keep the shop, bundle and store for the next run).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
