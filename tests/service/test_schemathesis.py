"""Schemathesis with all its checks against a real ``digirec serve`` process (issue 12).

The server is a separate uvicorn process on a loopback port, on a throwaway copy of the seeded
store (SQLite, and PostgreSQL where ``DIGIREC_TEST_POSTGRES_URL`` is set), so routing,
middleware, the error handlers and the store are the deployed ones. Schemathesis loads the
served ``/openapi.json`` and runs every phase (coverage, fuzzing, stateful) on every operation
with every check (``--checks all``: server errors, status codes, content types, response
headers and schemas, negative / positive data, missing headers, unsupported methods and their
``Allow``, use after free, resource availability, ignored auth), with a bounded number of
examples per operation in deterministic mode (the same cases every run). It sends a key with
every scope, so writes (events, items, users, deletions, retrains) run for real; the checks
that drop or corrupt the key see the 401s.

Two servers per backend: reads open (the default) and reads behind a key
(``--read-requires-key``), because the schema differs between them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from service_helpers import API_KEY, Shop, serve

pytest.importorskip("schemathesis", reason="schemathesis comes with the dev extra")

HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
#: Examples per operation and phase: enough to reach the edge cases, small enough for CI.
MAX_EXAMPLES = 15
#: Settings of the fuzzed server. A high per-key rate limit, so that requests reach the
#: handlers (429 itself is covered by tests/service/test_service_security.py); at most 50 ids
#: or events a request (the schema says so as ``maxItems``): a batch of the default 1,000 users
#: with explanations takes seconds on a loaded machine, and the fuzzer sends many.
SERVER_ENV = {"DIGIREC_RATE_LIMIT_PER_MINUTE": "1000000", "DIGIREC_MAX_BATCH": "50"}


def _operations(schema: dict[str, object]) -> set[str]:
    paths = schema["paths"]
    assert isinstance(paths, dict)
    return {f"{method.upper()} {path}" for path, item in paths.items() for method in item}


def _junit_cases(report_dir: Path) -> dict[str, list[str]]:
    """``{"GET /v1/model": [outcome, ...]}`` from the JUnit report (``passed`` when clean)."""
    (report,) = report_dir.glob("junit*.xml")
    cases: dict[str, list[str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        outcomes = [child.tag for child in case if child.tag in ("failure", "error")]
        cases.setdefault(str(case.get("name")), []).extend(outcomes or ["passed"])
    return cases


@pytest.mark.parametrize("reads", ["open", "keyed"])
def test_schemathesis_finds_nothing(
    backend: str, database_url: str, shop: Shop, tmp_path: Path, reads: str
) -> None:
    args = ["--bundle", str(shop.bundle), "--database", database_url, "--api-key", API_KEY]
    args += ["--state-dir", str(tmp_path / "state"), "--log-level", "warning"]
    if reads == "keyed":
        args.append("--read-requires-key")
    log = tmp_path / "server.log"
    report_dir = tmp_path / "report"
    with serve(args, log, env=SERVER_ENV) as (process, base):
        schema = httpx.get(f"{base}/openapi.json", timeout=30).json()
        command = [sys.executable, "-m", "schemathesis.cli", "run", f"{base}/openapi.json"]
        command += ["--checks", "all", "--max-examples", str(MAX_EXAMPLES)]
        command += ["--generation-deterministic", "--workers", "1", "--no-color"]
        command += ["--header", f"X-API-Key: {API_KEY}", "--request-timeout", "60"]
        command += ["--report", "junit", "--report-dir", str(report_dir)]
        run = subprocess.run(
            command,
            cwd=tmp_path,  # schemathesis' own files stay out of the repository
            env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
            capture_output=True,
            text=True,
            timeout=900,
        )
        still_up = process.poll() is None
        metrics = httpx.get(f"{base}/metrics", headers={"X-API-Key": API_KEY}, timeout=30).text
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-25_000:]
    assert still_up, log.read_text()[-3000:]
    assert "unhandled error" not in log.read_text(), log.read_text()[-5000:]

    # Every operation of the served schema was tested, and every one passed.
    cases = _junit_cases(report_dir)
    assert _operations(schema) <= set(cases), sorted(_operations(schema) - set(cases))
    failed = {name: outcomes for name, outcomes in cases.items() if set(outcomes) != {"passed"}}
    assert not failed, failed
    # The writes ran for real with the key: each write operation succeeded at least once
    # (the server's own request counters, by route and status).
    succeeded = _successes(metrics)
    assert succeeded >= WRITES, sorted(WRITES - succeeded)


#: Every write operation, with the success status it answers.
WRITES = {
    ("POST", "/v1/events", "200"),
    ("PUT", "/v1/items/{item_id}", "201"),
    ("PUT", "/v1/items/{item_id}", "200"),
    ("DELETE", "/v1/items/{item_id}", "204"),
    ("PUT", "/v1/users/{user_id}", "201"),
    ("DELETE", "/v1/users/{user_id}", "202"),
    ("POST", "/v1/admin/retrain", "200"),
}


def _successes(metrics: str) -> set[tuple[str, str, str]]:
    """``(method, route, status)`` of every request counter above 0 in a Prometheus text."""
    found = set()
    for line in metrics.splitlines():
        if not line.startswith("digirec_request_seconds_count{"):
            continue
        labels_text, _, value = line.partition("} ")
        labels = dict(
            part.split("=", 1) for part in labels_text.split("{", 1)[1].split(",") if "=" in part
        )
        if float(value) > 0:
            found.add(tuple(labels[name].strip('"') for name in ("method", "route", "status")))
    return found  # type: ignore[return-value]
