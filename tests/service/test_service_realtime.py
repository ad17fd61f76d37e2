"""Real time: events change the next list at once; new and updated items without a retrain."""

from __future__ import annotations

from fastapi.testclient import TestClient
from service_helpers import AUTH, Shop, known_user

from digirec.data.events import DEFAULT_WEIGHTS


def _recs(client: TestClient, user: str, **params: object) -> dict:
    response = client.get(f"/v1/users/{user}/recommendations", params={"k": 10, **params})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _ids(body: dict) -> list[str]:
    return [item["item_id"] for item in body["items"]]


def test_a_purchase_changes_the_next_list(backend: str, client: TestClient, shop: Shop) -> None:
    user = known_user(shop, 2)
    before = _recs(client, user)
    bought = _ids(before)[0]
    response = client.post(
        "/v1/events",
        json={"events": [{"user_id": user, "item_id": bought, "event": "purchase"}]},
        headers=AUTH,
    )
    assert response.status_code == 200
    ack = response.json()
    assert ack["accepted"] == 1
    # Acknowledged means committed: the event is in the store.
    stored = client.app.state.store.user_events(user, limit=1)
    assert stored["item_id"].tolist() == [bought] and stored["event"].tolist() == ["purchase"]
    after = _recs(client, user)
    assert bought not in _ids(after)
    assert _ids(after) != _ids(before)
    assert after["source"] == "personalised"
    # The list is the model's fold-in of the training history with its training weights (the
    # model trains on event weights by default) + the new event with the purchase weight.
    items, weights = shop.model.user_history(int(shop.dataset.user_map.to_internal([user])[0]))
    assert shop.model.uses_weights and weights.max() > 1.0  # the shop's own purchases count
    history = [*shop.dataset.item_map.to_external(items), bought]
    # (The service leaves out-of-stock items out by default; the model knows no stock.)
    out_of_stock = shop.items.loc[~shop.items["in_stock"].astype(bool), "item_id"].tolist()
    expected = shop.model.recommend_from_history(
        [history],
        10,
        weights=[[*weights.tolist(), DEFAULT_WEIGHTS["purchase"]]],
        exclude=out_of_stock,
    )
    assert _ids(after) == expected["item_id"].tolist()
    # Read as a binary history, the same events give another list (what the service gave
    # before the fold-in read weights).
    binary = shop.model.recommend_from_history([history], 10, exclude=out_of_stock)
    assert binary["item_id"].tolist() != expected["item_id"].tolist()


def test_a_new_user_turns_personalised_after_events(
    backend: str, client: TestClient, shop: Shop
) -> None:
    assert _recs(client, "fresh-user")["source"] == "popular"
    phones = shop.items.loc[shop.items["category"] == "Phones", "item_id"].tolist()[:2]
    events = [
        {"user_id": "fresh-user", "item_id": item, "event": "view", "timestamp": 1_770_000_000 + i}
        for i, item in enumerate(phones)
    ]
    assert client.post("/v1/events", json={"events": events}, headers=AUTH).status_code == 200
    body = _recs(client, "fresh-user")
    assert body["source"] == "personalised"
    assert not set(phones) & set(_ids(body))
    assert _ids(body) == shop.model.recommend_from_history([phones], 10)["item_id"].tolist()


def test_a_new_item_is_recommendable_at_once(backend: str, client: TestClient, shop: Shop) -> None:
    """No content model is registered, so a new item is served through its attribute
    neighbour: it takes the neighbour's score and ranks right after it."""
    user = known_user(shop, 4)
    top = _recs(client, user)["items"][0]
    catalogue = shop.items.set_index("item_id")
    body = {
        "title": "Brand-new " + str(catalogue.loc[top["item_id"], "title"]),
        "brand": top["brand"],
        "category": top["category"],
        "price": top["price"],
        "in_stock": True,
        "attributes": {"title_zh": "新品", "color": "Blue"},
    }
    response = client.put("/v1/items/launch-1", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["created"] is True
    assert created["recommendable_via"] == "attribute_neighbour"
    assert created["neighbour_item_id"] == top["item_id"]
    assert client.app.state.store.get_item("launch-1")["color"] == "Blue"

    after = _recs(client, user)
    assert _ids(after)[:2] == [top["item_id"], "launch-1"]
    launch = after["items"][1]
    assert launch["explanation"]["kind"] == "new_item"
    assert launch["explanation"]["evidence_item_ids"] == [top["item_id"]]
    # Cold users see it under its category too, and it has similar items of its own.
    cold = _recs(client, "cold-user", category=top["category"], k=30)
    assert cold["source"] == "popular_in_category" and "launch-1" in _ids(cold)
    similar = client.get("/v1/items/launch-1/similar", params={"k": 3}).json()
    assert similar["source"] == "similar_items" and similar["strategy"] == "attribute_neighbour"
    assert _ids(similar)[0] == top["item_id"]
    # Events about it are accepted now, and it is filtered once bought.
    event = {"user_id": user, "item_id": "launch-1", "event": "purchase"}
    assert client.post("/v1/events", json={"events": [event]}, headers=AUTH).status_code == 200
    assert "launch-1" not in _ids(_recs(client, user))
    # Updating it is not a creation.
    again = client.put("/v1/items/launch-1", json={**body, "price": 1.0}, headers=AUTH)
    assert again.status_code == 200 and again.json()["created"] is False


def test_catalogue_updates_apply_to_filters_at_once(client: TestClient, shop: Shop) -> None:
    user = known_user(shop, 5)
    first = _recs(client, user, in_stock=True)["items"][0]
    response = client.put(
        f"/v1/items/{first['item_id']}",
        json={
            "title": first["title"],
            "brand": first["brand"],
            "category": first["category"],
            "price": first["price"],
            "in_stock": False,
        },
        headers=AUTH,
    )
    assert response.status_code == 200
    assert response.json()["recommendable_via"] == "model"
    assert first["item_id"] not in _ids(_recs(client, user, in_stock=True))
    # Out of stock is excluded by default too (issue 12), and returned when asked for.
    assert first["item_id"] not in _ids(_recs(client, user))
    assert first["item_id"] in _ids(_recs(client, user, include_unavailable=True))
    response = client.put(
        f"/v1/items/{first['item_id']}",
        json={"category": first["category"], "price": 99_999.0},
        headers=AUTH,
    )
    assert first["item_id"] not in _ids(_recs(client, user, max_price=5000))


def test_user_attributes(client: TestClient) -> None:
    response = client.put(
        "/v1/users/new-user-7", json={"attributes": {"city_tier": 1}}, headers=AUTH
    )
    assert response.status_code == 201 and response.json() == {
        "user_id": "new-user-7",
        "created": True,
    }
    again = client.put("/v1/users/new-user-7", json={"attributes": {"city_tier": 2}}, headers=AUTH)
    assert again.status_code == 200 and again.json()["created"] is False
    assert client.app.state.store.get_user("new-user-7") == {
        "user_id": "new-user-7",
        "city_tier": 2,
    }


def test_exclude_purchased_drops_every_stored_purchase_and_nothing_else(
    backend: str, client: TestClient, shop: Shop
) -> None:
    """``exclude_seen=false`` keeps the user's history in the ranking; ``exclude_purchased``
    (the default) still drops what they bought, in the store and in real time. Checked against
    the unexcluded ranking with the purchases filtered out by hand."""
    user = known_user(shop, 3)
    viewed, bought = _ids(_recs(client, user, exclude_seen=False))[:2]
    events = [
        {"user_id": user, "item_id": bought, "event": "purchase"},
        {"user_id": user, "item_id": viewed, "event": "view"},
    ]
    assert client.post("/v1/events", json={"events": events}, headers=AUTH).status_code == 200
    raw = shop.raw.interactions
    purchases = {
        *raw.loc[(raw["user_id"] == user) & (raw["event"] == "purchase"), "item_id"].astype(str),
        bought,
    }
    k = 10
    everything = _ids(
        _recs(client, user, exclude_seen=False, exclude_purchased=False, k=k + len(purchases))
    )
    kept = _ids(_recs(client, user, exclude_seen=False))
    assert bought in everything and not set(kept) & purchases
    assert kept == [item for item in everything if item not in purchases][:k]
    assert viewed in kept  # a view is history, not a purchase
