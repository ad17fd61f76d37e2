"""API keys, input validation, size limits and error bodies that reveal nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from service_helpers import AUTH, Shop, known_user

from digirec.serving.engine.state import ServingState

WRITES = [
    (
        "post",
        "/v1/events",
        {"json": {"events": [{"user_id": "a", "item_id": "i00001", "event": "view"}]}},
    ),
    ("put", "/v1/items/new-item", {"json": {"title": "x", "category": "Phones"}}),
    ("put", "/v1/users/new-user", {"json": {"attributes": {"city_tier": 1}}}),
    ("delete", "/v1/users/u00001", {}),
    ("post", "/v1/admin/retrain", {}),
    ("get", "/v1/privacy/deletions/" + "0" * 32, {}),
]


def _error(response) -> dict:  # type: ignore[no-untyped-def]
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    return dict(body["error"])


@pytest.mark.parametrize(("method", "path", "kwargs"), WRITES)
def test_writes_need_a_valid_key(client: TestClient, method: str, path: str, kwargs: dict) -> None:
    missing = getattr(client, method)(path, **kwargs)
    assert missing.status_code == 401
    assert _error(missing)["code"] == "unauthorized"
    wrong = getattr(client, method)(path, headers={"X-API-Key": "not-the-key"}, **kwargs)
    assert wrong.status_code == 401


def test_reads_optionally_need_a_key(make_client, shop: Shop) -> None:  # type: ignore[no-untyped-def]
    user = known_user(shop)
    open_client = make_client()
    assert open_client.get(f"/v1/users/{user}/recommendations").status_code == 200
    locked = make_client(read_requires_key=True)
    assert locked.get(f"/v1/users/{user}/recommendations").status_code == 401
    assert locked.get("/v1/model").status_code == 401
    assert locked.get(f"/v1/users/{user}/recommendations", headers=AUTH).status_code == 200
    assert locked.get("/health/live").status_code == 200  # probes stay open


def test_no_configured_key_refuses_writes(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(api_keys=[])
    response = client.post("/v1/admin/retrain", headers={"X-API-Key": ""})
    assert response.status_code == 401
    assert "no API key is configured" in _error(response)["message"]


@pytest.mark.parametrize("k", ["0", "-1", "101", "abc", "1.5"])
def test_k_is_bounded(client: TestClient, k: str) -> None:
    response = client.get("/v1/users/u00001/recommendations", params={"k": k})
    assert response.status_code == 422
    assert _error(response)["field"] == "k"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/users/bad%20id/recommendations",
        "/v1/users/" + "x" * 129 + "/recommendations",
        "/v1/users/%3Cscript%3E/recommendations",
        "/v1/items/a;drop/similar",
    ],
)
def test_ids_are_validated(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 422
    assert _error(response)["field"] in ("user_id", "item_id")


def test_unknown_user_is_cold_not_an_error(client: TestClient) -> None:
    response = client.get("/v1/users/someone-new/recommendations")
    assert response.status_code == 200 and response.json()["source"] == "popular"


def test_oversized_bodies_get_413(client: TestClient) -> None:
    event = {"user_id": "u00001", "item_id": "i00001", "event": "view"}
    big = {"events": [event] * 30_000}  # ~1.7 MB of JSON
    response = client.post("/v1/events", json=big, headers=AUTH)
    assert response.status_code == 413
    assert _error(response)["code"] == "payload_too_large"

    def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: streamed
        for _ in range(40):
            yield b" " * 50_000

    streamed = client.post(
        "/v1/events", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


def test_batch_size_is_bounded(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(max_batch=5)
    events = [{"user_id": "u1", "item_id": "i00001", "event": "view"}] * 6
    response = client.post("/v1/events", json={"events": events}, headers=AUTH)
    assert response.status_code == 422
    assert _error(response) == {
        "code": "batch_too_large",
        "message": "at most 5 events per batch",
        "field": "events",
    }


@pytest.mark.parametrize(
    ("bad_event", "field", "needle"),
    [
        ({"event": "teleport"}, "events[1].event", "Input should be"),
        ({"user_id": None}, "events[1].user_id", ""),
        ({"timestamp": "yesterday"}, "events[1].timestamp", "ISO 8601"),
        ({"timestamp": -5}, "events[1].timestamp", "between 1970 and 2200"),
        ({"timestamp": "2026-01-01T10:00:00"}, "events[1].timestamp", "time zone"),
        ({"rating": 99}, "events[1].rating", ""),
        ({"colour": "red"}, "events[1].colour", ""),
    ],
)
def test_bad_events_name_index_and_field(
    client: TestClient, bad_event: dict, field: str, needle: str
) -> None:
    good = {"user_id": "u00001", "item_id": "i00001", "event": "view"}
    store = client.app.state.store
    before = store.count_events("u00001")
    response = client.post(
        "/v1/events", json={"events": [good, {**good, **bad_event}]}, headers=AUTH
    )
    assert response.status_code == 422, response.text
    error = _error(response)
    assert error["field"] == field
    assert needle in error["message"]
    # The whole batch is refused: the good event is not stored either.
    assert store.count_events("u00001") == before
    assert not client.app.state.serving.realtime_events("u00001")


def test_events_for_unknown_items_get_404(client: TestClient) -> None:
    good = {"user_id": "u00001", "item_id": "i00001", "event": "view"}
    store = client.app.state.store
    before = store.count_events("u00001")
    batch = [good, {**good, "item_id": "no-such-item"}]
    response = client.post("/v1/events", json={"events": batch}, headers=AUTH)
    # A reference to a resource that does not exist: 404, like GET /v1/items/no-such-item.
    assert response.status_code == 404, response.text
    assert _error(response)["code"] == "unknown_item"
    assert _error(response)["field"] == "events[1].item_id"
    assert store.count_events("u00001") == before  # nothing of the batch is stored


def test_unknown_items_can_be_accepted_by_setting(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(accept_unknown_items=True)
    event = {"user_id": "u1", "item_id": "not-in-catalogue", "event": "view"}
    response = client.post("/v1/events", json={"events": [event]}, headers=AUTH)
    assert response.status_code == 200 and response.json()["accepted"] == 1


def test_malformed_json_and_bad_filters(client: TestClient) -> None:
    response = client.post(
        "/v1/events", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 422 and _error(response)["code"] == "invalid_json"
    response = client.get(
        "/v1/users/u00001/recommendations", params={"min_price": 500, "max_price": 100}
    )
    assert response.status_code == 422 and _error(response)["field"] == "min_price"
    response = client.get("/v1/users/u00001/recommendations", params={"diversity": 2})
    assert response.status_code == 422 and _error(response)["field"] == "diversity"
    assert client.get("/v1/nowhere").status_code == 404
    assert _error(client.get("/v1/nowhere"))["code"] == "not_found"


def test_internal_errors_reveal_nothing(make_client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    client = make_client(raise_server_exceptions=False)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret path /etc/digirec and SQL internals")

    monkeypatch.setattr(ServingState, "recommend_user", boom)
    response = client.get("/v1/users/u00001/recommendations")
    assert response.status_code == 500
    assert _error(response) == {"code": "internal_error", "message": "internal server error"}
    assert "secret" not in response.text and "Traceback" not in response.text
