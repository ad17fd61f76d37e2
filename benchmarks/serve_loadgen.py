"""Load generator of the serving benchmark, run as its own process (``serve_latency.py`` starts it).

Subcommands (each writes one JSON result to ``--out``)::

    recs    GET the paths of a file (one per line, cycled from a random start) with
            ``--concurrency`` connections for ``--duration`` seconds; engine ``wrk`` (C, when
            installed) or ``httpx`` (asyncio); p50/p90/p99/max latency and requests per second
    ingest  POST /v1/events batches of ``--batch`` random events (users and items from
            ``--pool``) from ``--concurrency`` writers for ``--duration`` seconds: events/s
    fresh   ``--trials`` times: read a user's list, post a purchase of its first item, read
            until the list changes: the time from sending the event to the changed list

Only loopback addresses are accepted as ``--base``; every loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

#: Hard bounds on top of the durations.
MAX_REQUESTS = 5_000_000
MAX_BATCHES = 200_000
POLL_LIMIT_S = 2.0
POLL_MAX_READS = 2_000


def _check_base(base: str) -> str:
    host = urlsplit(base).hostname or ""
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        raise SystemExit(f"refusing a non-loopback target: {base}")
    return base.rstrip("/")


def _percentiles(latencies_s: list[float]) -> dict[str, float]:
    if not latencies_s:
        return {k: float("nan") for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms")}
    arr = np.asarray(latencies_s) * 1000.0
    return {
        "p50_ms": float(np.percentile(arr, 50)),
        "p90_ms": float(np.percentile(arr, 90)),
        "p99_ms": float(np.percentile(arr, 99)),
        "max_ms": float(arr.max()),
        "mean_ms": float(arr.mean()),
    }


def _own_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


# ---------------------------------------------------------------------- recs: wrk
_WRK_SCRIPT = """
local paths = {}
for line in io.lines(%(paths)s) do
  if #line > 0 then paths[#paths + 1] = line .. %(suffix)s end
end
math.randomseed(%(seed)d)
local i = math.random(#paths)
request = function()
  i = i + 1
  if i > #paths then i = 1 end
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  local f = io.open(%(out)s, "w")
  f:write(string.format(
    '{"requests": %%d, "duration_us": %%d, "errors_connect": %%d, "errors_read": %%d, ' ..
    '"errors_write": %%d, "errors_status": %%d, "errors_timeout": %%d, "p50_us": %%d, ' ..
    '"p90_us": %%d, "p99_us": %%d, "max_us": %%d, "mean_us": %%f}',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
  f:close()
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def recs_wrk(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="digirec-wrk-") as tmp:
        out = Path(tmp) / "result.json"
        script = Path(tmp) / "paths.lua"
        script.write_text(
            _WRK_SCRIPT
            % {
                "paths": _lua_string(str(Path(args.paths).resolve())),
                "suffix": _lua_string(args.query_suffix),
                "seed": random.SystemRandom().randrange(1, 2**31),
                "out": _lua_string(str(out)),
            }
        )
        duration = max(1, round(args.duration))
        command = [
            "wrk",
            "-t1",
            f"-c{args.concurrency}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            args.base + "/",
        ]
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + 60, check=False
        )
        if completed.returncode != 0 or not out.exists():
            raise SystemExit(f"wrk failed:\n{completed.stdout}\n{completed.stderr}")
        raw = json.loads(out.read_text())
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw[k] for k in raw if k.startswith("errors_"))
    return {
        "engine": "wrk",
        "concurrency": args.concurrency,
        "duration_s": seconds,
        "requests": raw["requests"],
        "rps": raw["requests"] / seconds if seconds else 0.0,
        "errors": errors,
        "errors_detail": {k: raw[k] for k in raw if k.startswith("errors_")},
        "p50_ms": raw["p50_us"] / 1000.0,
        "p90_ms": raw["p90_us"] / 1000.0,
        "p99_ms": raw["p99_us"] / 1000.0,
        "max_ms": raw["max_us"] / 1000.0,
        "mean_ms": raw["mean_us"] / 1000.0,
    }


# ---------------------------------------------------------------------- recs: httpx
async def _recs_httpx(args: argparse.Namespace, paths: list[str]) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    count = 0
    deadline = time.perf_counter() + args.duration
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(
        base_url=args.base, limits=limits, timeout=10.0, trust_env=False
    ) as client:

        async def worker(offset: int) -> None:
            nonlocal errors, count
            i = offset
            while time.perf_counter() < deadline and count < MAX_REQUESTS:
                path = paths[i % len(paths)] + args.query_suffix
                i += 1
                count += 1
                started = time.perf_counter()
                try:
                    response = await client.get(path)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok

        started = time.perf_counter()
        rng = random.Random()
        await asyncio.gather(*(worker(rng.randrange(len(paths))) for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "engine": "httpx",
        "concurrency": args.concurrency,
        "duration_s": elapsed,
        "requests": len(latencies),
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "errors": errors,
        **_percentiles(latencies),
    }


def cmd_recs(args: argparse.Namespace) -> dict[str, Any]:
    engine = args.engine
    if engine == "auto":
        engine = "wrk" if shutil.which("wrk") else "httpx"
    if engine == "wrk":
        return recs_wrk(args)
    paths = [line for line in Path(args.paths).read_text().splitlines() if line]
    return asyncio.run(_recs_httpx(args, paths))


# ---------------------------------------------------------------------- ingest
async def _ingest(args: argparse.Namespace, pool: dict[str, list[str]]) -> dict[str, Any]:
    import httpx

    users, items = pool["users"], pool["items"]
    kinds = ["view"] * 8 + ["click", "cart"]
    latencies: list[float] = []
    accepted = errors = batches = 0
    touched: list[str] = []
    deadline = time.perf_counter() + args.duration
    headers = {"X-API-Key": args.api_key}
    async with httpx.AsyncClient(
        base_url=args.base,
        limits=httpx.Limits(max_connections=args.concurrency),
        timeout=30.0,
        trust_env=False,
        headers=headers,
    ) as client:

        async def writer(seed: int) -> None:
            nonlocal accepted, errors, batches
            rng = random.Random(seed)
            while time.perf_counter() < deadline and batches < MAX_BATCHES:
                batches += 1
                chosen = [users[rng.randrange(len(users))] for _ in range(args.batch)]
                body = {
                    "events": [
                        {
                            "user_id": u,
                            "item_id": items[rng.randrange(len(items))],
                            "event": kinds[rng.randrange(len(kinds))],
                        }
                        for u in chosen
                    ]
                }
                if len(touched) < 5000:
                    touched.extend(chosen[:5])
                started = time.perf_counter()
                try:
                    response = await client.post("/v1/events", json=body)
                    if response.status_code == 200:
                        accepted += int(response.json()["accepted"])
                    else:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(writer(s) for s in range(args.concurrency)))
        elapsed = time.perf_counter() - started
    pct = _percentiles(latencies)
    return {
        "concurrency": args.concurrency,
        "batch": args.batch,
        "duration_s": elapsed,
        "n_batches": len(latencies),
        "events": accepted,
        "events_per_s": accepted / elapsed if elapsed else 0.0,
        "errors": errors,
        "batch_p50_ms": pct["p50_ms"],
        "batch_p99_ms": pct["p99_ms"],
        "users_sample": sorted(set(touched)),
    }


def cmd_ingest(args: argparse.Namespace) -> dict[str, Any]:
    pool = json.loads(Path(args.pool).read_text())
    return asyncio.run(_ingest(args, pool))


# ---------------------------------------------------------------------- freshness
def cmd_fresh(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    pool = json.loads(Path(args.pool).read_text())
    users = pool["users"][-args.trials * 2 :]
    rng = random.Random(11)
    rng.shuffle(users)
    to_change: list[float] = []
    post_times: list[float] = []
    first_read = 0
    unchanged = 0
    with httpx.Client(base_url=args.base, timeout=10.0, trust_env=False) as client:

        def ids(user: str) -> list[str]:
            response = client.get(f"/v1/users/{user}/recommendations", params={"k": 10})
            response.raise_for_status()
            return [item["item_id"] for item in response.json()["items"]]

        for user in users[: args.trials]:
            before = ids(user)
            if not before:
                unchanged += 1
                continue
            event = {"user_id": user, "item_id": before[0], "event": "purchase"}
            sent = time.perf_counter()
            response = client.post(
                "/v1/events", json={"events": [event]}, headers={"X-API-Key": args.api_key}
            )
            response.raise_for_status()
            post_times.append(time.perf_counter() - sent)
            reads = 0
            changed_at = None
            while reads < POLL_MAX_READS and time.perf_counter() - sent < POLL_LIMIT_S:
                reads += 1
                if ids(user) != before:
                    changed_at = time.perf_counter()
                    break
            if changed_at is None:
                unchanged += 1
                continue
            first_read += reads == 1
            to_change.append(changed_at - sent)
    ms = [1000 * x for x in to_change]
    return {
        "trials": args.trials,
        "n_changed": len(to_change),
        "n_unchanged": unchanged,
        "n_first_read": first_read,
        "median_ms": statistics.median(ms) if ms else float("nan"),
        "p90_ms": float(np.percentile(ms, 90)) if ms else float("nan"),
        "max_ms": max(ms) if ms else float("nan"),
        "post_median_ms": 1000 * statistics.median(post_times) if post_times else float("nan"),
    }


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    recs = sub.add_parser("recs")
    recs.add_argument("--paths", required=True)
    recs.add_argument("--query-suffix", default="")
    recs.add_argument("--engine", choices=["auto", "wrk", "httpx"], default="auto")
    ingest = sub.add_parser("ingest")
    ingest.add_argument("--api-key", required=True)
    ingest.add_argument("--pool", required=True)
    ingest.add_argument("--batch", type=int, default=100)
    fresh = sub.add_parser("fresh")
    fresh.add_argument("--api-key", required=True)
    fresh.add_argument("--pool", required=True)
    fresh.add_argument("--trials", type=int, default=50)
    for p in (recs, ingest, fresh):
        p.add_argument("--base", required=True)
        p.add_argument("--out", required=True)
    for p in (recs, ingest):
        p.add_argument("--duration", type=float, default=30.0)
        p.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    args.base = _check_base(args.base)
    if getattr(args, "duration", 0) > 600:
        raise SystemExit("--duration is capped at 600 s")
    cpu = _own_cpu()
    result = {"recs": cmd_recs, "ingest": cmd_ingest, "fresh": cmd_fresh}[args.command](args)
    result["loadgen_cpu_s"] = round(_own_cpu() - cpu, 2)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
