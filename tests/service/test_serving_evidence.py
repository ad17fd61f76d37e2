"""The service's evidence holder (digirec.serving.engine.evidence) on a real store: co-purchase
counts equal a direct count over the store's purchases through start, real-time purchases,
deletions and a rebuild racing with them; the trending window is counted at the clock's now
and reused only for its refresh time."""

from __future__ import annotations

import itertools

import pandas as pd
from service_helpers import Shop

from digirec.evidence import CoPurchaseCounts
from digirec.serving.engine.evidence import ServingEvidence, trending_scores
from digirec.store import EventRecord, Store

DAY = 86_400.0


def _direct_counts(store: Store) -> dict[tuple[str, str], int]:
    """Distinct users who purchased both, from the raw event rows (independent of SQL)."""
    frame = store.interactions_frame()
    bought = frame[frame["event"].str.lower() == "purchase"]
    buyers = bought.groupby("item_id")["user_id"].agg(lambda s: set(s.astype(str)))
    out = {}
    for a, b in itertools.combinations(sorted(buyers.index), 2):
        n = len(buyers[a] & buyers[b])
        if n:
            out[(a, b)] = out[(b, a)] = n
    return out


def _assert_matches(counts: CoPurchaseCounts, store: Store) -> dict[tuple[str, str], int]:
    direct = _direct_counts(store)
    items = sorted(store.interactions_frame()["item_id"].astype(str).unique())
    got = counts.counts(items, items)
    for p, a in enumerate(items):
        for q, b in enumerate(items):
            assert got[p, q] == direct.get((a, b), 0), (a, b)
    return direct


def test_co_purchases_follow_the_store(store: Store, shop: Shop) -> None:
    evidence = ServingEvidence(store)
    with evidence.rebuilding() as rebuild:
        rebuild.finish()
    direct = _assert_matches(evidence.co_purchases, store)
    assert max(direct.values()) >= 2  # the shop has pairs a reason may cite

    # Purchases and a deletion while a rebuild from an older snapshot runs.
    with evidence.rebuilding() as rebuild:
        snapshot = store.snapshot().interactions
        (a, b), _ = max(direct.items(), key=lambda kv: kv[1])
        new = [
            EventRecord("late-buyer", a, "purchase", 1.75e9),
            EventRecord("late-buyer", b, "purchase", 1.75e9 + 1),
            EventRecord("late-buyer", b, "view", 1.75e9 + 2),
        ]
        evidence.record(store.add_events(new))
        victim = str(snapshot.loc[snapshot["event"] == "purchase", "user_id"].iloc[0])
        store.delete_user(victim, purge="scheduled")
        evidence.forget_user(victim)
        rebuild.finish(snapshot)
    after = _assert_matches(evidence.co_purchases, store)
    assert after[(a, b)] == direct[(a, b)] + 1 - (victim in _buyers_of(snapshot, a, b))


def _buyers_of(frame: pd.DataFrame, a: str, b: str) -> set[str]:
    bought = frame[frame["event"] == "purchase"]
    of_a = set(bought.loc[bought["item_id"] == a, "user_id"])
    return of_a & set(bought.loc[bought["item_id"] == b, "user_id"])


def test_an_abandoned_rebuild_keeps_the_counts(store: Store) -> None:
    evidence = ServingEvidence(store)
    with evidence.rebuilding() as rebuild:
        rebuild.finish()
    before = evidence.co_purchases
    try:
        with evidence.rebuilding():
            raise RuntimeError("retrain failed")
    except RuntimeError:
        pass
    assert evidence.co_purchases is before and evidence._pending is None


def test_trending_window_ends_at_the_clock(store: Store, shop: Shop) -> None:
    frame = store.interactions_frame()
    now = [float(frame["timestamp"].max())]
    evidence = ServingEvidence(
        store, trending_window_days=7, trending_refresh_s=60, clock=lambda: now[0]
    )
    counts = evidence.trending()
    assert (counts.start, counts.end) == (now[0] - 7 * DAY, now[0])
    inside = frame[(frame["timestamp"] >= counts.start) & (frame["timestamp"] <= counts.end)]
    assert dict(counts.counts) == inside.groupby("item_id")["user_id"].nunique().to_dict()
    assert counts.n_events == len(inside) > 0
    # Reused within the refresh time (a new event is not counted yet) ...
    item = str(inside["item_id"].iloc[0])
    store.add_events([EventRecord("trend-user", item, "view", now[0] - 10)])
    now[0] += 30
    assert evidence.trending() is counts
    # ... and counted after it.
    now[0] += 31
    fresh = evidence.trending()
    assert fresh.end == now[0] and fresh.count(item) == counts.count(item) + 1
    # A deletion drops the cached counts at once.
    evidence.forget_user("trend-user")
    assert evidence.trending() is not fresh
    # Long after the last event: nothing in the window.
    now[0] += 365 * DAY
    assert evidence.trending().is_empty


def test_trending_scores_by_catalogue_row(shop: Shop) -> None:
    from digirec.evidence import TrendingCounts

    counts = TrendingCounts(0.0, 1.0, 7.0, {"a": 3, "c": 1, "gone": 5}, 9)
    scores = trending_scores({"a": 0, "b": 1, "c": 2}, 3, counts)
    assert scores.tolist() == [3.0, 0.0, 1.0]
