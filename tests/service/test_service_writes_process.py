"""Locked-down writes against a real ``digirec serve`` (uvicorn) process: forged headers,
deleted users across a restart, retried batches, ids never reused, bad types.

Each finding of issue 12 reproduced with curl is one block here; the server is a separate
process on a loopback port, so middleware, routing and the store are the deployed ones.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from service_helpers import API_KEY, Shop, known_user, serve

from digirec.data.synth import write_shop
from digirec.serving.shopper import SHOPPER_COOKIE
from digirec.store import open_store

#: Generous: the machine is shared and a first shop page renders explanations.
T = 60.0
http = httpx.Client(timeout=T, trust_env=False)
EVENTS_KEY = "events-only-key-0001"
READ_KEY = "read-only-key-00001"


def _seeded(shop: Shop, tmp_path: Path) -> tuple[list[str], str]:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    data = tmp_path / "shop"
    write_shop(shop.raw, data, fmt="csv")
    common = ["--bundle", str(shop.bundle), "--database", url, "--log-level", "warning"]
    common += ["--state-dir", str(tmp_path / "state")]
    for key in (API_KEY, f"{EVENTS_KEY}:events", f"{READ_KEY}:read"):
        common += ["--api-key", key]
    return [*common, "--seed-from-data", str(data)], url


def _count(url: str, user: str | None = None) -> int:
    store = open_store(url)
    try:
        return store.count_events(user)
    finally:
        store.close()


FORGED = {
    "Origin": "http://127.0.0.1",
    "Referer": "http://127.0.0.1/",
    "Sec-Fetch-Site": "same-origin",
    "X-Forwarded-For": "127.0.0.1",
    "X-Real-IP": "127.0.0.1",
}


def test_forged_headers_write_nothing(shop: Shop, tmp_path: Path) -> None:
    args, url = _seeded(shop, tmp_path)
    env = {"DIGIREC_WEB_EVENTS": "true", "DIGIREC_WEB_SESSION_EVENTS_PER_MINUTE": "3"}
    victim, other = known_user(shop, 0), known_user(shop, 1)
    item = str(shop.items["item_id"].iloc[0])
    event = {"user_id": victim, "item_id": item, "event": "purchase"}
    with serve(args, tmp_path / "server.log", env=env) as (_, base):
        before = _count(url)
        forged = {**FORGED, "Origin": base, "Referer": base + "/"}
        # /v1/events: no key, a wrong key, a key without the events scope.
        for headers, status in (
            (forged, 401),
            ({**forged, "X-API-Key": "guess"}, 401),
            ({**forged, "X-API-Key": READ_KEY}, 403),
        ):
            response = http.post(f"{base}/v1/events", json={"events": [event]}, headers=headers)
            assert response.status_code == status, response.text
        # /web/events: same-origin headers are no session.
        response = http.post(f"{base}/web/events", json=event, headers=forged)
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "shopper_session_required"
        # A session issued for another shopper, and a tampered cookie, are refused.
        with httpx.Client(base_url=base, timeout=T, trust_env=False) as browser:
            assert browser.get("/", params={"user": other}).status_code == 200
            cookie = browser.cookies.get(SHOPPER_COOKIE)
            assert cookie and cookie.startswith(other + ".")
            mismatch = browser.post("/web/events", json=event, headers=forged)
            assert mismatch.status_code == 403
            assert mismatch.json()["error"]["code"] == "shopper_mismatch"
        tampered = cookie.replace(other, victim, 1)
        response = http.post(
            f"{base}/web/events",
            json=event,
            headers={**forged, "Cookie": f"{SHOPPER_COOKIE}={tampered}"},
        )
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "invalid_shopper_session"
        assert _count(url) == before  # nothing of the above was stored
        # The shopper's own session posts, rate-limited (3 per minute here).
        with httpx.Client(base_url=base, timeout=T, trust_env=False) as browser:
            assert browser.get("/", params={"user": victim}).status_code == 200
            # A browser sends Origin with every POST (the page checks it as well).
            replies = [
                browser.post("/web/events", json=event, headers={"Origin": base}) for _ in range(5)
            ]
            codes = [r.status_code for r in replies]
        assert codes == [200, 200, 200, 429, 429], [r.text for r in replies]
        assert _count(url) == before + 3
        # With the events key it is stored.
        ok = http.post(
            f"{base}/v1/events", json={"events": [event]}, headers={"X-API-Key": EVENTS_KEY}
        )
        assert ok.status_code == 200 and _count(url) == before + 4


def test_deleted_user_retry_and_ids_across_restarts(shop: Shop, tmp_path: Path) -> None:
    args, url = _seeded(shop, tmp_path)
    log = tmp_path / "server.log"
    user = known_user(shop, 2)
    item = str(shop.items["item_id"].iloc[1])
    auth = {"X-API-Key": API_KEY}
    old = {"user_id": user, "item_id": item, "event": "view", "timestamp": 1_000_000.0}
    batch = {"events": [{"user_id": "retry-user", "item_id": item, "event": "view"}] * 3}
    retry = {**auth, "Idempotency-Key": "order-42"}
    with serve(args, log) as (_, base):
        first = http.post(f"{base}/v1/events", json=batch, headers=retry)
        assert first.status_code == 200 and first.json()["duplicates"] == 0
        top = first.json()["last_event_id"]
        assert http.delete(f"{base}/v1/users/retry-user", headers=auth).status_code == 202
        assert http.put(f"{base}/v1/users/retry-user", json={}, headers=auth).status_code == 201
        deleted = http.delete(f"{base}/v1/users/{user}", headers=auth)
        assert deleted.status_code == 202
        refused = http.post(f"{base}/v1/events", json={"events": [old]}, headers=auth)
        assert refused.status_code == 410 and refused.json()["error"]["code"] == "user_deleted"
    assert _count(url, user) == 0
    with serve(args, log) as (_, base):  # a restart: the store is the same
        again = http.post(f"{base}/v1/events", json={"events": [old]}, headers=auth)
        assert again.status_code == 410, again.text
        # The retried batch after the restart: stored once (the user was re-created but the
        # first copies were deleted with them, so they are new events with new, larger ids).
        replay = http.post(f"{base}/v1/events", json=batch, headers=retry)
        assert replay.status_code == 200, replay.text
        assert replay.json()["first_event_id"] > top  # ids are never handed out twice
        twice = http.post(f"{base}/v1/events", json=batch, headers=retry)
        assert twice.json()["duplicates"] == 3
        assert twice.json()["last_event_id"] == replay.json()["last_event_id"]
        assert _count(url, "retry-user") == 3
        for bad in ({"timestamp": True}, {"timestamp": 7_000_000_000}, {"rating": False}):
            response = http.post(
                f"{base}/v1/events",
                json={"events": [{**old, "user_id": "x1", **bad}]},
                headers=auth,
            )
            assert response.status_code == 422, (bad, response.text)
        assert http.put(f"{base}/v1/users/{user}", json={}, headers=auth).status_code == 201
        back = http.post(f"{base}/v1/events", json={"events": [old]}, headers=auth)
        assert back.status_code == 200
    store = open_store(url)
    try:
        tomb = store.tombstone(user)
        assert tomb is None  # lifted by the re-creation
        assert store.n_refused_events() == 2  # both refusals counted, across the restart
    finally:
        store.close()
