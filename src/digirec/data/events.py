"""Event types, their weights and time decay.

A shop logs several kinds of events; a purchase says more than a view. ``EventWeights`` turns
each interaction row into one confidence weight: an explicit ``weight`` column wins, otherwise the
event type's weight, otherwise 1. An optional half-life discounts old events, so a user's recent
behaviour counts more in the training matrix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from digirec import columns as C
from digirec.exceptions import ConfigError

#: The event types digirec knows; other types are accepted if given a weight.
EVENT_TYPES = ("view", "click", "cart", "purchase", "rating")

SECONDS_PER_DAY = 86_400.0


class EventWeights(BaseModel):
    """How interaction rows become confidence weights.

    Attributes
    ----------
    weights:
        Weight per event type. Unknown event types raise unless ``unknown_weight`` is set.
    unknown_weight:
        Weight for event types missing from ``weights``; ``None`` means "reject them".
    half_life_days:
        If set, an event ``d`` days older than the newest event is weighted by ``0.5 ** (d / h)``.
        Rows without a timestamp are not decayed.
    """

    model_config = ConfigDict(extra="forbid")

    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "view": 1.0,
            "click": 2.0,
            "cart": 4.0,
            "purchase": 8.0,
            "rating": 1.0,
        }
    )
    unknown_weight: float | None = None
    half_life_days: float | None = Field(default=None, gt=0)

    def row_weights(self, interactions: pd.DataFrame) -> NDArray[np.float64]:
        """One weight per interaction row (see class docstring for precedence)."""
        n = len(interactions)
        w = np.ones(n, dtype=np.float64)
        if C.EVENT in interactions.columns:
            events = interactions[C.EVENT]
            has_event = events.notna().to_numpy()
            if has_event.any():
                mapped = events[has_event].astype(str).str.lower().map(self.weights)
                unknown = mapped.isna().to_numpy()
                if unknown.any():
                    if self.unknown_weight is None:
                        bad = sorted(set(events[has_event][unknown].astype(str)))
                        raise ConfigError(
                            f"event type(s) {bad} have no weight; known: {sorted(self.weights)}. "
                            "Add them to EventWeights.weights or set unknown_weight."
                        )
                    mapped = mapped.fillna(self.unknown_weight)
                w[has_event] = mapped.to_numpy(dtype=np.float64)
        if C.WEIGHT in interactions.columns:
            explicit = interactions[C.WEIGHT].to_numpy(dtype=np.float64)
            given = ~np.isnan(explicit)
            w[given] = explicit[given]
        if self.half_life_days is not None and C.TIMESTAMP in interactions.columns:
            ts = interactions[C.TIMESTAMP].to_numpy(dtype=np.float64)
            known = ~np.isnan(ts)
            if known.any():
                age_days = (ts[known].max() - ts[known]) / SECONDS_PER_DAY
                w[known] *= 0.5 ** (age_days / self.half_life_days)
        return w
