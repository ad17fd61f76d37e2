"""The SQL store on SQLite and PostgreSQL: round trips, atomic batches, deletion, snapshots."""

from __future__ import annotations

import math
import threading

import numpy as np
import pandas as pd
import pytest
from service_helpers import Shop, train

from digirec.store import EVENT_ID, EventRecord, Store, open_store
from digirec.store.sql import normalise_url


def test_normalise_url() -> None:
    assert normalise_url("postgres://u@h:1/db") == "postgresql+psycopg://u@h:1/db"
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"
    assert normalise_url("/tmp/x.db") == "sqlite:////tmp/x.db"


def test_sqlite_runs_in_wal_with_full_sync(tmp_path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a' / 'db.sqlite'}")
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    store.close()


def test_snapshot_rebuilds_the_training_dataset(backend: str, store: Store, shop: Shop) -> None:
    snap = store.snapshot()
    assert len(snap.interactions) == len(shop.raw.interactions)
    assert snap.interactions["source_row"].tolist() == list(range(len(snap.interactions)))
    assert np.all(np.diff(snap.event_ids) > 0)
    dataset, model = train(
        shop.raw.__class__(
            name="store",
            interactions=snap.interactions.drop(columns=[EVENT_ID]),
            items=snap.items,
            users=snap.users,
        )
    )
    assert dataset.item_map == shop.dataset.item_map
    assert dataset.user_map == shop.dataset.user_map
    diff = dataset.user_item_matrix() != shop.dataset.user_item_matrix()
    assert diff.nnz == 0
    users = shop.dataset.user_map.to_list()[:50]
    pd.testing.assert_frame_equal(model.recommend(users, 10), shop.model.recommend(users, 10))


def test_items_and_users_round_trip(backend: str, store: Store, shop: Shop) -> None:
    item = shop.items.iloc[3].to_dict()
    got = store.get_item(str(item["item_id"]))
    assert got is not None
    for key in ("title", "brand", "category", "title_zh", "in_stock"):
        assert got[key] == item[key]
    assert math.isclose(got["price"], item["price"])
    frame = store.items_frame()
    assert frame is not None
    assert frame["item_id"].tolist() == shop.items["item_id"].tolist()  # insertion order
    created = store.upsert_items([{"item_id": item["item_id"], "price": 1.5, "in_stock": False}])
    assert created == [False]
    assert store.get_item(str(item["item_id"]))["price"] == 1.5  # type: ignore[index]
    assert store.upsert_items([{"item_id": "brand-new", "category": "Phones"}]) == [True]
    frame = store.items_frame()
    assert frame is not None and frame["item_id"].iloc[-1] == "brand-new"
    assert store.upsert_users([{"user_id": "u-new", "city_tier": 2}]) == [True]
    assert store.get_user("u-new") == {"user_id": "u-new", "city_tier": 2}


def test_event_batch_is_one_transaction(backend: str, store: Store) -> None:
    before = store.count_events()
    good = EventRecord("alice", "i00001", "view", 1.0)
    bad = EventRecord("alice", "i00002", None, 2.0)  # type: ignore[arg-type]  # NOT NULL
    with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError
        store.add_events([good, good, bad])
    assert store.count_events() == before  # nothing of the failed batch is stored
    stored = store.add_events([good, EventRecord("alice", "i00002", "purchase", 3.0, rating=5)])
    assert [e.event_id for e in stored] == sorted(e.event_id for e in stored)
    assert store.count_events() == before + 2
    events = store.user_events("alice")
    assert events["event"].tolist() == ["view", "purchase"]
    assert events["rating"].iloc[1] == 5
    assert store.user_events("alice", limit=1)["event"].tolist() == ["purchase"]
    # The narrow read of the hot path is the same events in the same order as the frame.
    assert store.user_item_events("alice") == list(
        zip(events["item_id"], events["event"], strict=True)
    )
    assert store.user_item_events("nobody") == []
    after = store.interactions_frame(after_id=stored[0].event_id)
    assert after[EVENT_ID].tolist() == [stored[1].event_id]


def test_concurrent_writers_all_commit(backend: str, store: Store) -> None:
    before = store.count_events()
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for b in range(10):
                store.add_events(
                    [EventRecord(f"w{w}", "i00001", "view", float(b * 10 + j)) for j in range(5)]
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.count_events() == before + 4 * 10 * 5


def test_delete_user_removes_row_and_events(backend: str, store: Store, shop: Shop) -> None:
    user = str(shop.raw.interactions["user_id"].iloc[0])
    n_events = store.count_events(user)
    assert n_events > 0 and store.get_user(user) is not None
    record = store.delete_user(user, purge="scheduled")
    assert record.n_events_deleted == n_events
    assert store.count_events(user) == 0
    assert store.get_user(user) is None
    assert store.get_deletion(record.deletion_id) == record
    assert store.snapshot().deletion_seq == record.seq
    assert store.mark_purged(up_to_seq=record.seq, model_version=7) == 1
    purged = store.get_deletion(record.deletion_id)
    assert purged is not None and purged.status == "purged" and purged.model_version == 7
    assert store.deletions(status="pending") == []


def test_meta(backend: str, store: Store) -> None:
    assert store.get_meta("k") is None
    store.set_meta("k", "1")
    store.set_meta("k", "2")
    assert store.get_meta("k") == "2"
    assert store.ping()
    assert not store.is_empty()


def test_evidence_queries_equal_pandas_counts(backend: str, store: Store, shop: Shop) -> None:
    """The SQL versions of purchase pairs and window counts equal plain pandas over the raw
    events (and the base class's default implementation)."""
    from digirec.evidence import purchase_pairs, window_counts
    from digirec.store.base import Store as BaseStore

    raw = shop.raw.interactions
    pairs = store.purchase_pairs(["purchase"])
    bought = raw[raw["event"].str.lower() == "purchase"]
    want = set(zip(bought["user_id"].astype(str), bought["item_id"].astype(str), strict=True))
    assert len(pairs) == len(want) > 0
    assert set(zip(pairs["user_id"], pairs["item_id"], strict=True)) == want
    ts = raw["timestamp"].to_numpy(dtype=float)
    end = float(np.quantile(ts, 0.9))
    start = end - 7 * 86_400.0
    got = store.window_counts(start, end)
    inside = raw[(ts >= start) & (ts <= end)]
    assert len(inside) > 0
    expected = inside.groupby("item_id")["user_id"].nunique()
    assert dict(zip(got["item_id"], got["n_users"], strict=True)) == expected.to_dict()
    assert int(got["n_events"].sum()) == len(inside)
    # The default (non-SQL) implementations answer the same.
    pd.testing.assert_frame_equal(got, BaseStore.window_counts(store, start, end))
    pd.testing.assert_frame_equal(
        got, window_counts(store.interactions_frame(), start, end), check_dtype=False
    )
    default_pairs = BaseStore.purchase_pairs(store, ["purchase"])
    assert set(map(tuple, default_pairs.to_numpy())) == set(
        map(tuple, purchase_pairs(raw, ["purchase"]).to_numpy())
    )


def test_existing_store_gets_the_timestamp_index(tmp_path) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = open_store(url)
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.exec_driver_sql("DROP INDEX ix_events_time")
    store.close()
    store = open_store(url)  # create_schema migrates
    indexes = {i["name"] for i in sa.inspect(store.engine).get_indexes("events")}  # type: ignore[attr-defined]
    assert "ix_events_time" in indexes
    store.close()


def test_postgres_snapshot_waits_for_an_event_transaction_in_flight(
    backend: str, store: Store
) -> None:
    """PostgreSQL hands out ids before commit: a writer holding id n uncommitted while a later
    writer commits n + 1 would let a snapshot read max = n + 1 without n, and n would never be
    replayed (it is below the watermark). The snapshot waits for writers in flight (advisory
    lock), so every id up to its watermark is in it."""
    import threading
    import time

    import sqlalchemy as sa

    from digirec.store.sql import _EVENTS_LOCK, SQLStore

    if backend != "postgres":
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE")
    assert isinstance(store, SQLStore)
    events = store._t["events"]
    with store.engine.connect() as held:
        transaction = held.begin()
        held.execute(sa.text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": _EVENTS_LOCK})
        row = {
            "user_id": "slow-writer",
            "item_id": "i00001",
            "event": "view",
            "timestamp": 1.0,
            "created_at": time.time(),
        }
        early = held.execute(events.insert().values(**row).returning(events.c[EVENT_ID]))
        early_id = int(early.scalar_one())
        # A second writer commits a larger id meanwhile (the shared lock lets it through).
        (later,) = store.add_events([EventRecord("fast-writer", "i00002", "view", 2.0)])
        assert later.event_id > early_id
        result: dict[str, object] = {}
        snapshotting = threading.Thread(target=lambda: result.update(snap=store.snapshot()))
        snapshotting.start()
        snapshotting.join(timeout=1.0)
        assert snapshotting.is_alive(), "the snapshot did not wait for the writer in flight"
        transaction.commit()
    snapshotting.join(timeout=30)
    snap = result["snap"]
    ids = set(snap.event_ids.tolist())  # type: ignore[attr-defined]
    assert {early_id, later.event_id} <= ids
    assert ids == set(range(min(ids), max(ids) + 1)) - _gaps(store, max(ids))


def _gaps(store: Store, upper: int) -> set[int]:
    """Ids up to ``upper`` that no stored event has (deleted ones, rolled-back inserts)."""
    stored = set(store.interactions_frame()["event_id"].tolist())
    return {i for i in range(1, upper + 1) if i not in stored}
