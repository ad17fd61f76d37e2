"""A real `digirec serve` process: health, a recommendation, and no acknowledged event lost
when the server is SIGKILLed in the middle of an event burst."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from service_helpers import API_KEY, AUTH, Shop, serve

from digirec.data.synth import write_shop
from digirec.store import open_store


def test_no_acknowledged_event_is_lost_on_sigkill(
    backend: str, database_url: str, shop: Shop, tmp_path: Path
) -> None:
    if backend == "sqlite":
        # Start from an empty store seeded by the CLI from the shop's files.
        url = f"sqlite:///{tmp_path / 'served.db'}"
        data = tmp_path / "shop"
        write_shop(shop.raw, data, fmt="csv")
        seed = ["--seed-from-data", str(data)]
    else:
        url, seed = database_url, []
    common = ["--bundle", str(shop.bundle), "--database", url, "--api-key", API_KEY]
    common += ["--state-dir", str(tmp_path / "state"), "--log-level", "warning"]
    log = tmp_path / "server.log"
    items = shop.items["item_id"].tolist()
    acked: list[float] = []
    user = "burst-user"

    with serve([*common, *seed], log) as (process, base):
        assert httpx.get(f"{base}/health/live").json()["status"] == "ok"
        recs = httpx.get(f"{base}/v1/users/{shop.dataset.user_map.to_list()[0]}/recommendations")
        assert recs.status_code == 200 and recs.json()["source"] == "personalised"
        assert len(recs.json()["items"]) == 10

        def burst() -> None:
            # Generous: on a loaded machine one fsync-ed batch can take seconds.
            with httpx.Client(base_url=base, headers=AUTH, timeout=60) as http:
                for batch in range(10_000):  # bounded; ends when the server dies
                    stamps = [1_780_000_000.0 + batch * 10 + j for j in range(5)]
                    events = [
                        {
                            "user_id": user,
                            "item_id": items[(batch + j) % len(items)],
                            "event": "view",
                            "timestamp": t,
                        }
                        for j, t in enumerate(stamps)
                    ]
                    try:
                        response = http.post("/v1/events", json={"events": events})
                    except httpx.HTTPError:
                        return
                    if response.status_code != 200:
                        return
                    acked.extend(stamps)

        sender = threading.Thread(target=burst)
        sender.start()
        deadline = time.monotonic() + 60
        while len(acked) < 100 and time.monotonic() < deadline and sender.is_alive():
            time.sleep(0.01)
        in_flight = sender.is_alive()
        process.send_signal(signal.SIGKILL)  # in the middle of the burst
        process.wait(timeout=30)
        sender.join(timeout=30)
    assert in_flight, "the burst ended before the kill"
    assert len(acked) >= 100, log.read_text()[-3000:]

    # Restart on the same store: every acknowledged event is there, and is served.
    with serve(common, log) as (_, base):
        store = open_store(url)
        try:
            events = store.user_events(user)
        finally:
            store.close()
        stored = set(events["timestamp"].tolist())
        missing = [t for t in acked if t not in stored]
        assert not missing, f"{len(missing)} acknowledged events lost"
        body = httpx.get(f"{base}/v1/users/{user}/recommendations", params={"k": 5}).json()
        assert body["source"] == "personalised"  # the replayed events are real-time history
        assert not {i["item_id"] for i in body["items"]} & set(events["item_id"])


def test_serve_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "digirec.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "--seed-from-data" in out.stdout and "--api-key" in out.stdout
