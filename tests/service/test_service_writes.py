"""Locked-down writes (issue 12): scoped keys, rate limits, tombstones, ids never reused,
idempotent retries, strict types and a bounded clock skew -- in process, SQLite and PostgreSQL.

The same cases against a real uvicorn process are in ``test_service_writes_process.py`` and
``test_service_security_process.py``.
"""

from __future__ import annotations

import time
import typing

import pytest
from fastapi.testclient import TestClient
from service_helpers import AUTH, Shop

from digirec.data.events import EVENT_TYPES
from digirec.serving import schemas as S
from digirec.serving.settings import ServeSettings, parse_key
from digirec.serving.shopper import RateLimiter, ShopperSessions
from digirec.store import EventRecord, Store, open_store
from digirec.store.base import ClientEventIdConflict, DeletedUserError

pytestmark = pytest.mark.usefixtures("backend")


def _event(user: str = "u00001", item: str = "i00001", **extra: object) -> dict[str, object]:
    return {"user_id": user, "item_id": item, "event": "view", **extra}


# ---------------------------------------------------------------------- store level
def test_event_ids_are_never_reused_after_a_delete(store: Store) -> None:
    first = store.add_events([EventRecord("fresh-1", "i00001", "view", 1.0)])
    top = store.max_event_id()
    assert first[0].event_id == top
    # Delete the user holding the largest id: a reusing store would hand ``top`` out again.
    store.delete_user("fresh-1", purge="scheduled")
    assert store.max_event_id() < top
    again = store.add_events([EventRecord("fresh-2", "i00001", "view", 2.0)])
    assert again[0].event_id > top


def test_old_sqlite_tables_are_migrated_to_autoincrement(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    # The schema of earlier digirec versions: INTEGER PRIMARY KEY without AUTOINCREMENT.
    conn.executescript(
        "CREATE TABLE events (event_id INTEGER NOT NULL PRIMARY KEY, user_id VARCHAR(256) "
        "NOT NULL, item_id VARCHAR(256) NOT NULL, event VARCHAR(64) NOT NULL, timestamp FLOAT,"
        " rating FLOAT, weight FLOAT, created_at FLOAT NOT NULL);"
        "CREATE INDEX ix_events_user ON events (user_id, event_id);"
        "INSERT INTO events VALUES (1,'a','i1','view',1,NULL,NULL,0),(2,'b','i1','view',2,NULL,"
        "NULL,0),(3,'c','i2','view',3,NULL,NULL,0);"
    )
    conn.commit()
    conn.close()
    store = open_store(f"sqlite:///{path}")
    try:
        assert store.interactions_frame()["event_id"].tolist() == [1, 2, 3]
        store.delete_user("c", purge="scheduled")
        assert store.add_events([EventRecord("d", "i1", "view", 4.0)])[0].event_id == 4
    finally:
        store.close()


def test_tombstone_refuses_and_counts_until_recreated(database_url: str) -> None:
    store = open_store(database_url)
    store.delete_user("u00002", purge="scheduled")
    with pytest.raises(DeletedUserError) as info:
        store.add_events(
            [EventRecord("u00003", "i00001", "view", 5.0)]
            + [EventRecord("u00002", "i00001", "view", 5.0)] * 2
        )
    assert info.value.user_ids == ["u00002"] and info.value.positions == [1]
    assert store.count_events("u00003") > 0  # the user exists ...
    n_before = store.count_events("u00003")
    store.close()
    # Across a reopen (a restart): still refused, both refused events counted.
    store = open_store(database_url)
    try:
        assert store.count_events("u00003") == n_before  # ... and the batch stored nothing
        tomb = store.tombstone("u00002")
        assert tomb is not None and tomb.n_refused == 2
        with pytest.raises(DeletedUserError):
            store.add_events([EventRecord("u00002", "i00001", "purchase", 1.0)])  # old date too
        assert store.n_refused_events() == 3
        assert store.upsert_users([{"user_id": "u00002"}]) == [True]
        assert store.tombstone("u00002") is None
        stored = store.add_events([EventRecord("u00002", "i00001", "view", 6.0)])
        assert store.count_events("u00002") == 1 and not stored[0].duplicate
    finally:
        store.close()


def test_client_event_ids_store_a_retry_once(store: Store) -> None:
    batch = [
        EventRecord("u00001", "i00001", "view", 1.0, client_event_id="c-1"),
        EventRecord("u00001", "i00002", "cart", 2.0, client_event_id="c-2"),
        EventRecord("u00001", "i00003", "view", 3.0),
    ]
    n0 = store.count_events()
    first = store.add_events(batch)
    assert [e.duplicate for e in first] == [False, False, False]
    again = store.add_events(batch)
    # The two keyed events are the stored copies; the unkeyed one is new (no way to know).
    assert [e.duplicate for e in again] == [True, True, False]
    assert [e.event_id for e in again[:2]] == [e.event_id for e in first[:2]]
    assert store.count_events() == n0 + 4
    # A batch that repeats a client id inside itself stores it once.
    twice = store.add_events(
        [EventRecord("u00001", "i00004", "view", 4.0, client_event_id="c-3")] * 2
    )
    assert twice[0].event_id == twice[1].event_id and twice[1].duplicate
    with pytest.raises(ClientEventIdConflict) as info:
        store.add_events(
            [
                EventRecord("u00001", "i00005", "view", 5.0),
                EventRecord("u00009", "i00001", "view", 5.0, client_event_id="c-1"),
            ]
        )
    assert info.value.position == 1
    assert store.count_events() == n0 + 5  # the conflicting batch stored nothing


# ---------------------------------------------------------------------- settings
def test_key_scopes_are_parsed_and_checked() -> None:
    assert parse_key("abc") == ("abc", frozenset({"read", "events", "catalogue", "admin"}))
    assert parse_key("abc:events+read") == ("abc", frozenset({"events", "read"}))
    with pytest.raises(ValueError, match="unknown scope"):
        ServeSettings(api_keys=["k:evnts"])
    assert ServeSettings(api_keys="a:read,b").key_values() == ["a", "b"]


def test_event_type_literal_matches_the_event_types() -> None:
    assert typing.get_args(S.EventType) == EVENT_TYPES


def test_rate_limiter_refills_at_its_rate() -> None:
    limiter = RateLimiter(60)  # one token per second, bursts of 60
    assert all(limiter.allow("k", now=100.0)[0] for _ in range(60))
    allowed, wait = limiter.allow("k", now=100.0)
    assert not allowed and wait == pytest.approx(1.0)
    assert limiter.allow("k", now=101.01)[0]
    assert not limiter.allow("k", now=101.02)[0]
    assert limiter.allow("other", now=101.02)[0]  # buckets are per key


def test_shopper_sessions_bind_the_cookie_to_one_shopper() -> None:
    sessions = ShopperSessions(b"secret", ttl_s=60, per_minute=2)
    token = sessions.token("u.1", now=1000.0)
    assert sessions.user_of(token, now=1010.0)[0] == "u.1"  # ids with dots stay whole
    forged = token.replace("u.1", "u.2", 1)
    for bad, code in ((forged, "invalid_shopper_session"), ("", "shopper_session_required")):
        with pytest.raises(Exception) as info:
            sessions.user_of(bad, now=1010.0)
        assert getattr(info.value, "code", None) == code
    with pytest.raises(Exception) as info:
        sessions.user_of(token, now=1061.0)
    assert getattr(info.value, "code", None) == "shopper_session_expired"
    other = ShopperSessions(b"other-secret")
    with pytest.raises(Exception) as info:
        other.user_of(token, now=1010.0)
    assert getattr(info.value, "code", None) == "invalid_shopper_session"


# ---------------------------------------------------------------------- the API
def test_scopes_limit_what_a_key_may_do(make_client) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = make_client(
        api_keys=["full-key-000", "events-key:events", "read-key:read", "cat-key:catalogue"]
    )
    ev = {"events": [_event()]}
    assert (
        client.post("/v1/events", json=ev, headers={"X-API-Key": "events-key"}).status_code == 200
    )
    for key in ("read-key", "cat-key"):
        denied = client.post("/v1/events", json=ev, headers={"X-API-Key": key})
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    assert client.post("/v1/admin/retrain", headers={"X-API-Key": "events-key"}).status_code == 403
    assert client.delete("/v1/users/u00001", headers={"X-API-Key": "cat-key"}).status_code == 403
    put = client.put("/v1/items/i-new", json={"title": "x"}, headers={"X-API-Key": "cat-key"})
    assert put.status_code == 201
    missing = client.post("/v1/events", json=ev)
    assert missing.status_code == 401 and "WWW-Authenticate" in missing.headers


def test_per_key_rate_limit_answers_429(make_client) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = make_client(rate_limit_per_minute=3)
    ev = {"events": [_event()]}
    codes = [client.post("/v1/events", json=ev, headers=AUTH).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    limited = client.post("/v1/events", json=ev, headers=AUTH)
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"


def test_deleted_user_events_get_410_until_recreated(client: TestClient, store: Store) -> None:
    assert client.delete("/v1/users/u00004", headers=AUTH).status_code == 202
    before = store.count_events()
    old = _event("u00004", timestamp=1_000_000.0)  # dated long before the deletion
    refused = client.post("/v1/events", json={"events": [_event("u00005"), old]}, headers=AUTH)
    assert refused.status_code == 410, refused.text
    assert refused.json()["error"] == {
        "code": "user_deleted",
        "message": refused.json()["error"]["message"],
        "field": "events[1].user_id",
    }
    assert store.count_events() == before
    assert client.app.state.serving.n_refused_batches == 1
    assert client.put("/v1/users/u00004", json={}, headers=AUTH).status_code == 201
    assert client.post("/v1/events", json={"events": [old]}, headers=AUTH).status_code == 200


def test_idempotency_key_stores_a_retried_batch_once(client: TestClient, store: Store) -> None:
    batch = {"events": [_event(item="i00002"), _event(item="i00003", client_event_id="own-1")]}
    headers = {**AUTH, "Idempotency-Key": "batch-7"}
    before = store.count_events()
    first = client.post("/v1/events", json=batch, headers=headers)
    second = client.post("/v1/events", json=batch, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json()["duplicates"] == 0 and second.json()["duplicates"] == 2
    assert first.json()["last_event_id"] == second.json()["last_event_id"]
    assert store.count_events() == before + 2
    other = client.post("/v1/events", json=batch, headers={**AUTH, "Idempotency-Key": "batch-8"})
    # A new key stores the unkeyed event again; the event with its own id stays once.
    assert other.json()["duplicates"] == 1 and store.count_events() == before + 3
    conflict = client.post(
        "/v1/events",
        json={"events": [_event(item="i00009", client_event_id="own-1")]},
        headers=AUTH,
    )
    assert conflict.status_code == 409
    assert conflict.json()["error"]["field"] == "events[0].client_event_id"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"timestamp": True}, "events[0].timestamp"),
        ({"rating": False}, "events[0].rating"),
        ({"weight": "2"}, "events[0].weight"),
        ({"timestamp": "2200-01-01T00:00:00Z"}, "events[0].timestamp"),
    ],
)
def test_strict_event_types(client: TestClient, store: Store, bad: dict, field: str) -> None:
    before = store.count_events()
    response = client.post("/v1/events", json={"events": [_event(**bad)]}, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert store.count_events() == before


def test_item_price_and_stock_are_strict(client: TestClient) -> None:
    for body, field in (({"price": False}, "price"), ({"in_stock": 1}, "in_stock")):
        response = client.put("/v1/items/i-strict", json=body, headers=AUTH)
        assert response.status_code == 422 and response.json()["error"]["field"] == field


def test_clock_skew_is_configurable(make_client) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = make_client(max_clock_skew_s=60)
    now = time.time()
    ok = client.post("/v1/events", json={"events": [_event(timestamp=now + 30)]}, headers=AUTH)
    assert ok.status_code == 200
    late = client.post("/v1/events", json={"events": [_event(timestamp=now + 600)]}, headers=AUTH)
    assert late.status_code == 422
    assert late.json()["error"] == {
        "code": "timestamp_in_future",
        "message": late.json()["error"]["message"],
        "field": "events[0].timestamp",
    }


def test_shop_fixture_is_unchanged(shop: Shop) -> None:
    # Guard: the tests above only wrote to their own fresh database copies.
    assert shop.raw.interactions["user_id"].eq("u00004").any()
