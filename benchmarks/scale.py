"""Scale benchmark: a synthetic shop of ``--users`` x ``--items`` with ``--events`` events.

Stages, each in its own process so that its peak resident memory is its own::

    generate    digirec's synthetic shop written as Parquet, block by block (write_synthetic_shop)
    ingest      load_data on that folder: chunked Parquet reading through the one validator
    dataset     Dataset.from_raw: id maps, event weights, per-user order, duplicate merge
                (the process loads the files again first; only the build is timed)
    train_als   implicit's iALS (64 factors, 15 iterations) on the Dataset, then the bundle
    index       FAISS IVF index over the iALS item factors (recall@10 calibrated to 0.95)
    train_deep  SASRec with sampled softmax: one epoch timed, the full run projected
    serve       `digirec serve` on the iALS bundle, loopback HTTP: p50/p99 at c=1 and c=2

Usage::

    python benchmarks/scale.py --users 1000000 --items 100000 --events 10000000 \\
        --out benchmarks/results/scale.json

writes ``scale.json`` (``{"users", "items", "events", "stages": [{"name", "seconds",
"peak_rss_mb", ...}]}``) and ``scale.md`` next to it. ``seconds`` is the timed work of the
stage (wall clock); ``cpu_seconds`` (user + system of the stage process) and
``process_seconds`` (the whole process: imports and untimed set-up included) come with it.
``peak_rss_mb`` is the process's high-water mark of resident memory (``wait4``); for
``serve`` the larger of the stage process and the server process.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LOADGEN = HERE / "serve_loadgen.py"
STAGES = ("generate", "ingest", "dataset", "train_als", "index", "train_deep", "serve")
#: Stages whose total the target bounds (seconds on 2 cores) and the memory bound of each.
TARGET_STAGES = ("ingest", "dataset", "train_als", "index")
TARGET_SECONDS = 600.0
TARGET_RSS_MB = 8 * 1024.0


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- stage bodies
def _threads(n: int) -> None:
    """Every thread pool of the stage to ``n`` threads (BLAS, OpenMP, torch)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)


def stage_generate(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from digirec.data.synth import SynthConfig, write_synthetic_shop

    started = time.perf_counter()
    written = write_synthetic_shop(
        SynthConfig(n_users=args.users, n_items=args.items, random_state=args.seed),
        work / "shop",
        "parquet",
        n_events=args.events,
    )
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in written.paths.values())
    return {
        "seconds": seconds,
        "n_events": written.n_events,
        "n_items": written.n_items,
        "mean_sessions_per_user": written.config.mean_sessions_per_user,
        "parquet_mb": round(size / 2**20, 1),
    }


def stage_ingest(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from digirec.data.load import load_data

    started = time.perf_counter()
    raw = load_data(work / "shop", format="parquet")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "n_rows": len(raw.interactions)}


def stage_dataset(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from digirec.data.dataset import Dataset
    from digirec.data.load import load_data

    raw = load_data(work / "shop", format="parquet")
    started = time.perf_counter()
    dataset = Dataset.from_raw(raw)
    seconds = time.perf_counter() - started
    del raw
    with (work / "dataset.pkl").open("wb") as fh:
        pickle.dump(dataset, fh, protocol=5)
    return {
        "seconds": seconds,
        "n_users": dataset.n_users,
        "n_items": dataset.n_items,
        "n_interactions": dataset.n_interactions,
    }


def _dataset(work: Path) -> Any:
    with (work / "dataset.pkl").open("rb") as fh:
        return pickle.load(fh)


def stage_train_als(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from digirec.artifacts import save_bundle
    from digirec.models.registry import create_model

    dataset = _dataset(work)
    params = {"factors": 64, "iterations": 15, "random_state": args.seed}
    started = time.perf_counter()
    model = create_model("als", params).fit(dataset)
    seconds = time.perf_counter() - started
    bundle_started = time.perf_counter()
    save_bundle(model, dataset, work / "bundle", extra={"model_version": 1})
    users = dataset.user_map.external_ids
    with (work / "users.txt").open("w") as fh:
        step = max(1, len(users) // 20_000)
        fh.write("\n".join(str(u) for u in users[::step]) + "\n")
    return {
        "seconds": seconds,
        "params": params,
        "bundle_seconds": round(time.perf_counter() - bundle_started, 2),
    }


def stage_index(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import numpy as np

    from digirec.artifacts import load_bundle
    from digirec.retrieval.ann import FaissIndex

    model = load_bundle(work / "bundle").model
    vectors = np.asarray(model.item_factors_, dtype=np.float32)
    rng = np.random.default_rng(args.seed)
    users = np.asarray(model.user_factors_, dtype=np.float32)
    queries = users[rng.choice(len(users), size=min(256, len(users)), replace=False)]
    started = time.perf_counter()
    index = FaissIndex(
        vectors, "ip", kind="ivf", calibration_queries=queries, n_threads=args.threads,
        random_state=args.seed,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "n_vectors": int(vectors.shape[0]),
        "nlist": int(index.nlist),
        "nprobe": index.nprobe_,
        "calibrated_recall_at_10": index.calibrated_recall_,
    }


def stage_train_deep(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import numpy as np

    from digirec.models.registry import create_model

    dataset = _dataset(work)
    n_users = dataset.n_users
    if args.deep_users and args.deep_users < n_users:
        # One epoch over a random sample of users; an epoch is one pass over the users'
        # sequences, so the full epoch is projected by the share of training rows sampled.
        rng = np.random.default_rng(args.seed)
        chosen = np.zeros(n_users, dtype=bool)
        chosen[rng.choice(n_users, size=args.deep_users, replace=False)] = True
        sample = dataset.subset(chosen[dataset.user_idx])
    else:
        sample = dataset
    share = sample.n_interactions / dataset.n_interactions
    params = {
        "epochs": 1,
        "batch_size": args.deep_batch_size,
        "n_negatives": args.deep_negatives,
        "n_threads": args.deep_threads,
        "show_progress": False,
        "random_state": args.seed,
    }
    started = time.perf_counter()
    model = create_model("sasrec", params).fit(sample)
    seconds = time.perf_counter() - started
    epoch_seconds = float(model.history_.records[0].seconds)
    full_epoch = epoch_seconds / share
    return {
        "seconds": seconds,
        "model": "sasrec",
        "params": params,
        "users_in_timed_epoch": int(np.unique(sample.user_idx).size),
        "interaction_share_in_timed_epoch": round(share, 4),
        "epoch_seconds": round(epoch_seconds, 2),
        "full_epoch_seconds": round(full_epoch, 1),
        "projected_epochs": args.deep_epochs,
        "projected_full_run_seconds": round(full_epoch * args.deep_epochs, 1),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _hwm_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a running process, Linux /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stage_serve(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import httpx

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    users = (work / "users.txt").read_text().split()
    paths = work / "paths.txt"
    paths.write_text("".join(f"/v1/users/{u}/recommendations?k=10\n" for u in users))
    log = work / "serve.log"
    command = [
        sys.executable, "-m", "digirec.cli", "serve", "--bundle", str(work / "bundle"),
        "--database", f"sqlite:///{work / 'store.db'}", "--host", "127.0.0.1",
        "--port", str(port), "--log-level", "warning", "--state-dir", str(work / "state"),
    ]  # fmt: skip
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "DIGIREC_SEARCH_ENCODER": "tfidf"}
    started = time.perf_counter()
    with log.open("ab") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + args.start_timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/health/ready", timeout=2, trust_env=False).is_success:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {args.start_timeout:.0f} s")
            time.sleep(0.5)
        startup = time.perf_counter() - started
        # Warm-up: the first requests fill lazily built caches; they are not measured.
        with httpx.Client(base_url=base, trust_env=False, timeout=120) as client:
            for user in users[:20]:
                client.get(f"/v1/users/{user}/recommendations?k=10").raise_for_status()
        phases: dict[str, Any] = {}
        for concurrency in (1, 2):
            out_file = work / f"serve_c{concurrency}.json"
            run = [
                sys.executable, str(LOADGEN), "recs", "--base", base, "--paths", str(paths),
                "--concurrency", str(concurrency), "--duration", str(args.serve_seconds),
                "--engine", "httpx", "--out", str(out_file),
            ]  # fmt: skip
            done = subprocess.run(
                run, capture_output=True, text=True, timeout=args.serve_seconds * 4 + 120
            )
            if done.returncode != 0:
                raise RuntimeError(f"load generator failed:\n{done.stdout}\n{done.stderr}")
            result = json.loads(out_file.read_text())
            phases[f"c{concurrency}"] = {
                key: result.get(key)
                for key in ("requests", "errors", "rps", "p50_ms", "p90_ms", "p99_ms", "max_ms")
            }
        server_hwm = _hwm_mb(server.pid)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=30)
    return {
        "seconds": time.perf_counter() - started,
        "startup_seconds": round(startup, 2),
        "server_peak_rss_mb": round(server_hwm, 1),
        "duration_per_phase_s": args.serve_seconds,
        **phases,
    }


STAGE_BODIES = {
    "generate": stage_generate,
    "ingest": stage_ingest,
    "dataset": stage_dataset,
    "train_als": stage_train_als,
    "index": stage_index,
    "train_deep": stage_train_deep,
    "serve": stage_serve,
}


# ---------------------------------------------------------------------------- the driver
def run_stage(name: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Run one stage in a child process; its timing, CPU and peak memory from ``wait4``."""
    result_file = work / f"stage_{name}.json"
    result_file.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--stage", name, *args.passthrough]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "OPENBLAS_NUM_THREADS": str(args.threads),
        "MKL_NUM_THREADS": str(args.threads),
    }
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"stage {name} failed with exit status {process.returncode}")
    body = json.loads(result_file.read_text())
    peak = usage.ru_maxrss / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0)
    peak = max(peak, float(body.get("server_peak_rss_mb") or 0.0))
    stage = {
        "name": name,
        "seconds": round(float(body.pop("seconds")), 2),
        "peak_rss_mb": round(peak, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "process_seconds": round(wall, 1),
        **body,
    }
    say(
        f"{name}: {stage['seconds']:.1f} s (cpu {stage['cpu_seconds']:.0f} s), "
        f"peak RSS {stage['peak_rss_mb']:.0f} MB"
    )
    return stage


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    stages = {s["name"]: s for s in report["stages"]}
    timed = [stages[n] for n in TARGET_STAGES if n in stages]
    total = sum(s["seconds"] for s in timed)
    worst = max((s["peak_rss_mb"] for s in report["stages"]), default=0.0)
    return {
        "target_stages": list(TARGET_STAGES),
        "target_seconds": round(total, 1),
        "target_cpu_seconds": round(sum(s["cpu_seconds"] for s in timed), 1),
        "seconds_limit": TARGET_SECONDS,
        # Only a run of all four stages can meet (or miss) the total.
        "seconds_met": total <= TARGET_SECONDS if len(timed) == len(TARGET_STAGES) else None,
        "max_peak_rss_mb": worst,
        "rss_limit_mb": TARGET_RSS_MB,
        "rss_met": worst <= TARGET_RSS_MB,
    }


def render_markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    lines = [
        f"# Scale benchmark: {report['users']:,} users, {report['items']:,} items, "
        f"{report['events']:,} events",
        "",
        f"Machine: {report['machine']}. {report['note']}",
        "",
        "| stage | seconds | CPU seconds | peak RSS (MB) | notes |",
        "|---|---:|---:|---:|---|",
    ]
    for st in report["stages"]:
        lines.append(
            f"| {st['name']} | {st['seconds']:.1f} | {st['cpu_seconds']:.0f} | "
            f"{st['peak_rss_mb']:.0f} | {_notes(st)} |"
        )
    lines += [
        "",
        f"ingest + dataset + train_als + index: **{s['target_seconds']} s** wall "
        f"({s['target_cpu_seconds']} CPU s); target <= {s['seconds_limit']:.0f} s: "
        f"{_verdict(s['seconds_met'])}. Largest peak RSS "
        f"{s['max_peak_rss_mb']:.0f} MB; target <= {s['rss_limit_mb']:.0f} MB: "
        f"{_verdict(s['rss_met'])}.",
        "",
        f"Command: `{report['command']}`",
        "",
    ]
    return "\n".join(lines)


def _verdict(met: bool | None) -> str:
    if met is None:
        return "not judged (not every one of those stages was run)"
    return "met" if met else "NOT met"


def _notes(stage: dict[str, Any]) -> str:
    name = stage["name"]
    if name == "generate":
        return (
            f"{stage['n_events']:,} events, {stage['mean_sessions_per_user']} sessions/user, "
            f"{stage['parquet_mb']} MB Parquet"
        )
    if name == "ingest":
        return f"{stage['n_rows']:,} rows"
    if name == "dataset":
        return (
            f"{stage['n_users']:,} x {stage['n_items']:,}, "
            f"{stage['n_interactions']:,} pairs after merging"
        )
    if name == "train_als":
        return f"iALS {stage['params']['factors']} factors x {stage['params']['iterations']} it."
    if name == "index":
        return (
            f"IVF nlist={stage['nlist']}, nprobe={stage['nprobe']}, "
            f"recall@10={stage['calibrated_recall_at_10']}"
        )
    if name == "train_deep":
        p = stage["params"]
        timed = (
            f"one epoch {stage['epoch_seconds']} s"
            if stage["interaction_share_in_timed_epoch"] >= 1.0
            else (
                f"epoch over {stage['users_in_timed_epoch']:,} sampled users "
                f"{stage['epoch_seconds']} s, full epoch ~ {stage['full_epoch_seconds']} s"
            )
        )
        return (
            f"SASRec, sampled softmax ({p['n_negatives']} negatives), batch {p['batch_size']}: "
            f"{timed}; {stage['projected_epochs']} epochs "
            f"~ {stage['projected_full_run_seconds'] / 3600:.1f} h (projected)"
        )
    if name == "serve":
        c1, c2 = stage["c1"], stage["c2"]
        return (
            f"c=1 p50 {c1['p50_ms']:.1f} / p99 {c1['p99_ms']:.1f} ms ({c1['rps']:.0f} rps); "
            f"c=2 p50 {c2['p50_ms']:.1f} / p99 {c2['p99_ms']:.1f} ms ({c2['rps']:.0f} rps); "
            f"startup {stage['startup_seconds']} s"
        )
    return ""


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "scale.json")
    parser.add_argument("--workdir", type=Path, default=None, help="Default: a temporary folder.")
    parser.add_argument("--stages", default=",".join(STAGES), help="Comma-separated subset.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--serve-seconds", type=float, default=20.0)
    parser.add_argument("--start-timeout", type=float, default=900.0)
    parser.add_argument("--deep-batch-size", type=int, default=512)
    parser.add_argument("--deep-negatives", type=int, default=1024)
    parser.add_argument("--deep-epochs", type=int, default=200, help="Epochs projected.")
    parser.add_argument(
        "--deep-users", type=int, default=0, help="Time the epoch on this many users (0: all)."
    )
    # One torch thread: on a loaded 2-core machine two OpenMP threads spin against each other
    # (one SASRec step took 4x longer with 2 threads than with 1 here).
    parser.add_argument("--deep-threads", type=int, default=1)
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    if args.stage is not None:
        _threads(args.threads)
        work = Path(args.workdir)
        body = STAGE_BODIES[args.stage](args, work)
        (work / f"stage_{args.stage}.json").write_text(json.dumps(body, default=str))
        return 0
    names = [n for n in args.stages.split(",") if n]
    unknown = sorted(set(names) - set(STAGES))
    if unknown:
        raise SystemExit(f"unknown stage(s): {', '.join(unknown)}; choose from {STAGES}")
    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="digirec-scale-")
        args.workdir = Path(tmp.name)
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.passthrough = [a for a in _strip(argv, "--workdir", "--out", "--stages")] + [
        "--workdir", str(args.workdir),
    ]  # fmt: skip
    try:
        stages = [run_stage(name, args, args.workdir) for name in STAGES if name in names]
    finally:
        if tmp is not None:
            tmp.cleanup()
    report: dict[str, Any] = {
        "users": args.users,
        "items": args.items,
        "events": args.events,
        "stages": stages,
        "machine": f"{os.cpu_count()} CPUs visible, {args.threads} threads per stage",
        "note": (
            "Measured on a machine whose 2 cores were shared with other jobs, so wall-clock "
            "seconds are inflated; CPU seconds are the stage process's own."
        ),
        "command": "python benchmarks/scale.py " + " ".join(argv),
    }
    report["summary"] = summarise(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(render_markdown(report))
    say(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


def _strip(argv: list[str], *options: str) -> list[str]:
    """``argv`` without the given options and their values (``--opt v`` or ``--opt=v``)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in options:
            skip = True
            continue
        if any(arg.startswith(o + "=") for o in options):
            continue
        out.append(arg)
    return out


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
