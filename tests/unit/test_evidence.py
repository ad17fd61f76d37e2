"""Co-purchase counts and windowed popularity (digirec.evidence) against brute force.

The reference counts are sets of users per item intersected pair by pair, and a plain loop over
the events of a window: nothing shared with the sparse-matrix implementation.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from digirec import columns as C
from digirec.evidence import (
    CoPurchaseCounts,
    TrendingCounts,
    purchase_pairs,
    window_counts,
)

DAY = 86_400.0


def _events(seed: int, n: int = 600, n_users: int = 40, n_items: int = 25) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            C.USER_ID: [f"u{x}" for x in rng.integers(0, n_users, n)],
            # A skewed item distribution, so some pairs are bought together often.
            C.ITEM_ID: [f"i{x}" for x in np.minimum(rng.geometric(0.12, n) - 1, n_items - 1)],
            C.EVENT: rng.choice(["view", "cart", "purchase", "Purchase", "buy"], n),
            C.TIMESTAMP: rng.uniform(0, 30 * DAY, n),
        }
    )


def _reference_pairs(frame: pd.DataFrame, types: set[str]) -> dict[tuple[str, str], int]:
    """Distinct users who purchased both, by intersecting per-item user sets."""
    buyers: dict[str, set[str]] = {}
    for user, item, event in zip(frame[C.USER_ID], frame[C.ITEM_ID], frame[C.EVENT], strict=True):
        if str(event).lower() in types:
            buyers.setdefault(item, set()).add(user)
    out = {}
    for a, b in itertools.permutations(sorted(buyers), 2):
        n = len(buyers[a] & buyers[b])
        if n:
            out[(a, b)] = n
    return out


def _all_items(frame: pd.DataFrame) -> list[str]:
    return sorted(set(frame[C.ITEM_ID]))


def _check_equal(counts: CoPurchaseCounts, reference: dict[tuple[str, str], int], items) -> None:
    got = counts.counts(items, items)
    want = np.array([[reference.get((a, b), 0) for b in items] for a in items])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_co_purchase_counts_match_set_intersections(seed: int) -> None:
    frame = _events(seed)
    counts = CoPurchaseCounts.from_events(frame, ["purchase"])
    reference = _reference_pairs(frame, {"purchase"})
    assert reference, "the fixture must have co-purchases"
    _check_equal(counts, reference, _all_items(frame))
    a, b = max(reference, key=reference.get)  # type: ignore[arg-type]
    assert counts.count(a, b) == counts.count(b, a) == reference[(a, b)] >= 2
    assert counts.count(a, a) == 0  # never a pair with itself
    assert counts.count(a, "no-such-item") == 0


def test_purchase_types_are_configurable_and_case_insensitive() -> None:
    frame = _events(3)
    counts = CoPurchaseCounts.from_events(frame, ["PURCHASE", "buy"])
    _check_equal(counts, _reference_pairs(frame, {"purchase", "buy"}), _all_items(frame))
    pairs = purchase_pairs(frame, ["purchase"])
    assert not pairs.duplicated().any()
    assert set(map(tuple, pairs.to_numpy())) == {
        (u, i)
        for u, i, e in zip(frame[C.USER_ID], frame[C.ITEM_ID], frame[C.EVENT], strict=True)
        if e.lower() == "purchase"
    }
    with pytest.raises(ValueError, match="at least one"):
        purchase_pairs(frame, [])


def test_updates_equal_a_rebuild() -> None:
    """Real-time purchases and user deletions applied in place give the counts of a rebuild."""
    frame = _events(4)
    purchases = frame[frame[C.EVENT].str.lower() == "purchase"]
    first, later = purchases.iloc[: len(purchases) // 2], purchases.iloc[len(purchases) // 2 :]
    counts = CoPurchaseCounts.from_events(first)
    later_events = [
        (u, i, "purchase") for u, i in zip(later[C.USER_ID], later[C.ITEM_ID], strict=True)
    ]
    later_events.append(("new-user", "new-item", "purchase"))
    later_events.append(("new-user", "i0", "purchase"))
    later_events.append(("u1", "i0", "view"))  # not a purchase: ignored
    counts.add_events(later_events)
    everything = pd.concat(
        [
            purchases,
            pd.DataFrame(
                {
                    C.USER_ID: ["new-user", "new-user"],
                    C.ITEM_ID: ["new-item", "i0"],
                    C.EVENT: ["purchase", "purchase"],
                }
            ),
        ]
    )
    items = [*_all_items(frame), "new-item"]
    _check_equal(counts, _reference_pairs(everything, {"purchase"}), items)
    assert counts.count("new-item", "i0") == 1
    # A repeated purchase changes nothing.
    assert counts.add("new-user", "i0") is False
    # Forget two users (one from the build, one only added later): as if never there.
    gone = {str(first[C.USER_ID].iloc[0]), "new-user"}
    for user in gone:
        counts.forget_user(user)
    kept = everything[~everything[C.USER_ID].isin(gone)]
    _check_equal(counts, _reference_pairs(kept, {"purchase"}), items)
    # A deleted user who comes back starts from nothing.
    user = sorted(gone)[0]
    counts.add(user, "i0")
    counts.add(user, "i1")
    again = pd.concat(
        [
            kept,
            pd.DataFrame(
                {C.USER_ID: [user, user], C.ITEM_ID: ["i0", "i1"], C.EVENT: ["purchase"] * 2}
            ),
        ]
    )
    _check_equal(counts, _reference_pairs(again, {"purchase"}), items)
    assert counts.n_users == again[C.USER_ID].nunique()


def test_empty_counts() -> None:
    counts = CoPurchaseCounts()
    assert counts.count("a", "b") == 0 and counts.n_users == 0
    counts.add("u", "a")
    counts.add("u", "b")
    assert counts.count("a", "b") == 1


def test_window_counts_match_a_loop() -> None:
    frame = _events(5)
    frame.loc[3, C.TIMESTAMP] = np.nan  # no timestamp: never in a window
    start, end = 10 * DAY, 17 * DAY
    frame.loc[4, C.TIMESTAMP] = end  # both ends are included
    frame.loc[5, C.TIMESTAMP] = start
    users: dict[str, set[str]] = {}
    n_events: dict[str, int] = {}
    for user, item, ts in zip(frame[C.USER_ID], frame[C.ITEM_ID], frame[C.TIMESTAMP], strict=True):
        if start <= ts <= end:
            users.setdefault(item, set()).add(user)
            n_events[item] = n_events.get(item, 0) + 1
    got = window_counts(frame, start, end)
    assert list(got[C.ITEM_ID]) == sorted(users)
    assert dict(zip(got[C.ITEM_ID], got["n_users"], strict=True)) == {
        k: len(v) for k, v in users.items()
    }
    assert dict(zip(got[C.ITEM_ID], got["n_events"], strict=True)) == n_events
    trending = TrendingCounts.ending_at(frame, end, 7.0)
    assert trending.start == start and trending.end == end
    assert trending.counts == {k: len(v) for k, v in users.items()}
    assert trending.n_events == sum(n_events.values())
    item = max(users, key=lambda k: len(users[k]))
    assert trending.evidence(item) == {
        "count": len(users[item]),
        "window_days": 7.0,
        "window_start": start,
        "window_end": end,
    }
    empty = TrendingCounts.ending_at(frame, 100 * DAY, 7.0)
    assert empty.is_empty and empty.n_events == 0 and empty.count(item) == 0
