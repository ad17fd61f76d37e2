"""Truthful explanations (issue 12): every reason's claim is checked against the store for a
sample of users; no "bought with" or "this week" claim; a similar item never cites itself;
a new item's Chinese reason uses its neighbour's Chinese title; reasons look at the whole
history the model scored, not the last 50 events."""

from __future__ import annotations

import pandas as pd
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


def _check_reason(item: dict, events: pd.DataFrame, titles: dict[str, str]) -> None:
    exp = item["explanation"]
    text = exp["text"]
    assert "bought with" not in text.lower() and "this week" not in text.lower(), text
    assert "一起购买" not in exp["text_zh"] and "本周" not in exp["text_zh"]
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


def test_similar_and_session_reasons(client: TestClient, shop: Shop) -> None:
    anchor = str(shop.items["item_id"].iloc[3])
    body = client.get(f"/v1/items/{anchor}/similar", params={"k": 10}).json()
    for item in body["items"]:
        exp = item["explanation"]
        assert item["item_id"] not in exp["evidence_item_ids"]
        if exp["kind"] == "similar" and exp["evidence_item_ids"]:
            assert exp["evidence_item_ids"] == [anchor]
    session = [str(i) for i in shop.items["item_id"].iloc[:3]]
    body = client.post("/v1/recommendations/session", json={"item_ids": session, "k": 8}).json()
    for item in body["items"]:
        exp = item["explanation"]
        assert "bought" not in exp["text"].lower()
        assert set(exp["evidence_item_ids"]) <= set(session)


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
    user = known_user(shop, 2)
    listed = client.get(
        f"/v1/users/{user}/recommendations", params={"k": 100, "category": "Phones"}
    ).json()
    new = [i for i in listed["items"] if i["item_id"] == "new-phone-x1"]
    if new:  # the new item's reason names its neighbour, in Chinese by its Chinese title
        exp = new[0]["explanation"]
        assert exp["kind"] == "new_item" and zh_titles[neighbour] in exp["text_zh"]


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
