"""Deleting a user: gone from the store and the serving state at once, purged by a retrain."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from service_helpers import AUTH, Shop, known_user, train


def _wait_purged(client: TestClient, deletion_id: str, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/v1/privacy/deletions/{deletion_id}", headers=AUTH).json()
        if body["status"] == "purged" or time.monotonic() > deadline:
            return dict(body)
        time.sleep(0.2)


def test_scheduled_deletion_forgets_at_once_and_purges_on_retrain(
    backend: str, make_client, shop: Shop
) -> None:  # type: ignore[no-untyped-def]
    client = make_client()
    state = client.app.state.serving
    store = client.app.state.store
    user = known_user(shop, 1)
    item = str(shop.items["item_id"].iloc[0])
    event = {"user_id": user, "item_id": item, "event": "cart"}
    assert client.post("/v1/events", json={"events": [event]}, headers=AUTH).status_code == 200
    assert state.realtime_events(user)
    snapshot = state.current.snapshot
    row = snapshot.model.user_map_.to_internal([user])[0]
    trained_items = snapshot.model.seen_[row].indices.copy()
    popularity_before = snapshot.popularity[trained_items].copy()

    n_events = store.count_events(user)
    response = client.delete(f"/v1/users/{user}", headers=AUTH)
    assert response.status_code == 202
    deletion = response.json()
    assert deletion["status"] == "pending" and deletion["purge"] == "scheduled"
    assert deletion["n_events_deleted"] == n_events > 0
    # Store: the user row and every event are gone.
    assert store.count_events(user) == 0 and store.get_user(user) is None
    # Serving state: real-time history, model rows and popularity contributions are gone.
    assert not state.realtime_events(user)
    assert snapshot.model.seen_[row].nnz == 0
    np.testing.assert_array_equal(snapshot.popularity[trained_items], popularity_before - 1)
    assert snapshot.user_row(user) is None
    body = client.get(f"/v1/users/{user}/recommendations").json()
    assert body["source"] == "popular"
    assert client.get(f"/v1/users/{user}/profile").status_code == 404

    # A restart before the purge (same store, same bundle) forgets the user again.
    restarted = make_client()
    assert restarted.app.state.serving.current.snapshot.user_row(user) is None
    assert restarted.get(f"/v1/users/{user}/recommendations").json()["source"] == "popular"

    status = client.get(f"/v1/privacy/deletions/{deletion['deletion_id']}", headers=AUTH).json()
    assert status["status"] == "pending"
    retrain = client.post("/v1/admin/retrain", headers=AUTH)
    assert retrain.status_code == 200 and retrain.json()["purged_deletions"] == 1
    status = client.get(f"/v1/privacy/deletions/{deletion['deletion_id']}", headers=AUTH).json()
    assert status["status"] == "purged" and status["model_version"] == 2
    assert user not in state.current.snapshot.model.user_map_
    assert client.delete(f"/v1/users/{user}", headers=AUTH).status_code == 404


def test_immediate_purge_equals_training_without_the_user(
    backend: str, make_client, shop: Shop, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    client = make_client()
    state = client.app.state.serving
    user = known_user(shop, 0)
    response = client.delete(f"/v1/users/{user}", params={"purge": "immediate"}, headers=AUTH)
    assert response.status_code == 202 and response.json()["purge"] == "immediate"
    status = _wait_purged(client, response.json()["deletion_id"])
    assert status["status"] == "purged" and status["model_version"] == 2
    assert client.get("/v1/model").json()["version"] == 2

    served = state.current.snapshot.model
    _, reference = train(shop.raw, drop_user=user)
    assert user not in served.user_map_
    assert served.user_map_ == reference.user_map_ and served.item_map_ == reference.item_map_
    np.testing.assert_array_equal(served.weights_, reference.weights_)  # type: ignore[attr-defined]
    others = reference.user_map_.to_list()
    pd.testing.assert_frame_equal(served.recommend(others, 10), reference.recommend(others, 10))
    for other in others[:5]:
        # The model's own list (Recommender.recommend knows no stock): unavailable included.
        params = {"k": 10, "include_unavailable": True}
        body = client.get(f"/v1/users/{other}/recommendations", params=params).json()
        expected = reference.recommend([other], 10)
        assert [i["item_id"] for i in body["items"]] == expected["item_id"].tolist()
        np.testing.assert_allclose([i["score"] for i in body["items"]], expected["score"])

    # Superseded retrained bundles (which could hold deleted users) are removed.
    assert [p.name for p in (tmp_path / "state" / "bundles").iterdir()] == ["v00002"]
    # A restart serves the purged bundle (the newest version on disk), not the original.
    restarted = make_client()
    assert restarted.get("/v1/model").json()["version"] == 2
    assert restarted.app.state.serving.current.snapshot.user_row(user) is None


def test_deleting_an_unknown_user_is_404(client: TestClient) -> None:
    response = client.delete("/v1/users/nobody-at-all", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_user"
    missing = client.get("/v1/privacy/deletions/" + "a" * 32, headers=AUTH)
    assert missing.status_code == 404


def test_a_failed_purge_retrain_shows_in_model_info_and_the_deletion_stays_pending(
    backend: str, make_client, shop: Shop, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A purge whose retrain fails is not reported done: /v1/model names the failure, the
    deletion stays pending, the served model is unchanged and the user is still forgotten."""
    client = make_client()
    state = client.app.state.serving

    def failing_retrain(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(state, "retrain", failing_retrain)
    user = known_user(shop, 1)
    response = client.delete(f"/v1/users/{user}", params={"purge": "immediate"}, headers=AUTH)
    assert response.status_code == 202
    state.wait_for_purges()
    model = client.get("/v1/model").json()
    assert model["version"] == 1
    assert any(
        "privacy purge retrain failed" in p and "No space left" in p for p in model["problems"]
    ), model["problems"]
    status = client.get(f"/v1/privacy/deletions/{response.json()['deletion_id']}", headers=AUTH)
    assert status.status_code == 200 and status.json()["status"] == "pending"
    assert client.get(f"/v1/users/{user}/recommendations").json()["source"] == "popular"
