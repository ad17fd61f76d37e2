"""Operational analytics of the store for the operator's pages (no web framework here)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from digirec import columns as C
from digirec.store.base import Store

#: How far back the admin page reads the event log for the event rate (bounded work).
RATE_SCAN_EVENTS = 50_000


def event_rate(store: Store, now: float | None = None) -> dict[str, Any]:
    """Events per minute over the last hour, from the store's event log.

    Reads at most the latest :data:`RATE_SCAN_EVENTS` events (event ids grow with time), so
    the page stays fast on a large log; ``truncated`` says the count is then a lower bound.
    """
    import pandas as pd

    now = time.time() if now is None else now
    newest = store.max_event_id()
    frame = store.interactions_frame(after_id=max(0, newest - RATE_SCAN_EVENTS))
    counts = np.zeros(60, dtype=np.int64)
    truncated = False
    if len(frame):
        stamps = frame[C.TIMESTAMP]
        if not np.issubdtype(stamps.dtype, np.number):
            stamps = pd.to_datetime(stamps, utc=True).astype("int64") / 1e9
        seconds = np.asarray(stamps, dtype=float)
        age = now - seconds
        recent = age[(age >= 0) & (age < 3600)]
        minutes = 59 - np.floor(recent / 60).astype(np.int64)
        np.add.at(counts, minutes, 1)
        truncated = newest > RATE_SCAN_EVENTS and bool(len(recent) == len(frame))
    total = int(counts.sum())
    return {
        "per_minute": counts.tolist(),
        "total": total,
        "rate": total / 60.0,
        "truncated": truncated,
        "scanned": RATE_SCAN_EVENTS,
    }
