"""``digirec --version`` and help that a person can read in an 80-column terminal."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import digirec

COMMANDS = [
    "benchmark",
    "learning-curve",
    "info",
    "synth",
    "train",
    "recommend",
    "similar",
    "demo",
    "report",
    "serve",
]


def _help(*args: str) -> str:
    # A real process with COLUMNS=80: the way a terminal of that width sees it.
    env = {**os.environ, "COLUMNS": "80", "TERM": "xterm"}
    done = subprocess.run(
        [sys.executable, "-m", "digirec.cli", *args, "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    return done.stdout


def test_version_prints_the_package_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "digirec.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout.strip() == f"digirec {digirec.__version__}"


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_fits_80_columns_without_cutting_anything(command: str | None) -> None:
    text = _help(*([command] if command else []))
    assert "Usage:" in text
    for line in text.splitlines():
        assert len(line) <= 80, line
        # Truncation marks: rich's ellipsis or click's "..." on a shortened summary.
        assert "…" not in line, line
        if not line.startswith("Usage:"):  # "[ARGS]..." is click's usage syntax
            assert not line.rstrip().endswith("..."), line
