"""Schemathesis hooks of ``test_schemathesis.py`` (the CLI loads them from ``SCHEMATHESIS_HOOKS``).

Two rules of the API that JSON Schema cannot state, both documented in the schema's
descriptions and answered with 422:

- a price filter with ``min_price`` above ``max_price`` (``invalid_filter``);
- an event timestamp more than ``max_clock_skew_s`` after the server's clock
  (``timestamp_in_future``): the bound moves with the clock, the schema's ``maximum`` is the
  fixed one (the year 2200); and an RFC 3339 date-time before 1970 or after 2200 (the number
  form carries that range as ``minimum`` / ``maximum``, ``format: date-time`` cannot).

A generated request breaking one of them is "schema-valid" but not valid, so the positive-data
check would call its 422 a failure: such cases are left out, every other case runs.
``filter_case`` is the hook the coverage phase applies as well as the fuzzing and stateful ones.
"""

from __future__ import annotations

import time
from typing import Any

import schemathesis

from digirec.serving.schemas import parse_timestamp
from digirec.serving.settings import ServeSettings

#: The fuzzed server runs with the default skew.
MAX_CLOCK_SKEW_S = float(ServeSettings.model_fields["max_clock_skew_s"].default)


def _number(value: Any) -> float | None:
    """The numeric value of a generated filter bound (JSON number or query string), if any."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def inverted_price_range(values: Any) -> bool:
    """``True`` when ``values`` (a query or a JSON body) has ``min_price > max_price``."""
    if not isinstance(values, dict):
        return False
    low, high = _number(values.get("min_price")), _number(values.get("max_price"))
    return low is not None and high is not None and low > high


def out_of_range_event(body: Any) -> bool:
    """``True`` when an event of ``body`` has a well-formed timestamp outside the accepted
    range (before 1970, after 2200, or beyond the allowed clock skew)."""
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        return False
    latest = time.time() + MAX_CLOCK_SKEW_S
    for event in body["events"]:
        stamp = event.get("timestamp") if isinstance(event, dict) else None
        if stamp is None or isinstance(stamp, bool) or not isinstance(stamp, int | float | str):
            continue
        try:
            seconds = parse_timestamp(stamp, bounded=False)
        except ValueError:
            continue  # a malformed timestamp: a 422 the schema predicts
        if not 0 <= seconds <= latest:
            return True
    return False


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Keep every generated case except those breaking one of the two rules above."""
    return not (
        inverted_price_range(case.query)
        or inverted_price_range(case.body)
        or out_of_range_event(case.body)
    )
