"""Retrain + atomic swap while requests are in flight: no request fails, versions only rise."""

from __future__ import annotations

import threading
import time

import numpy as np
from fastapi.testclient import TestClient
from service_helpers import AUTH, Shop, seen_items

from digirec.artifacts import ItemFilter


def test_swap_under_concurrent_requests(client: TestClient, shop: Shop) -> None:
    users = [*shop.dataset.user_map.to_list()[:40], "cold-1", "cold-2"]
    items = shop.items["item_id"].tolist()
    catalogue = shop.items
    in_stock_phones = set(
        catalogue.loc[
            (catalogue["category"] == "Phones") & catalogue["in_stock"].astype(bool), "item_id"
        ].astype(str)
    )
    failures: list[str] = []
    versions: list[list[int]] = [[] for _ in range(3)]
    stop = threading.Event()

    def hammer(worker: int) -> None:
        rng = np.random.default_rng(worker)
        deadline = time.monotonic() + 60  # bounded even if the main thread fails
        while not stop.is_set() and time.monotonic() < deadline:
            kind = int(rng.integers(3))
            wanted = 5
            if kind == 0:
                user = str(rng.choice(users))
                phones_only = rng.random() < 0.3
                if phones_only:
                    # A filter can leave fewer than k items: in-stock phones the user has not
                    # seen (out-of-stock items are excluded by default).
                    wanted = min(5, len(in_stock_phones - seen_items(shop, user)))
                response = client.get(
                    f"/v1/users/{user}/recommendations",
                    params={"k": 5, "category": "Phones"} if phones_only else {"k": 5},
                )
            elif kind == 1:
                response = client.post(
                    "/v1/recommendations/session",
                    json={"item_ids": list(rng.choice(items, 2)), "k": 5},
                )
            else:
                response = client.get(f"/v1/items/{rng.choice(items)}/similar", params={"k": 5})
            if response.status_code != 200:
                failures.append(f"{response.status_code} {response.text[:200]}")
                continue
            body = response.json()
            if len(body["items"]) != wanted:
                failures.append(f"short list {body}")
            versions[worker].append(int(body["model_version"]))

    state = client.app.state.serving
    held = state.current  # a request that started before the swaps
    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()

    def wait_for_requests(n: int) -> None:
        """Until every worker made ``n`` more requests (bounded)."""
        marks = [len(v) for v in versions]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            len(v) < m + n for v, m in zip(versions, marks, strict=True)
        ):
            time.sleep(0.02)

    try:
        for expected in (2, 3):
            wait_for_requests(3)
            response = client.post("/v1/admin/retrain", headers=AUTH)
            assert response.status_code == 200, response.text
            assert response.json()["model_version"] == expected
        wait_for_requests(3)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not failures, failures[:5]
    for seen in versions:
        assert seen, "a worker made no request"
        assert seen == sorted(seen), "a worker saw the version go back"
    assert all(v[-1] == 3 for v in versions), [v[-5:] for v in versions]
    assert all({1, 2, 3} <= set(v) for v in versions), "every worker spans both swaps"
    # The snapshot held across both swaps is intact and still serves.
    assert held.snapshot.version == 1
    ranked = state.recommend_user(users[0], 5, ItemFilter())
    assert ranked.model_version == 3
    old = held.snapshot.model.recommend([users[0]], 5)
    assert len(old) == 5
    info = client.get("/v1/model").json()
    assert info["version"] == 3 and info["trained_at"]
