"""Read endpoints: every source, filters never violated, k honoured, docs and health."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from service_helpers import Shop, known_user, seen_items


def _ids(body: dict) -> list[str]:
    return [item["item_id"] for item in body["items"]]


def test_personalised_matches_the_model(client: TestClient, shop: Shop) -> None:
    user = known_user(shop)
    response = client.get(f"/v1/users/{user}/recommendations", params={"k": 10})
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == user
    assert body["source"] == "personalised"
    assert body["model_version"] == 1
    # The service leaves out-of-stock items out by default; the model knows no stock.
    out_of_stock = shop.items.loc[~shop.items["in_stock"].astype(bool), "item_id"].tolist()
    expected = shop.model.recommend([user], 10, exclude=out_of_stock)
    assert _ids(body) == expected["item_id"].tolist()
    np.testing.assert_allclose([i["score"] for i in body["items"]], expected["score"], rtol=1e-6)
    assert [i["rank"] for i in body["items"]] == list(range(1, 11))
    assert not set(_ids(body)) & seen_items(shop, user)
    catalogue = shop.items.set_index("item_id")
    for item in body["items"]:
        assert item["title"] == catalogue.loc[item["item_id"], "title"]
        assert item["category"] == catalogue.loc[item["item_id"], "category"]
        explanation = item["explanation"]
        assert explanation["text"] and explanation["text_zh"] and explanation["kind"]
        assert set(explanation["evidence_item_ids"]) <= set(catalogue.index)


def test_unknown_user_gets_popular_and_says_so(client: TestClient, shop: Shop) -> None:
    body = client.get("/v1/users/never-seen/recommendations", params={"k": 5}).json()
    assert body["source"] == "popular"
    popularity = shop.dataset.user_item_matrix(binary=True).sum(axis=0).A1
    top = shop.dataset.item_map.to_external(np.argsort(-popularity, kind="stable")[:1])[0]
    assert _ids(body)[0] == top
    scoped = client.get(
        "/v1/users/never-seen/recommendations", params={"k": 5, "category": "Phones"}
    ).json()
    assert scoped["source"] == "popular_in_category"
    assert {i["category"] for i in scoped["items"]} == {"Phones"}
    assert len(scoped["items"]) == 5


def test_session_and_similar_sources(client: TestClient, shop: Shop) -> None:
    items = shop.items["item_id"].tolist()
    body = client.post("/v1/recommendations/session", json={"item_ids": items[:3], "k": 6}).json()
    assert body["source"] == "session"
    assert len(body["items"]) == 6 and not set(_ids(body)) & set(items[:3])
    out_of_stock = shop.items.loc[~shop.items["in_stock"].astype(bool), "item_id"].tolist()
    expected = shop.model.recommend_from_history([items[:3]], 6, exclude=out_of_stock)
    assert _ids(body) == expected["item_id"].tolist()

    unknown = client.post(
        "/v1/recommendations/session", json={"item_ids": ["nope-1"], "k": 4}
    ).json()
    assert unknown["source"] == "popular"
    assert unknown["ignored_item_ids"] == ["nope-1"]

    similar = client.get(f"/v1/items/{items[0]}/similar", params={"k": 5}).json()
    assert similar["source"] == "similar_items"
    assert similar["item_id"] == items[0]
    assert _ids(similar) == shop.model.similar_items([items[0]], 5)["similar_item_id"].tolist()
    missing = client.get("/v1/items/nope-1/similar")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "unknown_item"


def _qualifying(shop: Shop, params: dict, exclude: set[str]) -> pd.DataFrame:
    items = shop.items
    mask = pd.Series(True, index=items.index)
    if params.get("category"):
        mask &= items["category"].isin(params["category"])
    if params.get("brand"):
        mask &= items["brand"].isin(params["brand"])
    if "min_price" in params:
        mask &= items["price"] >= params["min_price"]
    if "max_price" in params:
        mask &= items["price"] <= params["max_price"]
    if "in_stock" in params:
        mask &= items["in_stock"] == params["in_stock"]
    mask &= ~items["item_id"].isin(exclude)
    return items[mask]


def test_filters_are_never_violated(client: TestClient, shop: Shop) -> None:
    """Random filter combinations (seeded): every item passes, k is met when enough qualify."""
    rng = np.random.default_rng(5)
    categories = sorted(shop.items["category"].unique())
    brands = sorted(shop.items["brand"].unique())
    prices = np.sort(shop.items["price"].to_numpy())
    users = [known_user(shop), known_user(shop, 7), "cold-user"]
    for draw in range(40):
        params: dict = {"k": int(rng.integers(1, 25)), "explain": False}
        if rng.random() < 0.6:
            params["category"] = list(rng.choice(categories, rng.integers(1, 3), replace=False))
        if rng.random() < 0.4:
            params["brand"] = list(rng.choice(brands, rng.integers(1, 4), replace=False))
        if rng.random() < 0.5:
            params["min_price"] = float(rng.choice(prices))
        if rng.random() < 0.5:
            params["max_price"] = float(params.get("min_price", 0) + rng.choice(prices))
        if rng.random() < 0.4:
            params["in_stock"] = bool(rng.random() < 0.8)
        kind = draw % 4
        if kind < 3:
            user = users[kind]
            response = client.get(f"/v1/users/{user}/recommendations", params=params)
            exclude = seen_items(shop, user)
        else:
            session = list(rng.choice(shop.items["item_id"], 3, replace=False))
            body = {key: v for key, v in params.items() if key != "explain"}
            response = client.post(
                "/v1/recommendations/session", json={"item_ids": session, **body}
            )
            exclude = set(session)
        assert response.status_code == 200, response.text
        got = response.json()["items"]
        allowed = _qualifying(shop, params, exclude)
        assert set(_ids({"items": got})) <= set(allowed["item_id"]), params
        assert len(got) == min(params["k"], len(allowed)), params
        if "category" in params and kind == 2:
            assert response.json()["source"] == "popular_in_category"


def test_filters_by_price_and_stock_are_applied(client: TestClient, shop: Shop) -> None:
    user = known_user(shop, 3)
    body = client.get(
        f"/v1/users/{user}/recommendations",
        params={"k": 20, "max_price": 100, "in_stock": True, "brand": ["Apple", "Samsung"]},
    ).json()
    for item in body["items"]:
        assert item["price"] <= 100 and item["in_stock"] is True
        assert item["brand"] in ("Apple", "Samsung")


def test_diversity_reranks(client: TestClient, shop: Shop) -> None:
    user = known_user(shop)
    plain = client.get(f"/v1/users/{user}/recommendations", params={"k": 8}).json()
    diverse = client.get(
        f"/v1/users/{user}/recommendations", params={"k": 8, "diversity": 0.9}
    ).json()
    assert diverse["reranked"] is True and plain["reranked"] is False
    assert len({i["category"] for i in diverse["items"]}) >= len(
        {i["category"] for i in plain["items"]}
    )
    assert not set(_ids(diverse)) & seen_items(shop, user)


def test_model_health_and_docs(client: TestClient, shop: Shop) -> None:
    info = client.get("/v1/model").json()
    assert info["name"] == "ease" and info["version"] == 1
    assert info["config"]["lambda"] == 50.0
    assert info["n_items"] == shop.dataset.n_items and info["n_users"] == shop.dataset.n_users
    assert client.get("/health/live").json()["status"] == "ok"
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["model_version"] == 1
    schema = client.get("/openapi.json").json()
    for path in (
        "/v1/users/{user_id}/recommendations",
        "/v1/items/{item_id}/similar",
        "/v1/recommendations/session",
        "/v1/events",
        "/v1/items/{item_id}",
        "/v1/users/{user_id}",
        "/v1/users/{user_id}/profile",
        "/v1/search",
        "/v1/privacy/deletions/{deletion_id}",
        "/v1/admin/retrain",
        "/v1/model",
    ):
        assert path in schema["paths"], path
    assert client.get("/docs").status_code == 200


def test_profile_from_the_store(client: TestClient, shop: Shop) -> None:
    user = known_user(shop)
    response = client.get(f"/v1/users/{user}/profile")
    assert response.status_code == 200
    profile = response.json()
    assert profile["user_id"] == user
    assert profile["activity"]["n_events"] == len(shop.raw.interactions.query("user_id == @user"))
    assert abs(sum(profile["categories"].values()) - 1.0) < 1e-6
    missing = client.get("/v1/users/never-seen/profile")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_user"


def test_search(client: TestClient, shop: Shop) -> None:
    response = client.get("/v1/search", params={"q": "wireless headphones", "k": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["personalised"] is False and 0 < len(body["items"]) <= 5
    assert set(_ids(body)) <= set(shop.items["item_id"])
    personal = client.get(
        "/v1/search", params={"q": "wireless headphones", "k": 5, "user_id": known_user(shop)}
    ).json()
    assert personal["personalised"] is True
