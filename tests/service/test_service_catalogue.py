"""Catalogue API and operations (issue 12): out-of-stock and hidden items excluded unless asked
for, GET / DELETE items, GET users, batch recommendations, /metrics."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from service_helpers import AUTH, Shop, known_user, make_settings

from digirec.serving.app import create_app


def _ids(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return [i["item_id"] for i in response.json()["items"]]


def _item_body(shop: Shop, item_id: str, **changes: object) -> dict:
    row = shop.items.set_index("item_id").loc[item_id]
    body = {
        "title": row["title"],
        "brand": row["brand"],
        "category": row["category"],
        "price": float(row["price"]),
        "in_stock": True,
    }
    return {**body, **changes}


def test_out_of_stock_and_hidden_items_are_excluded_unless_asked(
    client: TestClient, shop: Shop
) -> None:
    cold = "nobody-knows-me"  # the popular fallback: a fixed, model-independent order
    before = _ids(client.get(f"/v1/users/{cold}/recommendations", params={"k": 5}))
    top, second = before[0], before[1]
    sold_out = client.put(
        f"/v1/items/{top}", json=_item_body(shop, top, in_stock=False), headers=AUTH
    )
    assert sold_out.status_code == 200
    hidden = client.put(
        f"/v1/items/{second}", json=_item_body(shop, second, hidden=True), headers=AUTH
    )
    assert hidden.status_code == 200
    after = _ids(client.get(f"/v1/users/{cold}/recommendations", params={"k": 5}))
    assert top not in after and second not in after
    assert after[:3] == [i for i in before if i not in (top, second)][:3]
    both = _ids(
        client.get(
            f"/v1/users/{cold}/recommendations", params={"k": 5, "include_unavailable": True}
        )
    )
    assert both == before
    user = known_user(shop)
    personal = _ids(client.get(f"/v1/users/{user}/recommendations", params={"k": 50}))
    assert top not in personal and second not in personal
    similar = _ids(client.get(f"/v1/items/{before[2]}/similar", params={"k": 50}))
    assert top not in similar and second not in similar


def test_get_and_delete_items_across_a_restart(
    shop: Shop, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(shop, database_url, tmp_path / "state")
    cold = "nobody-knows-me"
    with TestClient(create_app(settings)) as client:
        top = _ids(client.get(f"/v1/users/{cold}/recommendations", params={"k": 3}))[0]
        got = client.get(f"/v1/items/{top}")
        assert got.status_code == 200 and got.json()["recommendable_via"] == "model"
        assert (
            got.json()["attributes"]["category"]
            == shop.items.set_index("item_id").loc[top, "category"]
        )
        assert client.delete(f"/v1/items/{top}").status_code == 401
        assert client.delete(f"/v1/items/{top}", headers=AUTH).status_code == 204
        assert client.delete(f"/v1/items/{top}", headers=AUTH).status_code == 404
        assert client.get(f"/v1/items/{top}").status_code == 404
        assert top not in _ids(client.get(f"/v1/users/{cold}/recommendations", params={"k": 20}))
    with TestClient(create_app(settings)) as client:  # a restart on the same store
        assert top not in _ids(client.get(f"/v1/users/{cold}/recommendations", params={"k": 20}))


def test_get_users(client: TestClient, shop: Shop) -> None:
    user = known_user(shop)
    n_events = int((shop.raw.interactions["user_id"] == user).sum())
    assert client.get(f"/v1/users/{user}").status_code == 401  # personal data: admin scope
    body = client.get(f"/v1/users/{user}", headers=AUTH).json()
    assert body["n_events"] == n_events and body["known_to_model"] and not body["deleted"]
    assert client.delete(f"/v1/users/{user}", headers=AUTH).status_code == 202
    gone = client.get(f"/v1/users/{user}", headers=AUTH).json()
    assert gone["deleted"] and gone["n_events"] == 0
    assert client.get("/v1/users/never-seen", headers=AUTH).status_code == 404


def test_batch_equals_single_calls(client: TestClient, shop: Shop) -> None:
    users = [known_user(shop, 0), known_user(shop, 3), "someone-new"]
    body = {"user_ids": users, "k": 6, "category": ["Phones", "Laptops"]}
    batch = client.post("/v1/recommendations/batch", json=body)
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert [r["user_id"] for r in results] == users
    for user, result in zip(users, results, strict=True):
        single = client.get(
            f"/v1/users/{user}/recommendations",
            params={"k": 6, "category": ["Phones", "Laptops"], "explain": False},
        ).json()
        assert [i["item_id"] for i in result["items"]] == [i["item_id"] for i in single["items"]]
        assert result["source"] == single["source"]


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line))
        if line.split("{")[0].split(" ")[0] == name and all(
            found.get(k) == v for k, v in labels.items()
        ):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} {labels} not in metrics")


def test_metrics(client: TestClient, shop: Shop) -> None:
    user = known_user(shop)
    for _ in range(3):
        client.get(f"/v1/users/{user}/recommendations", params={"k": 5})
    events = [
        {"user_id": user, "item_id": str(i), "event": "view"} for i in shop.items["item_id"][:4]
    ]
    assert client.post("/v1/events", json={"events": events}, headers=AUTH).status_code == 200
    headers = {**AUTH, "Idempotency-Key": "m-1"}
    client.post("/v1/events", json={"events": events[:2]}, headers=headers)
    client.post("/v1/events", json={"events": events[:2]}, headers=headers)
    assert client.post("/v1/admin/retrain", headers=AUTH).status_code == 200
    text = client.get("/metrics").text
    route = "/v1/users/{user_id}/recommendations"
    assert _sample(text, "digirec_request_seconds_count", route=route, status="200") == 3
    assert _sample(text, "digirec_events_ingested_total") == 6
    assert _sample(text, "digirec_events_duplicate_total") == 2
    assert _sample(text, "digirec_model_version") == 2
    assert _sample(text, "digirec_retrain_seconds_count") == 1


def test_metrics_labels_stay_bounded(client: TestClient) -> None:
    """Ids never reach a label (the route template does), nor do made-up methods."""
    for i in range(3):
        assert client.request(f"BREW{i}", f"/v1/items/pot-{i}").status_code == 405
    text = client.get("/metrics").text
    methods = set(re.findall(r'digirec_request_seconds_count\{[^}]*method="([^"]*)"', text))
    assert "other" in methods and not any(m.startswith("BREW") for m in methods), methods
    assert "pot-0" not in text
    route = "/v1/items/{item_id}"
    assert _sample(text, "digirec_request_seconds_count", route=route, method="other") == 3
