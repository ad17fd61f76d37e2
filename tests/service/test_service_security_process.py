"""Issue 12's security cases against one real ``digirec serve`` (uvicorn) process: per-key
rate limits, strict types, scoped keys, a configured clock skew, shop-front events for a
deleted user, and event ids / the real-time replay across a restart after a deletion.

One server for the module (started once, restarted once by the restart case) with the
settings the cases need: a low per-key rate limit (each case uses its own keys, so their
buckets do not mix), a non-default clock skew and the shop-front event proxy on. The same
cases in process are in ``test_service_writes.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_helpers import Shop, known_user, serve

from digirec.artifacts import load_bundle
from digirec.data.synth import write_shop
from digirec.serving.shopper import SHOPPER_COOKIE
from digirec.store import open_store

#: Generous: the machine is shared and a first shop page renders explanations.
T = 60.0
http = httpx.Client(timeout=T, trust_env=False)

RATE_LIMIT = 6  # requests per minute per key (DIGIREC_RATE_LIMIT_PER_MINUTE)
CLOCK_SKEW_S = 120.0  # DIGIREC_MAX_CLOCK_SKEW_S (the default is 300 s)

#: key -> scopes (``None``: every scope). The first is the server's own key, which the shop
#: front's event proxy forwards with.
KEYS: dict[str, str | None] = {
    "web-proxy-key-0001": None,
    "rate-key-00000001": "events",
    "rate-other-key-001": "events",
    "strict-cat-key-001": "catalogue",
    "strict-evt-key-001": "events",
    "read-key-00000001": "read",
    "events-key-000001": "events",
    "catalogue-key-001": "catalogue",
    "admin-key-0000001": "admin",
    "clock-key-0000001": "events",
    "web-admin-key-001": "admin",
    "restart-key-00001": None,
}


def _auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def _error(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    return dict(body["error"])


class Server:
    """The module's server: its base URL, store and state folder; restartable."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str], url: str, state: Path):
        self.args, self.log, self.env, self.url, self.state = args, log, env, url, state
        self.base = ""
        self._stack = ExitStack()

    def start(self) -> None:
        _, self.base = self._stack.enter_context(serve(self.args, self.log, env=self.env))

    def stop(self) -> None:
        self._stack.close()
        self._stack = ExitStack()

    def restart(self) -> None:
        self.stop()
        self.start()

    def count(self, user: str | None = None) -> int:
        store = open_store(self.url)
        try:
            return store.count_events(user)
        finally:
            store.close()


@pytest.fixture(scope="module")
def server(shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("security-process")
    url = f"sqlite:///{root / 'served.db'}"
    data = root / "shop"
    write_shop(shop.raw, data, fmt="csv")
    args = ["--bundle", str(shop.bundle), "--database", url, "--log-level", "warning"]
    args += ["--state-dir", str(root / "state"), "--seed-from-data", str(data)]
    for key, scopes in KEYS.items():
        args += ["--api-key", key if scopes is None else f"{key}:{scopes}"]
    env = {
        "DIGIREC_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
        "DIGIREC_MAX_CLOCK_SKEW_S": str(CLOCK_SKEW_S),
        "DIGIREC_WEB_EVENTS": "true",
    }
    running = Server(args, root / "server.log", env, url, root / "state")
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _item(shop: Shop, i: int) -> str:
    return str(shop.items["item_id"].iloc[i])


# ---------------------------------------------------------------------- rate limit
def test_a_key_over_its_rate_limit_gets_429(server: Server, shop: Shop) -> None:
    key = "rate-key-00000001"
    event = {"user_id": "rate-user", "item_id": _item(shop, 0), "event": "view"}
    started = time.monotonic()
    codes: list[int] = []
    limited: httpx.Response | None = None
    for _ in range(RATE_LIMIT + 3):  # bounded: a slow machine refills a token per 10 s
        response = http.post(
            f"{server.base}/v1/events", json={"events": [event]}, headers=_auth(key)
        )
        codes.append(response.status_code)
        if response.status_code == 429:
            limited = response
            break
    elapsed = time.monotonic() - started
    refilled = int(elapsed * RATE_LIMIT / 60.0)
    assert codes[:RATE_LIMIT] == [200] * RATE_LIMIT, codes
    assert limited is not None and len(codes) <= RATE_LIMIT + 1 + refilled, (codes, elapsed)
    assert _error(limited)["code"] == "rate_limited"
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 60 // RATE_LIMIT + 1
    assert server.count("rate-user") == len(codes) - 1  # the refused one is not stored
    # Per key: another key (same scope) is not limited by this one's bucket.
    other = http.post(
        f"{server.base}/v1/events",
        json={"events": [event]},
        headers=_auth("rate-other-key-001"),
    )
    assert other.status_code == 200, other.text


# ---------------------------------------------------------------------- strict types
def test_booleans_are_not_numbers(server: Server, shop: Shop) -> None:
    price = http.put(
        f"{server.base}/v1/items/strict-item",
        json={"title": "Strict phone", "category": "Phones", "price": False},
        headers=_auth("strict-cat-key-001"),
    )
    assert price.status_code == 422, price.text
    assert _error(price)["field"] == "price"
    assert http.get(f"{server.base}/v1/items/strict-item").status_code == 404  # not stored
    event = {"user_id": "strict-user", "item_id": _item(shop, 1), "event": "view"}
    stamp = http.post(
        f"{server.base}/v1/events",
        json={"events": [{**event, "timestamp": True}]},
        headers=_auth("strict-evt-key-001"),
    )
    assert stamp.status_code == 422, stamp.text
    assert _error(stamp)["field"] == "events[0].timestamp"
    assert server.count("strict-user") == 0


# ---------------------------------------------------------------------- scoped keys
#: (key, method, path, body): each a route the key's scopes do not cover.
_ITEM = {"title": "Scoped phone", "category": "Phones", "price": 100.0}
_BATCH = {"events": [{"user_id": "scope-user", "item_id": "ITEM", "event": "view"}]}
_DELETION = "/v1/privacy/deletions/" + "0" * 32
FORBIDDEN = [
    ("read-key-00000001", "POST", "/v1/events", _BATCH),
    ("read-key-00000001", "PUT", "/v1/items/scoped-item", _ITEM),
    ("read-key-00000001", "DELETE", "/v1/items/ITEM", None),
    ("read-key-00000001", "PUT", "/v1/users/scope-user", {}),
    ("read-key-00000001", "POST", "/v1/admin/retrain", None),
    ("read-key-00000001", "DELETE", "/v1/users/USER", None),
    ("read-key-00000001", "GET", _DELETION, None),
    ("read-key-00000001", "GET", "/v1/users/USER", None),
    ("events-key-000001", "PUT", "/v1/items/scoped-item", _ITEM),
    ("events-key-000001", "DELETE", "/v1/items/ITEM", None),
    ("events-key-000001", "PUT", "/v1/users/scope-user", {}),
    ("events-key-000001", "POST", "/v1/admin/retrain", None),
    ("events-key-000001", "DELETE", "/v1/users/USER", None),
    ("events-key-000001", "GET", _DELETION, None),
    ("catalogue-key-001", "POST", "/v1/events", _BATCH),
    ("catalogue-key-001", "POST", "/v1/admin/retrain", None),
    ("catalogue-key-001", "DELETE", "/v1/users/USER", None),
    ("catalogue-key-001", "GET", _DELETION, None),
    ("admin-key-0000001", "POST", "/v1/events", _BATCH),
    ("admin-key-0000001", "PUT", "/v1/items/scoped-item", _ITEM),
    ("admin-key-0000001", "DELETE", "/v1/items/ITEM", None),
]


def _fill(value: object, item: str, user: str) -> object:
    if isinstance(value, str):
        return value.replace("ITEM", item).replace("USER", user)
    if isinstance(value, dict):
        return {k: _fill(v, item, user) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, item, user) for v in value]
    return value


def test_scoped_keys_only_reach_their_routes(server: Server, shop: Shop) -> None:
    item, user = _item(shop, 2), known_user(shop, 4)
    before = server.count()
    for key, method, path, body in FORBIDDEN:
        target = str(_fill(path, item, user))
        response = http.request(
            method, server.base + target, json=_fill(body, item, user), headers=_auth(key)
        )
        assert response.status_code == 403, (key, method, target, response.text)
        assert _error(response)["code"] == "forbidden", (key, method, target)
    # Nothing of the above happened: no event, no new item, the item and the user still there.
    assert server.count() == before
    assert http.get(f"{server.base}/v1/items/scoped-item").status_code == 404
    assert http.get(f"{server.base}/v1/items/{item}").status_code == 200
    admin = _auth("admin-key-0000001")
    assert http.get(f"{server.base}/v1/users/{user}", headers=admin).json()["deleted"] is False
    # Each key does reach its own routes (403 above is the scope, not a broken key).
    ok = http.post(
        f"{server.base}/v1/events",
        json=_fill(_BATCH, item, user),
        headers=_auth("events-key-000001"),
    )
    assert ok.status_code == 200, ok.text
    created = http.put(
        f"{server.base}/v1/users/scope-user", json={}, headers=_auth("catalogue-key-001")
    )
    assert created.status_code == 201, created.text
    status = http.get(server.base + _DELETION, headers=admin)
    assert status.status_code == 404 and _error(status)["code"] == "unknown_deletion"
    read = http.get(f"{server.base}/v1/model", headers=_auth("read-key-00000001"))
    assert read.status_code == 200


# ---------------------------------------------------------------------- clock skew
def test_configured_clock_skew_bounds_timestamps(server: Server, shop: Shop) -> None:
    key = _auth("clock-key-0000001")
    user = "clock-user"
    event = {"user_id": user, "item_id": _item(shop, 3), "event": "view"}

    def post(timestamp: object) -> httpx.Response:
        return http.post(
            f"{server.base}/v1/events",
            json={"events": [{**event, "timestamp": timestamp}]},
            headers=key,
        )

    # Beyond the configured 120 s though within the default 300 s: refused.
    late = post(time.time() + CLOCK_SKEW_S + 60)
    assert late.status_code == 422, late.text
    assert _error(late)["code"] == "timestamp_in_future"
    assert _error(late)["field"] == "events[0].timestamp"
    assert f"{CLOCK_SKEW_S:g} s" in _error(late)["message"]
    far = post("2200-01-01T00:00:00Z")
    assert far.status_code == 422, far.text
    assert _error(far)["field"] == "events[0].timestamp"
    assert server.count(user) == 0
    # Within the skew: stored with its own timestamp.
    soon = time.time() + CLOCK_SKEW_S - 60
    ok = post(soon)
    assert ok.status_code == 200, ok.text
    store = open_store(server.url)
    try:
        assert store.user_events(user)["timestamp"].tolist() == [pytest.approx(soon)]
    finally:
        store.close()


# ---------------------------------------------------------------------- shop front
def _refused_total(base: str) -> float:
    text = http.get(f"{base}/metrics").text
    match = re.search(r"^digirec_events_refused_total (\S+)$", text, flags=re.M)
    assert match, text[:2000]
    return float(match.group(1))


def test_web_events_for_a_deleted_user_are_refused(server: Server, shop: Shop) -> None:
    victim = known_user(shop, 5)
    event = {"user_id": victim, "item_id": _item(shop, 4), "event": "purchase"}
    refused_before = _refused_total(server.base)
    with httpx.Client(base_url=server.base, timeout=T, trust_env=False) as browser:
        # The shop page issues the shopper's signed session while the shopper exists ...
        assert browser.get("/", params={"user": victim}).status_code == 200
        cookie = browser.cookies.get(SHOPPER_COOKIE)
        assert cookie and cookie.startswith(victim + ".")
        deleted = http.delete(
            f"{server.base}/v1/users/{victim}", headers=_auth("web-admin-key-001")
        )
        assert deleted.status_code == 202, deleted.text
        # ... and that valid session cannot post for them once they are deleted.
        response = browser.post("/web/events", json=event, headers={"Origin": server.base})
    assert response.status_code == 410, response.text
    assert _error(response)["code"] == "user_deleted"
    assert server.count(victim) == 0
    assert _refused_total(server.base) == refused_before + 1
    # The shop page no longer knows the shopper: it issues no session for them.
    with httpx.Client(base_url=server.base, timeout=T, trust_env=False) as browser:
        browser.get("/", params={"user": victim})
        assert browser.cookies.get(SHOPPER_COOKIE) is None
        again = browser.post("/web/events", json=event, headers={"Origin": server.base})
    assert again.status_code == 403 and _error(again)["code"] == "shopper_session_required"
    assert server.count(victim) == 0


# ---------------------------------------------------------------------- restart
def _recs(base: str, user: str) -> dict[str, Any]:
    response = http.get(f"{base}/v1/users/{user}/recommendations", params={"k": 10})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["item_id"] for item in body["items"]]


def test_ids_and_replay_after_a_deletion_and_a_restart(server: Server, shop: Shop) -> None:
    key = _auth("restart-key-00001")
    # A retrain sets the served bundle's watermark to the store's largest event id: the events
    # of the user holding it were trained on, everything after it is real time.
    retrained = http.post(f"{server.base}/v1/admin/retrain", headers=key)
    assert retrained.status_code == 200, retrained.text
    version = retrained.json()["model_version"]
    store = open_store(server.url)
    try:
        top = store.max_event_id()
        holder = str(store.interactions_frame(after_id=top - 1)["user_id"].iloc[0])
    finally:
        store.close()
    assert http.delete(f"{server.base}/v1/users/{holder}", headers=key).status_code == 202
    store = open_store(server.url)
    try:
        assert store.max_event_id() < top  # a reusing store would hand ``top`` out again
    finally:
        store.close()
    # New events after the deletion: new ids, above the watermark, so real time at once ...
    before_items = [_item(shop, i) for i in (5, 6, 7)]
    before = [{"user_id": "replay-user", "item_id": i, "event": "view"} for i in before_items]
    first = http.post(f"{server.base}/v1/events", json={"events": before}, headers=key)
    assert first.status_code == 200, first.text
    assert first.json()["first_event_id"] > top
    served_before = _recs(server.base, "replay-user")
    assert served_before["source"] == "personalised"

    server.restart()  # same store, same state folder: serves the retrained bundle
    assert http.get(f"{server.base}/v1/model").json()["version"] == version
    # ... and replayed exactly after the restart: the same list, the model's fold-in of them.
    served_after = _recs(server.base, "replay-user")
    assert served_after["source"] == "personalised"
    assert _ids(served_after) == _ids(served_before)
    (path,) = [p for p in (server.state / "bundles").glob("v*") if int(p.name[1:]) == version]
    bundle = load_bundle(path)
    out_of_stock = shop.items.loc[~shop.items["in_stock"].astype(bool), "item_id"].tolist()
    expected = bundle.model.recommend_from_history([before_items], 10, exclude=out_of_stock)
    assert _ids(served_after) == expected["item_id"].tolist()
    assert _recs(server.base, holder)["source"] == "popular"  # the deletion holds too
    # New events after the restart: ids never handed out before, and real time at once.
    after_items = [_item(shop, i) for i in (8, 9)]
    after = [{"user_id": "late-user", "item_id": i, "event": "view"} for i in after_items]
    second = http.post(f"{server.base}/v1/events", json={"events": after}, headers=key)
    assert second.status_code == 200, second.text
    assert second.json()["first_event_id"] > first.json()["last_event_id"]
    late = _recs(server.base, "late-user")
    assert late["source"] == "personalised"
    expected = bundle.model.recommend_from_history([after_items], 10, exclude=out_of_stock)
    assert _ids(late) == expected["item_id"].tolist()


# ---------------------------------------------------------------------- the CLI
def test_serve_refuses_several_workers(shop: Shop, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "digirec.cli", "serve", "--workers", "2"]
    out = subprocess.run(
        [*command, "--bundle", str(shop.bundle), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # were the check gone: nothing written into the checkout
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    assert out.returncode == 2, out.stdout + out.stderr
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", out.stderr).split())
    assert "--workers" in text and "only --workers 1 is supported" in text, out.stderr
