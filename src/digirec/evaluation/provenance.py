"""Where a benchmark figure comes from: input, load report, command, version, time, machine.

:func:`provenance` is called once per results document (``document["provenance"] =
provenance(dataset)``); every count in it is an ``int``.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from digirec import __version__
from digirec.data.dataset import Dataset


def provenance(dataset: Dataset, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The ``provenance`` entry of a results document.

    Parameters
    ----------
    dataset:
        The data set the benchmark ran on. ``dataset.extras["load"]`` (written by the CLI's
        loader: path, format, rows read / skipped, event rules) is copied as ``input``; a
        Dataset built in Python records its name and counts only.
    argv:
        The command line (default ``sys.argv``).
    """
    load = dict(dataset.extras.get("load", {}) or {})  # type: ignore[call-overload]
    stats = dataset.stats
    load.setdefault("name", dataset.name)
    if stats is not None:
        load.setdefault("n_interactions_raw", int(stats.n_raw_interactions))
        load.setdefault("n_duplicates_merged", int(stats.n_duplicates_merged))
        load.setdefault("n_unknown_events_skipped", int(stats.n_unknown_events_skipped))
        load.setdefault("duplicates", stats.duplicates)
    load["n_interactions_kept"] = int(dataset.n_interactions)
    args = list(sys.argv if argv is None else argv)
    return {
        "input": load,
        "command": shlex.join(["digirec", *args[1:]]) if args else "",
        "digirec_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }


def machine() -> dict[str, Any]:
    """Cores, torch threads and the Python / platform the figures were measured on."""
    info: dict[str, Any] = {
        "cpu_count": int(os.cpu_count() or 0),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }
    if hasattr(os, "sched_getaffinity"):
        info["cpus_available"] = len(os.sched_getaffinity(0))
    torch = sys.modules.get("torch")
    if torch is not None:  # never import torch just to ask (it is slow to import)
        info["torch_threads"] = int(torch.get_num_threads())
        info["torch_version"] = str(torch.__version__)
    else:
        info["torch_threads"] = None
    info["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    return info
