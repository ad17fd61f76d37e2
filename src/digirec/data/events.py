"""Event types, their weights, unknown event types, time decay and the repeated-pair rule.

A shop logs several kinds of events; a purchase says more than a view. ``EventWeights`` turns
each interaction row into one confidence weight: an explicit ``weight`` column wins, otherwise the
event type's weight, otherwise 1. An optional half-life discounts old events, so a user's recent
behaviour counts more in the training matrix.

Weights given by the caller are **merged** with :data:`DEFAULT_WEIGHTS` (``{"wishlist": 3}`` adds
one type and keeps ``view``, ``cart`` and ``purchase``); an event type that should not count is
given weight 0 or dropped with ``unknown_events="skip"`` after leaving it out of the weights.

How the events of one (user, item) pair become one training weight is
:data:`DuplicatePolicy`; training defaults to :data:`TRAINING_DUPLICATES` (``"max"``: the
pair's strongest event, so a view followed by a purchase counts as a purchase), while the
leave-one-out benchmark keeps each pair's first occurrence as its target (see
:mod:`digirec.data.dataset`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from digirec import columns as C
from digirec.exceptions import ConfigError

#: The event types digirec knows; other types are accepted if given a weight.
EVENT_TYPES = ("view", "click", "wishlist", "cart", "purchase", "rating")

#: Default weight per event type: stronger intent, larger weight.
DEFAULT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "click": 2.0,
    "wishlist": 3.0,
    "cart": 4.0,
    "purchase": 8.0,
    "rating": 1.0,
}

#: How repeated (user, item) pairs are combined (see :meth:`Dataset.from_interactions`).
DuplicatePolicy = Literal["first", "last", "sum", "max", "keep"]
DUPLICATE_POLICIES: tuple[str, ...] = ("first", "last", "sum", "max", "keep")
#: Default for training (``train``, ``serve``, retrain): the pair's strongest event.
TRAINING_DUPLICATES: DuplicatePolicy = "max"
#: Default for the leave-one-out benchmark: the target is the pair's first occurrence.
BENCHMARK_DUPLICATES: DuplicatePolicy = "first"

UnknownEvents = Literal["error", "skip", "weight"]

SECONDS_PER_DAY = 86_400.0


class EventWeights(BaseModel):
    """How interaction rows become confidence weights.

    Attributes
    ----------
    weights:
        Weight per event type, merged over :data:`DEFAULT_WEIGHTS` (keys are lower-cased;
        weights must be finite and >= 0).
    unknown_events:
        What happens to rows whose event type has no weight: ``"error"`` (default) raises
        naming the types, ``"skip"`` drops those rows (the Dataset counts them per type),
        ``"weight"`` gives them ``unknown_weight``.
    unknown_weight:
        Weight for unknown event types under ``unknown_events="weight"``; setting it alone
        implies ``"weight"``.
    half_life_days:
        If set, an event ``d`` days older than the newest event is weighted by ``0.5 ** (d / h)``.
        Rows without a timestamp are not decayed.
    """

    model_config = ConfigDict(extra="forbid")

    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    unknown_events: UnknownEvents = "error"
    unknown_weight: float | None = Field(default=None, ge=0)
    half_life_days: float | None = Field(default=None, gt=0)

    @field_validator("weights", mode="before")
    @classmethod
    def _merge_defaults(cls, value: object) -> object:
        if not isinstance(value, Mapping):
            return value  # pydantic reports the type error
        merged = dict(DEFAULT_WEIGHTS)
        for key, weight in value.items():
            if not isinstance(weight, int | float) or isinstance(weight, bool):
                raise ValueError(f"weight of event {key!r} must be a number, got {weight!r}")
            if not np.isfinite(weight) or weight < 0:
                raise ValueError(f"weight of event {key!r} must be finite and >= 0, got {weight}")
            merged[str(key).strip().lower()] = float(weight)
        return merged

    @model_validator(mode="after")
    def _check_unknown(self) -> EventWeights:
        if self.unknown_weight is not None and self.unknown_events == "error":
            # Backwards compatible: a weight for unknown types means "give them that weight".
            self.unknown_events = "weight"
        if self.unknown_events == "weight" and self.unknown_weight is None:
            raise ValueError("unknown_events='weight' needs unknown_weight")
        return self

    @classmethod
    def from_options(
        cls,
        weights: Mapping[str, object] | None = None,
        *,
        unknown_events: str = "error",
        half_life_days: float | None = None,
    ) -> EventWeights:
        """Build from CLI-style options; ``unknown_events`` is ``error``, ``skip`` or ``weight=W``.

        Raises
        ------
        ConfigError
            A malformed ``unknown_events`` value or a bad weight.
        """
        policy, unknown_weight = parse_unknown_events(unknown_events)
        try:
            return cls(
                weights=dict(weights or {}),  # type: ignore[arg-type]  # checked by pydantic
                unknown_events=policy,
                unknown_weight=unknown_weight,
                half_life_days=half_life_days,
            )
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise ConfigError(_first_error(exc)) from None

    def event_weight(self, event: str | None) -> float:
        """The weight of one event of type ``event`` (no time decay): what
        :meth:`row_weights` gives a row with that event and no ``weight`` column.

        ``None`` weighs 1; a type without a weight weighs ``unknown_weight`` under
        ``unknown_events="weight"`` and 0 otherwise (training would drop or refuse it).
        """
        if event is None:
            return 1.0
        weight = self.weights.get(str(event).lower())
        if weight is not None:
            return float(weight)
        if self.unknown_events == "weight" and self.unknown_weight is not None:
            return float(self.unknown_weight)
        return 0.0

    def unknown_mask(self, interactions: pd.DataFrame) -> NDArray[np.bool_]:
        """Rows whose (non-missing) event type has no weight."""
        if C.EVENT not in interactions.columns:
            return np.zeros(len(interactions), dtype=bool)
        events = interactions[C.EVENT]
        known = events.isna() | events.astype(str).str.lower().isin(list(self.weights))
        return np.asarray(~known.to_numpy(dtype=bool), dtype=bool)

    def row_weights(self, interactions: pd.DataFrame) -> NDArray[np.float64]:
        """One weight per interaction row (see class docstring for precedence).

        Under ``unknown_events="skip"`` unknown rows get NaN here: the caller drops them (and
        counts them), see :meth:`Dataset.from_interactions`.
        """
        n = len(interactions)
        w = np.ones(n, dtype=np.float64)
        if C.EVENT in interactions.columns:
            events = interactions[C.EVENT]
            has_event = events.notna().to_numpy()
            if has_event.any():
                mapped = events[has_event].astype(str).str.lower().map(self.weights)
                unknown = mapped.isna().to_numpy()
                if unknown.any():
                    if self.unknown_events == "error":
                        counts = events[has_event][unknown].astype(str).value_counts()
                        bad = ", ".join(f"{k!r} x {v}" for k, v in counts.items())
                        raise ConfigError(
                            f"event type(s) without a weight: {bad}; known: "
                            f"{sorted(self.weights)}. Give them a weight (--event-weights "
                            "'{\"name\": 3}'), or pass --unknown-events skip or weight=W."
                        )
                    fill = np.nan if self.unknown_events == "skip" else self.unknown_weight
                    mapped = mapped.fillna(fill)
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


def parse_unknown_events(text: str) -> tuple[UnknownEvents, float | None]:
    """``"error"`` / ``"skip"`` / ``"weight=W"`` -> (policy, weight).

    Raises
    ------
    ConfigError
        Anything else, or a weight that is not a finite number >= 0.
    """
    value = text.strip().lower()
    if value in ("error", "skip"):
        return value, None  # type: ignore[return-value]
    if value.startswith("weight="):
        try:
            weight = float(value.split("=", 1)[1])
        except ValueError:
            weight = float("nan")
        if not np.isfinite(weight) or weight < 0:
            raise ConfigError(f"--unknown-events weight=W needs a number >= 0, got {text!r}")
        return "weight", weight
    raise ConfigError(f"--unknown-events must be error, skip or weight=W, got {text!r}")


def check_duplicates(policy: str) -> DuplicatePolicy:
    """Return ``policy`` if it is a :data:`DuplicatePolicy`, else raise ConfigError."""
    if policy not in DUPLICATE_POLICIES:
        raise ConfigError(
            f"--duplicates must be one of {', '.join(DUPLICATE_POLICIES)}, got {policy!r}"
        )
    return policy  # type: ignore[return-value]


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(exc)
