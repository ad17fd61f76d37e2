"""Tests of the synthetic electronics shop: schema, determinism and the planted structure.

Every structural test recomputes its statistic from the public frames (items, users,
interactions) and compares it with a baseline that lacks the structure (shuffled budgets, the
catalogue share of brands, the time before a drift, a uniform spread of views ...), so a
generator that stopped planting the structure would fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from digirec.data.synth import (
    CATEGORIES,
    EVENT_TYPES,
    SHOP_NAME,
    SynthConfig,
    generate_shop,
    write_shop,
)
from digirec.data.tables import RawData
from digirec.exceptions import ConfigError

START = pd.Timestamp("2026-01-01", tz="UTC").timestamp()
DAY = 86_400.0
CJK = re.compile(r"[\u4e00-\u9fff]")
SMALL = SynthConfig(n_users=300, n_items=150, n_days=60)


@pytest.fixture(scope="module")
def shop() -> RawData:
    return generate_shop()


@pytest.fixture(scope="module")
def joined(shop: RawData) -> pd.DataFrame:
    """Interactions with the item and user attributes the structural tests need."""
    assert shop.items is not None and shop.users is not None
    items = shop.items[["item_id", "price", "brand", "category", "complements", "release_date"]]
    return shop.interactions.merge(items, on="item_id", how="left").merge(
        shop.users, on="user_id", how="left"
    )


def _split(cell: object) -> list[str]:
    return str(cell).split("|") if isinstance(cell, str) and cell else []


def _in_list(values: pd.Series, lists: pd.Series) -> np.ndarray:
    return np.array([v in _split(cell) for v, cell in zip(values, lists, strict=True)])


# --------------------------------------------------------------------------------------------
# Determinism and configuration
# --------------------------------------------------------------------------------------------


def test_same_config_gives_identical_frames() -> None:
    a, b = generate_shop(SMALL), generate_shop(SMALL)
    assert a.name == b.name == SHOP_NAME
    for left, right in ((a.interactions, b.interactions), (a.items, b.items), (a.users, b.users)):
        pd.testing.assert_frame_equal(left, right, check_exact=True)
        assert left.to_csv(index=False) == right.to_csv(index=False)  # byte-identical


def test_different_seed_gives_different_shop() -> None:
    a = generate_shop(SMALL)
    b = generate_shop(SMALL.model_copy(update={"random_state": 7}))
    assert a.items is not None and b.items is not None
    assert not a.items["title"].equals(b.items["title"])
    assert not a.interactions["item_id"].equals(b.interactions["item_id"])


def test_catalogue_does_not_depend_on_the_number_of_users() -> None:
    a = generate_shop(SMALL)
    b = generate_shop(SMALL.model_copy(update={"n_users": 40}))
    assert a.items is not None and b.items is not None
    pd.testing.assert_frame_equal(a.items, b.items)
    assert b.users is not None and len(b.users) == 40


def test_config_rejects_unknown_and_invalid_fields() -> None:
    with pytest.raises(ValidationError):
        SynthConfig(n_user=10)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        SynthConfig(n_items=5)
    with pytest.raises(ValidationError):
        SynthConfig(brand_loyalty=1.5)
    for name, field in SynthConfig.model_fields.items():
        assert field.description, f"{name} is undocumented"


def test_generate_shop_records_its_config(shop: RawData) -> None:
    assert shop.extras["config"] == SynthConfig().model_dump(mode="json")
    assert shop.report.n_rows_read == len(shop.interactions)
    assert shop.report.n_skipped == 0


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------


def test_interactions_schema(shop: RawData) -> None:
    it = shop.interactions
    assert list(it.columns) == ["user_id", "item_id", "timestamp", "event", "rating", "source_row"]
    for col in ("user_id", "item_id", "event"):
        assert pd.api.types.is_string_dtype(it[col]), col
        assert it[col].notna().all()
    assert it["timestamp"].dtype == np.float64 and it["rating"].dtype == np.float64
    assert it["source_row"].dtype == np.int64
    np.testing.assert_array_equal(it["source_row"], np.arange(len(it)))
    assert set(it["event"]) == set(EVENT_TYPES)
    assert it["user_id"].str.fullmatch(r"u\d{5}").all()
    assert it["item_id"].str.fullmatch(r"i\d{5}").all()
    assert shop.users is not None and shop.items is not None
    assert set(it["user_id"]) <= set(shop.users["user_id"])
    assert set(it["item_id"]) <= set(shop.items["item_id"])
    ts = it["timestamp"].to_numpy()
    assert ts.min() >= START
    assert ts.max() < START + (120 + 1) * DAY
    assert (ts == np.round(ts)).all()  # whole seconds


def test_rows_are_emitted_in_time_order_and_strictly_increase_per_user(shop: RawData) -> None:
    it = shop.interactions
    assert it["timestamp"].is_monotonic_increasing  # global event-log order
    per_user = it.sort_values(["user_id", "source_row"])
    gaps = per_user.groupby("user_id")["timestamp"].diff().dropna()
    assert (gaps > 0).all()


def test_default_shop_size(shop: RawData) -> None:
    it = shop.interactions
    assert shop.users is not None and shop.items is not None
    assert len(shop.users) == 2000 and len(shop.items) == 600
    per_user = len(it) / len(shop.users)
    assert 30 <= per_user <= 80
    assert it["user_id"].nunique() == 2000
    assert (it["event"] == "purchase").sum() >= 2000


def test_items_schema(shop: RawData) -> None:
    items = shop.items
    assert items is not None
    for col in (
        "item_id", "title", "brand", "model", "category", "subcategory", "price", "description",
        "title_zh", "description_zh", "storage_gb", "screen_inch", "battery_mah", "color",
        "features", "release_date", "in_stock", "image_color", "complements",
    ):  # fmt: skip
        assert col in items.columns, col
    assert items["item_id"].is_unique
    assert items["title"].is_unique  # no SKU is listed twice at the default size
    assert set(items["category"]) == set(CATEGORIES)
    assert (items["price"] > 0).all()
    assert items["in_stock"].dtype == bool and items["in_stock"].mean() > 0.7
    assert items["image_color"].str.fullmatch(r"#[0-9a-f]{6}").all()
    pd.to_datetime(items["release_date"], format="%Y-%m-%d")  # parses
    for col in ("storage_gb", "screen_inch", "battery_mah"):
        assert items[col].dtype == np.float64
        assert items[col].notna().any()
    phones = items[items["category"] == "Phones"]
    assert phones[["storage_gb", "screen_inch", "battery_mah", "color"]].notna().all().all()
    assert items["features"].dropna().str.contains("|", regex=False).any()


def test_image_color_depends_on_category_and_brand_only(shop: RawData) -> None:
    items = shop.items
    assert items is not None
    per_pair = items.groupby(["category", "brand"])["image_color"].nunique()
    assert (per_pair == 1).all()
    assert items["image_color"].nunique() > 20


def test_text_in_english_and_chinese(shop: RawData) -> None:
    items = shop.items
    assert items is not None
    for col in ("title", "description", "title_zh", "description_zh"):
        assert items[col].str.len().gt(0).all(), col
    assert items["title_zh"].str.contains(CJK).all()
    assert items["description_zh"].str.contains(CJK).all()
    assert not items["title"].str.contains(CJK).any()
    sony = items[items["brand"] == "Sony"]
    assert sony["title_zh"].str.startswith("索尼").all()
    assert sony["title"].str.startswith("Sony").all()


def test_prices_follow_category_and_brand_tier(shop: RawData) -> None:
    items = shop.items
    assert items is not None
    median = items.groupby("category")["price"].median()
    assert median["Laptops"] > 5 * median["Accessories"]
    assert median["TVs"] > 3 * median["Headphones"]
    phones = items[items["category"] == "Phones"].groupby("brand")["price"].median()
    assert phones["Apple"] > 1.2 * phones["Xiaomi"]
    tvs = items[items["category"] == "TVs"]
    premium = tvs.loc[tvs["brand"].isin(["Sony", "LG", "Samsung"]), "price"].median()
    budget = tvs.loc[tvs["brand"].isin(["TCL", "Hisense", "Xiaomi"]), "price"].median()
    assert premium > 1.5 * budget


def test_complements_are_fitting_accessories(shop: RawData) -> None:
    items = shop.items
    assert items is not None
    by_id = items.set_index("item_id")
    main = items[items["category"] != "Accessories"]
    with_comp = main[main["complements"].notna()]
    assert len(with_comp) > 0.4 * len(main)
    assert items.loc[items["category"] == "Accessories", "complements"].isna().all()
    same_brand = 0
    for _, row in with_comp.iterrows():
        comp = _split(row["complements"])
        assert 1 <= len(comp) <= SynthConfig().max_complements
        acc = by_id.loc[comp]
        assert (acc["category"] == "Accessories").all()
        assert all(row["category"] in _split(c) for c in acc["accessory_for"])
        same_brand += int((acc["brand"] == row["brand"]).any())
    # Phones complement with same-brand cases and chargers when the maker sells them.
    assert same_brand > 0.5 * len(with_comp)


def test_users_schema(shop: RawData) -> None:
    users = shop.users
    assert users is not None
    assert users["user_id"].is_unique
    assert (users["budget"] > 0).all()
    assert users["preferred_brands"].str.len().gt(0).all()
    n_pref = users["preferred_categories"].str.split("|").str.len()
    assert n_pref.between(1, 3).all()
    assert set(users["city_tier"]) <= {1, 2, 3, 4}
    drifts = users["drift_day"].notna()
    assert (drifts == users["late_categories"].notna()).all()
    assert users.loc[drifts, "drift_day"].between(0, 120).all()
    for late, pref in zip(
        users.loc[drifts, "late_categories"], users.loc[drifts, "preferred_categories"], strict=True
    ):
        assert not set(_split(late)) & set(_split(pref))
    # Budgets are log-normal: right-skewed around the configured median.
    assert 400 < users["budget"].median() < 900
    assert users["budget"].mean() > users["budget"].median()


# --------------------------------------------------------------------------------------------
# Planted structure
# --------------------------------------------------------------------------------------------


def test_event_funnel(shop: RawData) -> None:
    it = shop.interactions
    counts = it["event"].value_counts()
    assert counts["view"] > counts["click"] > counts["cart"] > counts["purchase"] > 0
    # Every click, cart and purchase follows a view of the same item by the same user.
    first_view = it[it["event"] == "view"].groupby(["user_id", "item_id"])["source_row"].min()
    later = it[it["event"] != "view"].join(first_view.rename("view_row"), on=["user_id", "item_id"])
    assert later["view_row"].notna().all()
    assert (later["view_row"] < later["source_row"]).all()


def test_purchases_mostly_within_budget(joined: pd.DataFrame) -> None:
    buys = joined[joined["event"] == "purchase"]
    assert (buys["price"] <= 1.5 * buys["budget"]).mean() > 0.7
    # The same purchases against budgets shuffled across users: the fit is the user's own.
    shuffled = np.random.default_rng(0).permutation(buys["budget"].to_numpy())
    real = (buys["price"] <= buys["budget"]).mean()
    assert real > (buys["price"].to_numpy() <= shuffled).mean() + 0.05


@pytest.mark.parametrize("category", ["Phones", "Laptops", "Headphones"])
def test_richer_users_buy_pricier_products_within_a_category(
    joined: pd.DataFrame, category: str
) -> None:
    buys = joined[(joined["event"] == "purchase") & (joined["category"] == category)]
    # Rank correlation of budget and price (without the budget knobs it is about zero).
    corr = buys["budget"].rank().corr(buys["price"].rank())
    assert corr > 0.3
    rich = buys["budget"] > buys["budget"].median()
    assert buys.loc[rich, "price"].median() > 1.2 * buys.loc[~rich, "price"].median()


def test_loyal_users_buy_their_preferred_brands(shop: RawData, joined: pd.DataFrame) -> None:
    assert shop.items is not None
    buys = joined[(joined["event"] == "purchase") & (joined["brand_loyalty"] > 0.7)]
    assert len(buys) > 100
    observed = _in_list(buys["brand"], buys["preferred_brands"]).mean()
    # Baseline: the share of the purchased item's category held by the preferred brands.
    brands_by_cat = shop.items.groupby("category")["brand"].apply(list).to_dict()
    baseline = np.mean(
        [
            np.isin(brands_by_cat[cat], _split(pref)).mean()
            for cat, pref in zip(buys["category"], buys["preferred_brands"], strict=True)
        ]
    )
    assert observed > 0.6
    assert observed > 2.5 * baseline


def test_brand_loyalty_knob_moves_the_share() -> None:
    def preferred_share(loyalty: float) -> float:
        data = generate_shop(SMALL.model_copy(update={"brand_loyalty": loyalty}))
        assert data.items is not None and data.users is not None
        views = data.interactions[data.interactions["event"] == "view"]
        views = views.merge(data.items[["item_id", "brand"]], on="item_id").merge(
            data.users[["user_id", "preferred_brands"]], on="user_id"
        )
        return float(_in_list(views["brand"], views["preferred_brands"]).mean())

    assert preferred_share(0.95) > preferred_share(0.05) + 0.25


def test_drifting_users_shift_to_late_categories(joined: pd.DataFrame) -> None:
    drifting = joined[joined["drift_day"].notna()]
    day = (drifting["timestamp"] - START) / DAY
    late = _in_list(drifting["category"], drifting["late_categories"])
    after = day >= drifting["drift_day"]
    before_share, after_share = late[~after].mean(), late[after].mean()
    assert after_share > 0.5
    assert after_share > 4 * before_share
    # Users without drift keep their interests over the whole log.
    steady = joined[joined["drift_day"].isna()]
    mid = (steady["timestamp"] - START) / DAY >= 60
    in_pref = _in_list(steady["category"], steady["preferred_categories"])
    assert abs(in_pref[mid].mean() - in_pref[~mid].mean()) < 0.1


def test_popularity_is_long_tailed(shop: RawData) -> None:
    assert shop.items is not None
    views = shop.interactions.loc[shop.interactions["event"] == "view", "item_id"]
    counts = views.value_counts().reindex(shop.items["item_id"], fill_value=0)
    counts = np.sort(counts.to_numpy())[::-1]
    top_share = counts[: len(counts) // 10].sum() / counts.sum()
    assert top_share > 0.3  # a uniform spread gives 0.1
    assert counts[0] > 10 * np.median(counts)


def test_complements_follow_main_purchases(shop: RawData) -> None:
    assert shop.items is not None
    comp = dict(zip(shop.items["item_id"], shop.items["complements"], strict=True))
    it = shop.interactions.sort_values(["user_id", "source_row"])
    nxt = it.groupby("user_id")["item_id"].shift(-1)

    def follow_rate(mask: pd.Series) -> float:
        pairs = [
            n in _split(comp[i])
            for i, n in zip(it.loc[mask, "item_id"], nxt[mask], strict=True)
            if isinstance(comp[i], str)
        ]
        return float(np.mean(pairs))

    after_purchase = follow_rate(it["event"] == "purchase")
    after_view = follow_rate(it["event"] == "view")
    assert after_purchase > 0.3
    assert after_purchase > 5 * after_view


def test_no_events_before_release(joined: pd.DataFrame) -> None:
    released = pd.to_datetime(joined["release_date"], utc=True).map(pd.Timestamp.timestamp)
    assert (joined["timestamp"] >= released).all()


def test_new_items_launch_during_the_log(shop: RawData) -> None:
    assert shop.items is not None
    released = pd.to_datetime(shop.items["release_date"], utc=True).map(pd.Timestamp.timestamp)
    new = shop.items.loc[released >= START, "item_id"]
    assert 0.02 * len(shop.items) < len(new) < 0.1 * len(shop.items)
    assert shop.interactions["item_id"].isin(new).any()


def test_ratings_on_a_share_of_purchases_and_follow_fit(joined: pd.DataFrame) -> None:
    rated = joined[joined["rating"].notna()]
    assert set(rated["event"]) == {"purchase"}
    assert set(rated["rating"]) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    buys = joined[joined["event"] == "purchase"]
    assert 0.2 < len(rated) / len(buys) < 0.4
    good = (
        _in_list(rated["brand"], rated["preferred_brands"])
        & (rated["price"] <= rated["budget"]).to_numpy()
    )
    assert rated.loc[good, "rating"].mean() > rated.loc[~good, "rating"].mean() + 0.3


def test_activity_is_long_tailed(shop: RawData) -> None:
    per_user = shop.interactions.groupby("user_id").size()
    assert per_user.max() > 5 * per_user.median()
    assert per_user.mean() > per_user.median()


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    # dtype=False: no date guessing ("timestamp" would become datetimes); precise_float: the
    # default fast parser is off in the last digit.
    return pd.read_json(path, lines=True, dtype=False, precise_float=True)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_write_shop_round_trip(fmt: str, tmp_path: Path) -> None:
    data = generate_shop(SMALL)
    paths = write_shop(data, tmp_path / "shop", fmt)  # type: ignore[arg-type]
    assert set(paths) == {"interactions", "items", "users"}
    for name, path in paths.items():
        assert path == tmp_path / "shop" / f"{name}.{fmt}" and path.is_file()
    expected = {
        # source_row is the file's row order, recreated by loaders, so it is not written.
        "interactions": data.interactions.drop(columns="source_row"),
        "items": data.items,
        "users": data.users,
    }
    for name, frame in expected.items():
        assert frame is not None
        back = _read(paths[name])
        assert list(back.columns) == list(frame.columns)
        pd.testing.assert_frame_equal(
            back, frame.reset_index(drop=True), check_dtype=False, check_exact=True
        )


def test_write_shop_rejects_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown format"):
        write_shop(generate_shop(SMALL), tmp_path, "xlsx")  # type: ignore[arg-type]


def test_written_shop_loads_with_the_generic_loader(tmp_path: Path) -> None:
    load = pytest.importorskip("digirec.data.load")
    data = generate_shop(SMALL)
    write_shop(data, tmp_path, "csv")
    loaded = load.load_data(tmp_path)
    assert loaded.report.n_skipped == 0
    for col in ("user_id", "item_id", "timestamp", "event", "source_row"):
        np.testing.assert_array_equal(
            loaded.interactions[col].to_numpy(), data.interactions[col].to_numpy()
        )
    assert loaded.items is not None and data.items is not None
    assert loaded.items["title_zh"].tolist() == data.items["title_zh"].tolist()
