"""Truthful explanations (issue 12): every reason's claim is checked against the store for a
sample of users and items by an independent query (pandas over the store's raw event rows):
"Because you viewed/bought X" cites an event the user has, "Often bought with X" carries the
number of distinct users who purchased both, "Trending ... this week" the number of distinct
users with an event in the window; a similar item never cites itself; a new item's Chinese
reason uses its neighbour's Chinese title; reasons look at the whole history the model scored,
not the last 50 events."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from service_helpers import AUTH, Shop, known_user

from digirec.artifacts import ItemFilter
from digirec.explain import _VERBS


def _verb(event: str) -> str:
    """The English verb a reason must use for a user's latest event of the cited item."""
    return _VERBS.get(event, _VERBS["view"])[0]


def _titles(shop: Shop) -> dict[str, str]:
    return dict(
        zip(shop.items["item_id"].astype(str), shop.items["title"].astype(str), strict=True)
    )


MIN_COUNT = 2  # DIGIREC_CO_PURCHASE_MIN_COUNT's default
DAY = 86_400.0


class _Store:
    """Independent counts over the store's raw event rows (read once per check)."""

    def __init__(self, store: Any) -> None:
        self.frame = store.interactions_frame()
        bought = self.frame[self.frame["event"] == "purchase"]
        self.buyers = bought.groupby("item_id")["user_id"].agg(set).to_dict()

    def co_purchasers(self, a: str, b: str) -> int:
        """Distinct users with a purchase of ``a`` and a purchase of ``b``."""
        return len(self.buyers.get(a, set()) & self.buyers.get(b, set()))

    def window_users(self, item: str, start: float, end: float) -> int:
        """Distinct users with an event of ``item`` and ``start <= timestamp <= end``."""
        f = self.frame
        inside = f[(f["timestamp"] >= start) & (f["timestamp"] <= end) & (f["item_id"] == item)]
        return int(inside["user_id"].nunique())


def _co_purchasers(store: Any, a: str, b: str) -> int:
    return _Store(store).co_purchasers(a, b)


def _check_reason(item: dict, events: pd.DataFrame, titles: dict[str, str]) -> None:
    exp = item["explanation"]
    text = exp["text"]
    # A user's list is personalised or popular: never a co-purchase or time-window claim.
    assert "bought with" not in text.lower() and "this week" not in text.lower(), text
    assert "一起购买" not in exp["text_zh"] and "本周" not in exp["text_zh"]
    assert exp["kind"] not in ("bought_together", "trending") and not exp["evidence"]
    assert item["item_id"] not in exp["evidence_item_ids"], exp  # never cites itself
    if exp["kind"] == "history":
        (cited,) = exp["evidence_item_ids"]
        mine = events[events["item_id"] == cited]
        assert len(mine), f"{cited} is not in the user's stored history: {exp}"
        assert titles[cited][:12] in text, exp
        # The verb is the type of the user's latest stored event of that item.
        latest = str(mine["event"].iloc[-1])
        assert text.startswith(f"Because you {_verb(latest)} "), (text, mine["event"].tolist())


def test_every_reason_is_backed_by_the_store(client: TestClient, shop: Shop) -> None:
    store = client.app.state.store
    titles = _titles(shop)
    checked = 0
    for rank in range(0, 60, 6):  # ten users, from heavy to light
        user = known_user(shop, rank)
        body = client.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()
        events = store.user_events(user)
        for item in body["items"]:
            _check_reason(item, events, titles)
            checked += 1
    assert checked == 100


def _check_anchor_reasons(truth: _Store, body: dict, anchors: list[str]) -> int:
    """Every reason of a similar-items / session list against the store; returns how many
    said "Often bought with"."""
    n_together = 0
    for item in body["items"]:
        exp, item_id = item["explanation"], item["item_id"]
        assert item_id not in exp["evidence_item_ids"], exp  # never cites itself
        assert set(exp["evidence_item_ids"]) <= set(anchors), exp
        best = max((truth.co_purchasers(a, item_id) for a in anchors if a != item_id), default=0)
        if exp["kind"] == "bought_together":
            (cited,) = exp["evidence_item_ids"]
            assert exp["text"].startswith("Often bought with ") and "一起购买" in exp["text_zh"]
            # The count is the store's own, the largest over the anchors, and enough.
            assert exp["evidence"]["count"] == truth.co_purchasers(cited, item_id) == best
            assert best >= MIN_COUNT
            n_together += 1
        else:
            # No claim of co-purchase without the counts behind it, and none is missed.
            assert "bought" not in exp["text"].lower() and "一起购买" not in exp["text_zh"]
            assert best < MIN_COUNT, (item_id, anchors, best, exp)
    return n_together


def _pairs(truth: _Store) -> list[tuple[str, int]]:
    """Items by how many others they were bought with by at least MIN_COUNT users."""
    buyers = truth.buyers
    scores = {
        a: sum(len(buyers[a] & buyers[b]) >= MIN_COUNT for b in buyers if b != a) for a in buyers
    }
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def test_similar_and_session_reasons(client: TestClient, shop: Shop) -> None:
    truth = _Store(client.app.state.store)
    ranked_items = _pairs(truth)
    assert ranked_items[0][1] >= 1, "the test shop must have co-purchased pairs"
    n_together = 0
    # Items with the most co-purchases, and two arbitrary ones.
    anchors = [a for a, _ in ranked_items[:6]] + [str(i) for i in shop.items["item_id"].iloc[3:5]]
    for anchor in anchors:
        body = client.get(f"/v1/items/{anchor}/similar", params={"k": 20}).json()
        assert body["source"] == "similar_items"
        n_together += _check_anchor_reasons(truth, body, [anchor])
        for item in body["items"]:
            exp = item["explanation"]
            if exp["kind"] == "similar" and exp["evidence_item_ids"]:
                assert exp["evidence_item_ids"] == [anchor]
    sessions = [
        [a for a, _ in ranked_items[:3]],
        [str(i) for i in shop.items["item_id"].iloc[:3]],
    ]
    for session in sessions:
        body = client.post(
            "/v1/recommendations/session", json={"item_ids": session, "k": 20}
        ).json()
        assert body["source"] == "session"
        n_together += _check_anchor_reasons(truth, body, session)
    assert n_together > 0, "no reason said 'Often bought with': the check proved nothing"


def test_co_purchase_counts_follow_new_purchases_and_deletions(
    client: TestClient, shop: Shop
) -> None:
    """Two new shoppers who buy the anchor and another item make a new pair citable at once,
    a retrain keeps the count, deleting one of the shoppers takes the claim back."""
    store = client.app.state.store
    anchor = str(shop.items["item_id"].iloc[7])
    body = client.get(f"/v1/items/{anchor}/similar", params={"k": 30}).json()
    truth = _Store(store)
    target = next(
        i["item_id"]
        for i in body["items"]
        if truth.co_purchasers(anchor, i["item_id"]) == 0 and i["item_id"] != anchor
    )
    events = [
        {"user_id": user, "item_id": item, "event": "purchase", "timestamp": 1.7e9 + n}
        for n, (user, item) in enumerate(
            [("cp-a", anchor), ("cp-a", target), ("cp-b", anchor), ("cp-b", target)]
        )
    ]
    assert client.post("/v1/events", json={"events": events}, headers=AUTH).status_code == 200

    def reason() -> dict:
        listed = client.get(f"/v1/items/{anchor}/similar", params={"k": 30}).json()["items"]
        return next(i["explanation"] for i in listed if i["item_id"] == target)

    exp = reason()
    assert exp["kind"] == "bought_together" and exp["evidence"] == {"count": 2}
    assert _co_purchasers(store, anchor, target) == 2
    # A retrain rebuilds the counts from its data snapshot: the same count.
    assert client.post("/v1/admin/retrain", headers=AUTH).status_code == 200
    assert reason()["evidence"] == {"count": 2}
    deleted = client.delete("/v1/users/cp-a", params={"purge": "scheduled"}, headers=AUTH)
    assert deleted.status_code == 202, deleted.text
    assert _co_purchasers(store, anchor, target) == 1
    assert reason()["kind"] != "bought_together"


def _pin_clock(client: TestClient, now: float) -> None:
    client.app.state.serving.evidence.clock = lambda: now
    client.app.state.serving.evidence.invalidate_trending()


def test_trending_counts_are_the_store_counts_in_the_window(client: TestClient) -> None:
    store = client.app.state.store
    truth = _Store(store)
    frame = truth.frame
    now = float(frame["timestamp"].max())
    _pin_clock(client, now)
    for params in ({"k": 20}, {"k": 5, "category": "Phones"}):
        body = client.get("/v1/trending", params=params).json()
        assert body["source"] == "trending" and body["reason"] is None
        window = body["window"]
        assert window["days"] == 7 and window["end"] == now and window["start"] == now - 7 * DAY
        inside = frame[(frame["timestamp"] >= window["start"]) & (frame["timestamp"] <= now)]
        assert window["n_events"] == len(inside)
        counts = [item["explanation"]["evidence"]["count"] for item in body["items"]]
        assert counts == sorted(counts, reverse=True) and min(counts) > 0
        for item in body["items"]:
            exp = item["explanation"]
            assert exp["kind"] == "trending"
            assert exp["evidence"]["count"] == truth.window_users(
                item["item_id"], window["start"], window["end"]
            )
            assert exp["evidence"]["window_start"] == window["start"]
            category = item["category"]
            assert exp["text"] == f"Trending in {category} this week"
            assert "本周" in exp["text_zh"]
            if "category" in params:
                assert category == params["category"]
        # Nothing left out counts more than the last item listed (in stock, in the filter).
        listed = {i["item_id"] for i in body["items"]}
        eligible = store.items_frame()
        eligible = eligible[eligible["in_stock"].fillna(True).astype(bool)]
        if "category" in params:
            eligible = eligible[eligible["category"] == params["category"]]
        others = [
            truth.window_users(i, window["start"], now)
            for i in eligible["item_id"]
            if i not in listed
        ]
        if len(body["items"]) == params["k"]:
            assert max(others, default=0) <= min(counts)
        else:  # fewer than k: every other eligible item had no event in the window
            assert max(others, default=0) == 0


def test_trending_without_events_in_the_window_says_so(client: TestClient) -> None:
    frame = client.app.state.store.interactions_frame()
    _pin_clock(client, float(frame["timestamp"].max()) + 30 * DAY)
    body = client.get("/v1/trending", params={"k": 10}).json()
    assert body["items"] == [] and body["reason"] == "no_events_in_window"
    assert body["window"]["n_events"] == 0 and body["source"] == "trending"


@pytest.mark.parametrize("window", [3.0])
def test_trending_window_is_a_setting(make_client: Any, window: float) -> None:
    client = make_client(trending_window_days=window)
    frame = client.app.state.store.interactions_frame()
    now = float(frame["timestamp"].max())
    _pin_clock(client, now)
    body = client.get("/v1/trending", params={"k": 3}).json()
    assert body["window"]["start"] == now - window * DAY
    for item in body["items"]:
        exp = item["explanation"]
        assert exp["text"].endswith("in the last 3 days") and "this week" not in exp["text"]
        assert exp["evidence"]["window_days"] == window


def test_popular_fallback_never_claims_this_week(client: TestClient) -> None:
    body = client.get("/v1/users/nobody-knows-me/recommendations", params={"k": 10}).json()
    assert body["source"] == "popular"
    for item in body["items"]:
        exp = item["explanation"]
        assert (
            exp["kind"] == "popular" and "week" not in exp["text"] and "本周" not in exp["text_zh"]
        )


def test_new_item_reasons(client: TestClient, shop: Shop) -> None:
    phones = shop.items[shop.items["category"] == "Phones"]
    template = phones.iloc[0]
    body = {
        "title": "Brand-new phone X1",
        "brand": str(template["brand"]),
        "category": "Phones",
        "price": float(template["price"]),
        "in_stock": True,
        "attributes": {"title_zh": "全新手机X1"},
    }
    put = client.put("/v1/items/new-phone-x1", json=body, headers=AUTH)
    assert put.status_code == 201 and put.json()["recommendable_via"] == "attribute_neighbour"
    neighbour = put.json()["neighbour_item_id"]
    similar = client.get("/v1/items/new-phone-x1/similar", params={"k": 10}).json()
    for item in similar["items"]:
        exp = item["explanation"]
        assert item["item_id"] not in exp["evidence_item_ids"], exp
        # The neighbour is the closest match, never "similar to" itself.
        assert not (item["item_id"] == neighbour and neighbour in exp["evidence_item_ids"])
    zh_titles = dict(zip(shop.items["item_id"], shop.items["title_zh"], strict=True))
    titles = _titles(shop)
    user = known_user(shop, 2)
    listed = client.get(
        f"/v1/users/{user}/recommendations", params={"k": 100, "category": "Phones"}
    ).json()
    new = [i for i in listed["items"] if i["item_id"] == "new-phone-x1"]
    # The new item's reason names its neighbour, in Chinese by the neighbour's Chinese title.
    assert new, "the new phone must be in a list of every phone"
    exp = new[0]["explanation"]
    assert exp["kind"] == "new_item" and exp["evidence_item_ids"] == [neighbour]
    assert zh_titles[neighbour] in exp["text_zh"] and titles[neighbour][:12] in exp["text"]
    assert titles[neighbour] not in exp["text_zh"] or titles[neighbour] == zh_titles[neighbour]
    # A session holding the new item never cites its neighbour as viewed, nor as bought with.
    other = str(phones.iloc[1]["item_id"])
    session = ["new-phone-x1", other]
    body = client.post("/v1/recommendations/session", json={"item_ids": session, "k": 20}).json()
    assert body["source"] == "session"
    for item in body["items"]:
        cited = item["explanation"]["evidence_item_ids"]
        assert set(cited) <= set(session) and neighbour not in cited, item["explanation"]


def test_reasons_use_the_whole_scored_history(client: TestClient, shop: Shop) -> None:
    """An old purchase keeps explaining after many later events (the old service only read
    the latest 50 stored events)."""
    user = "long-history-user"
    items = [str(i) for i in shop.items["item_id"]]
    first, filler = items[0], items[1:]
    events = [{"user_id": user, "item_id": first, "event": "purchase", "timestamp": 1.7e9}]
    events += [
        {"user_id": user, "item_id": filler[n % 60], "event": "view", "timestamp": 1.7e9 + 1 + n}
        for n in range(60)
    ]
    assert client.post("/v1/events", json={"events": events}, headers=AUTH).status_code == 200
    state = client.app.state.serving
    ranked = state.recommend_user(user, 10, ItemFilter())
    history, kinds = state._chronological_history(ranked)
    model_first = int(ranked.current.catalogue.proxies[ranked.current.catalogue.positions[first]])
    assert model_first in history  # the purchase 61 events ago is part of the evidence
    assert kinds is not None and kinds[history.index(model_first)] == "purchase"
    assert len(set(history)) == len(set(ranked.history_rows))
