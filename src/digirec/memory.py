"""Memory estimates and the guard in front of every dense ``n_items``-sized allocation.

Dense item-item models (EASE, SLIST) need ``n_items²`` floats while fitting, and full-softmax
neural models need ``batch x n_items`` logits per step. A machine that runs out of memory kills
the process (or swaps for hours) instead of raising, so every such allocation is estimated first
and compared with a budget:

1. ``max_memory_gb`` given to the model (a config field), else
2. the ``DIGIREC_MAX_MEMORY_GB`` environment variable, else
3. :data:`AVAILABLE_FRACTION` of the memory the operating system reports as available now
   (``MemAvailable`` in ``/proc/meminfo``; ``os.sysconf`` elsewhere).

Past the budget a model either switches to a documented scalable variant (and records that in
a learned attribute) or raises :class:`~digirec.exceptions.MemoryBudgetError`, which names the
size, the budget and the alternatives. See ``docs/scale.md`` for the memory model of each model.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from digirec.exceptions import ConfigError, MemoryBudgetError

__all__ = [
    "AVAILABLE_FRACTION",
    "MAX_MEMORY_ENV",
    "available_memory_bytes",
    "check_allocation",
    "dense_bytes",
    "format_bytes",
    "memory_budget_bytes",
    "softmax_bytes",
]

logger = logging.getLogger(__name__)

#: Environment variable that caps digirec's dense allocations (in GiB) for every model.
MAX_MEMORY_ENV = "DIGIREC_MAX_MEMORY_GB"

#: Share of the currently available memory a single dense fit may plan to use: the rest is left
#: for the sparse training matrix, the Python heap and whatever else runs on the machine.
AVAILABLE_FRACTION = 0.7

_GIB = 1024**3


def dense_bytes(shape: Sequence[int], dtype: DTypeLike = np.float32, copies: float = 1.0) -> int:
    """Bytes of ``copies`` dense arrays of ``shape`` and ``dtype`` (no allocation)."""
    n = math.prod(int(s) for s in shape)
    return math.ceil(n * np.dtype(dtype).itemsize * copies)


def softmax_bytes(n_rows: int, n_items: int) -> int:
    """Peak bytes of a full softmax cross-entropy over ``n_items`` for ``n_rows`` examples.

    Three float32 ``n_rows x n_items`` arrays live at once in a torch training step: the
    logits, the log-softmax saved for the backward pass, and the gradient of the logits.
    """
    return dense_bytes((n_rows, n_items), np.float32, 3)


def format_bytes(n_bytes: float) -> str:
    """``n_bytes`` in GiB (or MiB below 1 GiB), for messages."""
    if n_bytes >= _GIB:
        return f"{n_bytes / _GIB:.1f} GiB"
    return f"{n_bytes / 1024**2:.0f} MiB"


def available_memory_bytes() -> int | None:
    """Memory the operating system can hand out now, or ``None`` when it cannot be read.

    Linux: ``MemAvailable`` (free + reclaimable page cache), also inside containers whose cgroup
    limit is lower (the smaller of the two is used). Elsewhere: free physical pages.
    """
    candidates: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                candidates.append(int(line.split()[1]) * 1024)
                break
    except (OSError, ValueError, IndexError):
        pass
    cgroup = _cgroup_headroom()
    if cgroup is not None:
        candidates.append(cgroup)
    if not candidates:
        try:
            candidates.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None
    return min(candidates)


def _cgroup_headroom() -> int | None:
    """``memory.max - memory.current`` of a cgroup v2 limit, when there is one."""
    base = Path("/sys/fs/cgroup")
    try:
        limit_text = (base / "memory.max").read_text().strip()
        if limit_text == "max":
            return None
        current = int((base / "memory.current").read_text().strip())
        return max(int(limit_text) - current, 0)
    except (OSError, ValueError):
        return None


def memory_budget_bytes(max_memory_gb: float | None = None) -> int:
    """The number of bytes one dense allocation plan may use (see the module docstring).

    Raises
    ------
    ConfigError
        When ``DIGIREC_MAX_MEMORY_GB`` is set but is not a positive number.
    """
    if max_memory_gb is not None:
        if max_memory_gb <= 0:
            raise ConfigError(f"max_memory_gb must be positive, got {max_memory_gb}")
        return int(max_memory_gb * _GIB)
    env = os.environ.get(MAX_MEMORY_ENV)
    if env:
        try:
            value = float(env)
        except ValueError:
            raise ConfigError(f"{MAX_MEMORY_ENV} must be a number of GiB, got {env!r}") from None
        if not value > 0:
            raise ConfigError(f"{MAX_MEMORY_ENV} must be positive, got {env!r}")
        return int(value * _GIB)
    available = available_memory_bytes()
    if available is None:
        # Unknown platform: do not block; the estimate is still logged by check_allocation.
        return 2**62
    return int(available * AVAILABLE_FRACTION)


def check_allocation(
    what: str,
    n_bytes: int,
    *,
    max_memory_gb: float | None = None,
    alternatives: str = "",
) -> None:
    """Raise :class:`MemoryBudgetError` when ``n_bytes`` exceeds the memory budget.

    Parameters
    ----------
    what:
        The allocation in words, e.g. ``"EASE on 100,000 items: 3 dense 100,000² float32"``.
    n_bytes:
        Its estimated peak size.
    max_memory_gb:
        The caller's budget setting (``None``: environment, then the machine).
    alternatives:
        What the user can do instead (named in the message).
    """
    budget = memory_budget_bytes(max_memory_gb)
    logger.debug("%s needs about %s (budget %s)", what, format_bytes(n_bytes), format_bytes(budget))
    if n_bytes > budget:
        hint = f" Alternatives: {alternatives}" if alternatives else ""
        raise MemoryBudgetError(
            f"{what} needs about {format_bytes(n_bytes)}, more than the memory budget of "
            f"{format_bytes(budget)} ({_budget_source(max_memory_gb)}).{hint}"
        )


def _budget_source(max_memory_gb: float | None) -> str:
    if max_memory_gb is not None:
        return "max_memory_gb"
    if os.environ.get(MAX_MEMORY_ENV):
        return MAX_MEMORY_ENV
    return f"{AVAILABLE_FRACTION:.0%} of the available memory; raise it with {MAX_MEMORY_ENV}"
