"""Large catalogues in serving: factor models above ``ann_threshold`` rank through FAISS.

A shop of 3,000 items is served twice from one bundle and one store: with ``ann_threshold=1000``
(personalised lists go through the FAISS index) and with the default threshold (exact scores of
every item). Over random users and random filter combinations the FAISS path must never return a
filtered or seen item, must fill ``k`` whenever enough items qualify, and must find at least 90 %
of the exact top-10.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("faiss", reason="the ANN path needs the ann extra: pip install faiss-cpu")

from fastapi.testclient import TestClient
from service_helpers import AUTH

from digirec import columns as C
from digirec.artifacts import ItemFilter, save_bundle
from digirec.data.dataset import Dataset
from digirec.data.tables import RawData
from digirec.models.base import Recommender, factor_model
from digirec.models.registry import create_model
from digirec.serving.app import create_app
from digirec.serving.engine.ranking import AnnScorer
from digirec.serving.engine.retrain import build_training_dataset
from digirec.serving.engine.state import ServingState
from digirec.serving.settings import ServeSettings
from digirec.store import Store, open_store

N_ITEMS = 3000
N_USERS = 1500
THRESHOLD = 1000
CATEGORIES = ["Phones", "Laptops", "Tablets", "Headphones", "TVs", "Cameras", "Accessories"]
BRANDS = [f"Brand{b:02d}" for b in range(20)]


def fast_shop(n_items: int, n_users: int, seed: int) -> RawData:
    """A catalogue with categories, brands, prices and stock, and users who mostly buy in one
    favourite category, with long-tail item popularity (numpy only: fast)."""
    rng = np.random.default_rng(seed)
    category = rng.integers(0, len(CATEGORIES), n_items)
    items = pd.DataFrame(
        {
            C.ITEM_ID: [f"it{i:05d}" for i in range(n_items)],
            C.TITLE: [f"Item {i}" for i in range(n_items)],
            C.CATEGORY: np.asarray(CATEGORIES, dtype=object)[category],
            C.BRAND: np.asarray(BRANDS, dtype=object)[rng.integers(0, len(BRANDS), n_items)],
            # Cents drawn at random: prices are (nearly) unique, so attribute neighbours are too;
            # 2 % unknown (never pass a price filter).
            C.PRICE: np.where(
                rng.random(n_items) < 0.02,
                np.nan,
                np.round(np.exp(rng.normal(5.0, 1.0, n_items)), 2),
            ),
            C.IN_STOCK: rng.random(n_items) < 0.9,
        }
    )
    weight = 1.0 / (1.0 + rng.permutation(n_items)) ** 0.8
    by_category = [np.flatnonzero(category == c) for c in range(len(CATEGORIES))]
    users, picks = [], []
    for u in range(n_users):
        favourite = by_category[rng.integers(0, len(CATEGORIES))]
        n = int(rng.integers(8, 25))
        n_fav = int(0.75 * n)
        p_fav = weight[favourite] / weight[favourite].sum()
        chosen = np.concatenate(
            [
                rng.choice(favourite, n_fav, p=p_fav),
                rng.choice(n_items, n - n_fav, p=weight / weight.sum()),
            ]
        )
        users.extend([f"us{u:05d}"] * n)
        picks.append(chosen)
    item_idx = np.concatenate(picks)
    interactions = pd.DataFrame(
        {
            C.USER_ID: users,
            C.ITEM_ID: items[C.ITEM_ID].to_numpy()[item_idx],
            C.TIMESTAMP: 1.7e9 + np.arange(len(item_idx), dtype=float),
            C.EVENT: np.where(rng.random(len(item_idx)) < 0.1, "purchase", "view"),
            C.SOURCE_ROW: np.arange(len(item_idx)),
        }
    )
    return RawData(name="ann-shop", interactions=interactions, items=items)


@dataclass(frozen=True)
class AnnShop:
    raw: RawData
    dataset: Dataset
    model: Recommender
    bundle: Path
    database: Path


@pytest.fixture(scope="module")
def ann_shop(tmp_path_factory: pytest.TempPathFactory) -> AnnShop:
    raw = fast_shop(N_ITEMS, N_USERS, seed=3)
    dataset = build_training_dataset(raw.interactions, items=raw.items, users=None)
    model = create_model("als", {"factors": 32, "iterations": 8, "random_state": 5}).fit(dataset)
    root = tmp_path_factory.mktemp("ann")
    bundle = save_bundle(model, dataset, root / "als")
    database = root / "template.db"
    store = open_store(f"sqlite:///{database}")
    store.import_raw(raw)
    store.close()
    return AnnShop(raw, dataset, model, bundle, database)


@dataclass
class Served:
    state: ServingState
    store: Store


def _serve(ann_shop: AnnShop, tmp_path: Path, name: str, **overrides: Any) -> Served:
    import shutil

    database = tmp_path / f"{name}.db"
    shutil.copyfile(ann_shop.database, database)
    settings = ServeSettings(
        bundle_path=ann_shop.bundle,
        database_url=f"sqlite:///{database}",
        state_dir=tmp_path / f"{name}-state",
        api_keys=["k" * 20],
        search_encoder="tfidf",
        **overrides,
    )
    store = open_store(settings.database_url)
    state = ServingState(settings, store)
    state.start()
    return Served(state, store)


@pytest.fixture(scope="module")
def pair(ann_shop: AnnShop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """The same bundle and store served through FAISS and exactly."""
    root = tmp_path_factory.mktemp("pair")
    ann = _serve(ann_shop, root, "ann", ann_threshold=THRESHOLD)
    exact = _serve(ann_shop, root, "exact")
    yield ann, exact
    ann.store.close()
    exact.store.close()


def _random_filter(rng: np.random.Generator) -> ItemFilter:
    kinds = rng.random(4)
    categories = None
    if kinds[0] < 0.7:
        n = int(rng.integers(1, 3))
        categories = [str(c) for c in rng.choice(CATEGORIES, n, replace=False)]
    brands = None
    if kinds[1] < 0.25:
        brands = [str(b) for b in rng.choice(BRANDS, int(rng.integers(1, 4)), replace=False)]
    min_price = max_price = None
    if kinds[2] < 0.6:
        lo, hi = np.sort(np.exp(rng.normal(5.0, 1.0, 2)))
        bounds = rng.random()
        min_price = float(lo) if bounds < 0.6 else None
        max_price = float(hi) if bounds > 0.3 else None
    in_stock = True if kinds[3] < 0.5 else None
    return ItemFilter(
        categories=categories,
        brands=brands,
        min_price=min_price,
        max_price=max_price,
        in_stock=in_stock,
    )


def _passes(items: pd.DataFrame, f: ItemFilter) -> np.ndarray:
    """The filter, written independently of the service."""
    ok = np.ones(len(items), dtype=bool)
    if f.categories is not None:
        ok &= items[C.CATEGORY].isin(f.categories).to_numpy()
    if f.brands is not None:
        ok &= items[C.BRAND].isin(f.brands).to_numpy()
    price = items[C.PRICE].to_numpy(float)
    if f.min_price is not None:
        ok &= price >= f.min_price  # NaN compares False: unknown prices never pass
    if f.max_price is not None:
        ok &= price <= f.max_price
    if f.in_stock is not None:
        ok &= items[C.IN_STOCK].to_numpy(bool) == f.in_stock
    if not f.include_unavailable and f.in_stock is None:
        # Out of stock (explicitly false) is never recommended unless a request asks.
        ok &= ~(items[C.IN_STOCK].astype("boolean") == False).fillna(False).to_numpy(bool)  # noqa: E712
    return ok


def _ids(state: ServingState, rows: np.ndarray) -> list[str]:
    ids = state.current.catalogue.frame[C.ITEM_ID].to_numpy()
    return [str(ids[r]) for r in rows]


# ---------------------------------------------------------------------- tests
def test_large_factor_catalogue_builds_a_faiss_index(pair: tuple[Served, Served]) -> None:
    ann, exact = pair
    scorer = ann.state.current.snapshot.ann
    assert scorer is not None
    assert scorer.index.name.startswith("faiss")
    assert scorer.index.n_items == N_ITEMS
    assert exact.state.current.snapshot.ann is None  # 3,000 items < the default 50,000


def test_ann_matches_exact_and_never_breaks_a_filter(
    pair: tuple[Served, Served], ann_shop: AnnShop
) -> None:
    ann, exact = pair
    rng = np.random.default_rng(0)
    users = ann_shop.dataset.user_map.to_list()
    frame = ann.state.current.catalogue.frame
    seen_by_user = ann_shop.raw.interactions.groupby(C.USER_ID)[C.ITEM_ID].agg(set)
    k = 10
    hits = total = violations = short = 0
    for _ in range(300):
        user = str(rng.choice(users))
        item_filter = _random_filter(rng)
        passing = _passes(frame, item_filter)
        seen = seen_by_user[user]
        qualifying = int(passing.sum()) - int(frame.loc[passing, C.ITEM_ID].isin(seen).sum())
        got = ann.state.recommend_user(user, k, item_filter)
        want = exact.state.recommend_user(user, k, item_filter)
        assert got.source == want.source == "personalised"
        got_ids = _ids(ann.state, got.rows)
        violations += int((~passing[got.rows]).sum())
        violations += len(set(got_ids) & seen)
        short += len(got_ids) < min(k, qualifying)
        want_ids = _ids(exact.state, want.rows)
        assert len(want_ids) == min(k, qualifying)
        hits += len(set(got_ids) & set(want_ids))
        total += len(want_ids)
        # Scores are the model's scores (FAISS inner products, float rounding aside).
        scores = dict(zip(want_ids, want.scores.tolist(), strict=True))
        for item, score in zip(got_ids, got.scores.tolist(), strict=True):
            if item in scores:
                assert score == pytest.approx(scores[item], rel=1e-4, abs=1e-4)
    assert violations == 0
    assert short == 0
    assert hits / total >= 0.9


def test_ann_without_filters_and_large_k(pair: tuple[Served, Served], ann_shop: AnnShop) -> None:
    ann, exact = pair
    users = ann_shop.dataset.user_map.to_list()[:40]
    hits = total = 0
    for user in users:
        got = ann.state.recommend_user(user, 100, ItemFilter())
        want = exact.state.recommend_user(user, 100, ItemFilter())
        assert len(got.rows) == 100
        assert len(set(got.rows.tolist())) == 100
        hits += len(set(got.rows.tolist()) & set(want.rows.tolist()))
        total += 100
    assert hits / total >= 0.9


def test_restrictive_filter_is_exact_and_fills_k(
    pair: tuple[Served, Served], ann_shop: AnnShop
) -> None:
    """A filter keeping a few dozen items is searched exactly; k is filled when possible."""
    ann, exact = pair
    frame = ann.state.current.catalogue.frame
    brand = str(frame[C.BRAND].iat[0])
    category = str(frame[C.CATEGORY].iat[0])
    item_filter = ItemFilter(categories=[category], brands=[brand], in_stock=True)
    user = ann_shop.dataset.user_map.to_list()[7]
    got = ann.state.recommend_user(user, 10, item_filter)
    want = exact.state.recommend_user(user, 10, item_filter)
    assert got.rows.tolist() == want.rows.tolist()
    everything = ann.state.recommend_user(user, 100, item_filter)
    passing = _passes(frame, item_filter)
    assert passing[everything.rows].all()
    assert len(everything.rows) == len(exact.state.recommend_user(user, 100, item_filter).rows)


def test_realtime_events_fold_in_through_the_index(pair: tuple[Served, Served]) -> None:
    ann, _ = pair
    state = ann.state
    user = "brand-new-shopper"
    phones = ItemFilter(categories=["Phones"])
    before = state.recommend_user(user, 10, phones)
    assert before.source == "popular_in_category"
    bought = _ids(state, before.rows[:3])
    from digirec.store import EventRecord

    stored = state.store.add_events(
        [EventRecord(user_id=user, item_id=i, event="purchase", timestamp=1.8e9) for i in bought]
    )
    state.record_events(stored)
    after = state.recommend_user(user, 10, phones)
    assert after.source == "personalised"
    assert len(after.rows) == 10
    assert not set(_ids(state, after.rows)) & set(bought)
    frame = state.current.catalogue.frame
    assert (frame[C.CATEGORY].to_numpy()[after.rows] == "Phones").all()


def test_new_item_ranks_right_after_its_neighbour(ann_shop: AnnShop, tmp_path: Path) -> None:
    ann = _serve(ann_shop, tmp_path, "new-item", ann_threshold=THRESHOLD)  # changed below
    state = ann.state
    user = ann_shop.dataset.user_map.to_list()[11]
    laptops = ItemFilter(categories=["Laptops"])
    top = state.recommend_user(user, 10, laptops)
    head = int(top.rows[0])
    frame = state.current.catalogue.frame
    record = {
        C.ITEM_ID: "laptop-new-arrival",
        C.TITLE: "New laptop",
        C.CATEGORY: "Laptops",
        C.BRAND: str(frame[C.BRAND].iat[head]),
        C.PRICE: float(frame[C.PRICE].iat[head]),
        C.IN_STOCK: True,
    }
    state.store.upsert_items([record])
    created, via, neighbour = state.upsert_item(record)
    assert created and via == "attribute_neighbour"
    assert neighbour == str(frame[C.ITEM_ID].iat[head])
    again = state.recommend_user(user, 10, laptops)
    ids = _ids(state, again.rows)
    assert ids[:2] == [neighbour, "laptop-new-arrival"]
    assert again.scores[0] == again.scores[1]
    assert len(ids) == 10
    ann.store.close()


def test_rerank_through_the_index_keeps_filters(
    pair: tuple[Served, Served], ann_shop: AnnShop
) -> None:
    from digirec.serving.engine.ranking import Rerank

    ann, _ = pair
    frame = ann.state.current.catalogue.frame
    item_filter = ItemFilter(max_price=300.0, in_stock=True)
    passing = _passes(frame, item_filter)
    for user in ann_shop.dataset.user_map.to_list()[20:30]:
        ranked = ann.state.recommend_user(user, 10, item_filter, rerank=Rerank(diversity=0.7))
        assert ranked.reranked
        assert len(ranked.rows) == 10
        assert passing[ranked.rows].all()


def test_http_recommendations_through_the_index(ann_shop: AnnShop, tmp_path: Path) -> None:
    import shutil

    database = tmp_path / "http.db"
    shutil.copyfile(ann_shop.database, database)
    settings = ServeSettings(
        bundle_path=ann_shop.bundle,
        database_url=f"sqlite:///{database}",
        state_dir=tmp_path / "state",
        api_keys=[AUTH["X-API-Key"]],
        search_encoder="tfidf",
        ann_threshold=THRESHOLD,
    )
    user = ann_shop.dataset.user_map.to_list()[3]
    with TestClient(create_app(settings)) as client:
        assert client.app.state.serving.current.snapshot.ann is not None  # type: ignore[attr-defined]
        response = client.get(
            f"/v1/users/{user}/recommendations",
            params={"k": 10, "category": ["TVs", "Cameras"], "max_price": 400, "explain": False},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["source"] == "personalised"
        assert len(body["items"]) == 10
        for item in body["items"]:
            assert item["category"] in ("TVs", "Cameras")
            assert item["price"] <= 400
        event = {"user_id": user, "item_id": body["items"][0]["item_id"], "event": "purchase"}
        posted = client.post("/v1/events", json={"events": [event]}, headers=AUTH)
        assert posted.status_code == 200, posted.text
        again = client.get(
            f"/v1/users/{user}/recommendations",
            params={"k": 10, "category": ["TVs", "Cameras"], "max_price": 400, "explain": False},
        ).json()
        assert event["item_id"] not in [i["item_id"] for i in again["items"]]
        assert len(again["items"]) == 10


def test_settings_reject_a_bad_threshold(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ServeSettings(ann_threshold=0)
    assert ServeSettings().ann_threshold == 50_000


# ---------------------------------------------------------------------- factor views
FAST: dict[str, dict[str, Any]] = {
    "als": {"factors": 8, "iterations": 5},
    "bpr": {"factors": 8, "iterations": 30, "learning_rate": 0.05, "history_negatives": 200},
    "mf": {"factors": 8, "epochs": 3, "batch_size": 256, "n_threads": 1, "show_progress": False},
    "sasrec": {
        "hidden": 16,
        "epochs": 2,
        "batch_size": 64,
        "max_len": 20,
        "n_threads": 1,
        "show_progress": False,
    },
}


@pytest.fixture(scope="module")
def small_dataset() -> Dataset:
    raw = fast_shop(300, 200, seed=9)
    return build_training_dataset(raw.interactions, items=raw.items, users=None)


@pytest.mark.parametrize("name", sorted(FAST))
def test_factor_protocol_reproduces_the_model_scores(name: str, small_dataset: Dataset) -> None:
    model = create_model(name, {**FAST[name], "random_state": 1}).fit(small_dataset)
    factors = factor_model(model)
    assert factors is not None
    items = factors.factor_item_vectors()
    rows = np.arange(0, 40, dtype=np.int64)
    vectors, offsets = factors.factor_user_queries(rows)
    scores = vectors @ items.T + offsets[:, None]
    np.testing.assert_allclose(scores, model.score_users(rows), rtol=1e-4, atol=1e-4)
    history = [5, 17, 3, 42]
    # The public history path from external ids (recommend_from_history's own matrix).
    ids = model.item_map_.to_external(np.asarray(history)).tolist()
    top = model.recommend_from_history([ids], k=5, filter_seen=False)
    expected = model.score_histories([history])[0]
    vector, offset = factors.factor_history_query(history)
    np.testing.assert_allclose(items @ vector + offset, expected, rtol=1e-3, atol=1e-3)
    best = model.item_map_.to_external(np.argsort(-expected, kind="stable")[:1])[0]
    assert top["item_id"].iloc[0] == best


def test_models_without_item_vectors_stay_exact(small_dataset: Dataset) -> None:
    model = create_model("ease", {"lambda": 50.0}).fit(small_dataset)
    assert factor_model(model) is None
    assert AnnScorer.build(model, threshold=10) is None
    als = create_model("als", FAST["als"]).fit(small_dataset)
    assert AnnScorer.build(als, threshold=small_dataset.n_items) is None  # not above it
    built = AnnScorer.build(als, threshold=10)
    assert built is not None and built.index.name.startswith("faiss")


def test_category_filters_use_blocks_and_wide_ones_the_index(
    pair: tuple[Served, Served], ann_shop: AnnShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One or two categories (~14-28 % of the items): exact product on their price-sorted
    blocks; no category or most categories: the FAISS index."""
    ann, exact = pair
    scorer = ann.state.current.snapshot.ann
    assert scorer is not None
    calls: list[int] = []
    original = scorer.search

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(scorer, "search", counting)
    user = ann_shop.dataset.user_map.to_list()[5]
    narrow = ItemFilter(categories=["Phones"], min_price=50.0, max_price=400.0)
    got = ann.state.recommend_user(user, 10, narrow)
    assert not calls
    # Exact on the blocks: the same list as the exact path.
    assert got.rows.tolist() == exact.state.recommend_user(user, 10, narrow).rows.tolist()
    ann.state.recommend_user(user, 10, ItemFilter(max_price=400.0))
    assert len(calls) == 1
    ann.state.recommend_user(user, 10, ItemFilter(categories=CATEGORIES[:5]))
    assert len(calls) == 2


def test_category_blocks_follow_catalogue_changes(ann_shop: AnnShop, tmp_path: Path) -> None:
    ann = _serve(ann_shop, tmp_path, "moved", ann_threshold=THRESHOLD)  # changed below
    state = ann.state
    frame = state.current.catalogue.frame
    phones = frame.index[frame[C.CATEGORY] == "Phones"]
    row = int(phones[0])
    item_id = str(frame[C.ITEM_ID].iat[row])
    blocks = state.current.category_blocks
    assert row in blocks["Phones"].rows
    record = {C.ITEM_ID: item_id, C.TITLE: "moved", C.CATEGORY: "Cameras", C.PRICE: 99.5}
    state.store.upsert_items([record])
    state.upsert_item(record)
    moved = state.current.category_blocks
    assert row not in moved["Phones"].rows
    assert row in moved["Cameras"].rows
    position = int(np.flatnonzero(moved["Cameras"].rows == row)[0])
    assert moved["Cameras"].prices[position] == 99.5
    for user in ["us00001", "us00002", "us00003"]:
        listed = _ids(
            state, state.recommend_user(user, 100, ItemFilter(categories=["Phones"])).rows
        )
        assert item_id not in listed
    ann.store.close()


def test_category_blocks_follow_stock_changes(ann_shop: AnnShop, tmp_path: Path) -> None:
    """The blocks carry their unavailable positions per catalogue version: an item put out of
    stock after the blocks were built leaves the block path's list at once, and comes back
    with ``include_unavailable``."""
    ann = _serve(ann_shop, tmp_path, "stock", ann_threshold=THRESHOLD)
    state = ann.state
    user, phones = "us00001", ItemFilter(categories=["Phones"])
    top = _ids(state, state.recommend_user(user, 10, phones).rows)[0]
    frame = state.current.catalogue.frame
    row = int(np.flatnonzero(frame[C.ITEM_ID].astype(str).to_numpy() == top)[0])
    record = {
        C.ITEM_ID: top,
        C.TITLE: str(frame[C.TITLE].iat[row]),
        C.CATEGORY: "Phones",
        C.PRICE: float(frame[C.PRICE].iat[row]),
        C.IN_STOCK: False,
    }
    state.store.upsert_items([record])
    state.upsert_item(record)
    assert top not in _ids(state, state.recommend_user(user, 10, phones).rows)
    everything = ItemFilter(categories=["Phones"], include_unavailable=True)
    assert top in _ids(state, state.recommend_user(user, 10, everything).rows)
    # The block path agrees with the catalogue-wide mask it replaces.
    block = state.current.category_blocks["Phones"]
    available = state.current.catalogue.available
    assert available is not None
    expected = np.flatnonzero(~available[block.rows])
    np.testing.assert_array_equal(block.unavailable_in(0, len(block.rows)), expected)
    ann.store.close()


def test_session_lists_through_the_index(pair: tuple[Served, Served], ann_shop: AnnShop) -> None:
    ann, exact = pair
    rng = np.random.default_rng(4)
    items = ann_shop.dataset.item_map.to_list()
    frame = ann.state.current.catalogue.frame
    hits = total = 0
    for _ in range(40):
        session = [str(i) for i in rng.choice(items, 5, replace=False)]
        item_filter = _random_filter(rng)
        passing = _passes(frame, item_filter)
        got = ann.state.recommend_session(session, 10, item_filter)
        want = exact.state.recommend_session(session, 10, item_filter)
        assert got.source == want.source == "session"
        assert passing[got.rows].all()
        assert not set(_ids(ann.state, got.rows)) & set(session)
        assert len(got.rows) == len(want.rows)
        hits += len(set(got.rows.tolist()) & set(want.rows.tolist()))
        total += len(want.rows)
    assert hits / total >= 0.9
