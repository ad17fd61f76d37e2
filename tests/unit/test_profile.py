"""User profiles: hand-computed affinities with decay, MovieLens-100K, the synthetic shop."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from loader_fixtures import real_dataset

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.events import EventWeights
from digirec.exceptions import UnknownIdError
from digirec.features.profile import build_profiles

DAY = 86_400.0
T0 = 19_000 * DAY + 3_600.0  # 01:00 UTC, so "active days" are plain calendar days


def tiny() -> Dataset:
    items = pd.DataFrame(
        {
            C.ITEM_ID: ["a", "b", "c", "d"],
            C.BRAND: ["Sony", "Sony", "Apple", "Apple"],
            C.CATEGORY: ["Headphones", "TVs", "Phones", "Phones"],
            C.PRICE: [100.0, 1000.0, 500.0, np.nan],
        }
    )
    users = pd.DataFrame(
        {C.USER_ID: ["u1", "u2", "u3"], "gender": ["F", "M", None], "budget": [1, 2, 3]}
    )
    inter = pd.DataFrame(
        {
            C.USER_ID: ["u1", "u1", "u1", "u2", "u2", "u3"],
            C.ITEM_ID: ["c", "b", "a", "c", "d", "a"],
            C.EVENT: ["view", "cart", "purchase", "purchase", "view", "view"],
            C.TIMESTAMP: [T0, T0, T0 + 10 * DAY, T0 + 10 * DAY, T0 + 10 * DAY, T0 + 2 * DAY],
        }
    )
    return Dataset.from_interactions(inter, items=items, users=users, duplicates="keep")


def test_hand_computed_shares_with_half_life_decay() -> None:
    # Half life 10 days, now = newest event (day 10). u1: view c (1 x 0.5), cart b (4 x 0.5),
    # purchase a (8 x 1) -> total 10.5.
    p = build_profiles(tiny(), EventWeights(), half_life_days=10, n_price_bands=2)
    u1 = p.profile("u1")
    assert u1["brands"] == pytest.approx({"Sony": 20 / 21, "Apple": 1 / 21})
    assert u1["categories"] == pytest.approx(
        {"Headphones": 16 / 21, "TVs": 4 / 21, "Phones": 1 / 21}
    )
    assert list(u1["categories"]) == ["Headphones", "TVs", "Phones"]  # largest first
    # Two bands split at the median price 500; item d has no price.
    assert u1["price_bands"] == pytest.approx({"<500": 16 / 21, ">=500": 5 / 21})
    u2 = p.profile("u2")
    assert u2["brands"] == {"Apple": 1.0}
    assert u2["price_bands"] == pytest.approx({">=500": 8 / 9, "missing": 1 / 9})
    # The same numbers straight from the affinity matrix: rows sum to one.
    sums = np.asarray(p.affinities["brands"].sum(axis=1)).ravel()
    np.testing.assert_allclose(sums, 1.0)


def test_activity_recency_and_budget() -> None:
    p = build_profiles(tiny(), EventWeights(), half_life_days=10)
    u1 = p.profile("u1")
    assert u1["activity"] == {
        "n_events": 3,
        "n_purchases": 1,
        "active_days": 2,
        "events_per_active_day": 1.5,
        "total_weight": pytest.approx(10.5),
    }
    assert u1["recency_days"] == 0.0
    assert u1["first_seen"] == pd.Timestamp(T0, unit="s", tz="UTC").isoformat()
    assert u1["budget"]["purchase_price_mean"] == 100.0
    assert u1["budget"]["purchase_price_median"] == 100.0
    assert u1["budget"]["price_mean"] == pytest.approx((0.5 * 500 + 2 * 1000 + 8 * 100) / 10.5)
    u3 = p.profile("u3")
    assert u3["recency_days"] == pytest.approx(8.0)
    assert u3["budget"]["purchase_price_mean"] is None
    assert u3["top_brands"] == ["Sony"]
    # An explicit now moves recency.
    later = build_profiles(tiny(), now=pd.Timestamp(T0 + 20 * DAY, unit="s"))
    assert later.profile("u1")["recency_days"] == pytest.approx(10.0)


def test_weights_without_decay_and_from_the_dataset() -> None:
    flat = EventWeights(weights={"view": 1.0, "cart": 1.0, "purchase": 1.0})
    p = build_profiles(tiny(), flat)
    assert p.profile("u1")["brands"] == pytest.approx({"Sony": 2 / 3, "Apple": 1 / 3})
    # No event_weights: the dataset's own weights (1, 4, 8), no decay.
    p = build_profiles(tiny())
    assert p.profile("u1")["brands"] == pytest.approx({"Sony": 12 / 13, "Apple": 1 / 13})


def test_attributes_json_frame_and_feature_matrix() -> None:
    p = build_profiles(tiny(), EventWeights(), half_life_days=10)
    u1 = p.profile("u1")
    json.dumps(u1)
    assert u1["attributes"] == {"gender": "F"}  # "budget" is not a default attribute
    assert p.profile("u3")["attributes"] == {"gender": None}
    with pytest.raises(UnknownIdError):
        p.profile("nobody")
    frame = p.to_frame()
    assert frame[C.USER_ID].tolist() == ["u1", "u2", "u3"]
    assert frame.loc[0, "top_categories"] == "Headphones|TVs|Phones"
    assert frame.loc[0, "top_price_band"] == "<260"  # quintile edges of 100, 500, 1000
    assert str(frame["last_seen"].dtype).startswith("datetime64")
    matrix, names = p.feature_matrix()
    assert matrix.shape == (3, len(names)) and matrix.dtype == np.float32
    dense = matrix.toarray()
    assert np.isfinite(dense).all()
    assert dense[0, names.index("brand=Sony")] == pytest.approx(20 / 21)
    assert dense[:, names.index("attr:gender=F")].tolist() == [1.0, 0.0, 0.0]
    assert "attr:budget" not in names


@pytest.fixture(scope="module")
def movielens() -> Dataset:
    from digirec.data.load import load_data

    return Dataset.from_raw(load_data(real_dataset("movielens-100k")))


def test_movielens_profiles(movielens: Dataset) -> None:
    p = build_profiles(movielens, half_life_days=30)
    assert p.n_users == 943
    assert set(p.affinities) == {"categories"}  # genres; no brand, no price
    assert "Drama" in p.labels["categories"] and "Comedy" in p.labels["categories"]
    np.testing.assert_allclose(np.asarray(p.affinities["categories"].sum(axis=1)).ravel(), 1.0)
    frame = p.to_frame()
    assert len(frame) == 943 and {"age", "gender", "occupation"} <= set(frame.columns)
    one = p.profile("1")
    assert one["attributes"] == {"age": 24, "gender": "M", "occupation": "technician"}
    assert one["activity"]["n_events"] == 272
    json.dumps(one)
    matrix, names = p.feature_matrix()
    assert matrix.shape[0] == 943 and "attr:age" in names and "attr:gender=F" in names
    assert np.isfinite(matrix.toarray()).all()


def test_synthetic_shop_planted_preferences_on_top() -> None:
    from digirec.data.synth import SynthConfig, generate_shop

    raw = generate_shop(SynthConfig(n_users=400, random_state=7))
    ds = Dataset.from_raw(raw, duplicates="keep")
    p = build_profiles(ds, EventWeights(), half_life_days=30)
    frame = p.to_frame()
    assert raw.users is not None
    truth = raw.users.set_index(C.USER_ID).loc[frame[C.USER_ID]]
    brands = [set(s.split("|")) for s in truth["preferred_brands"]]
    cats = [set(s.split("|")) for s in truth["preferred_categories"]]
    top_brands = [set(s.split("|")[:3]) for s in frame["top_brands"]]
    top_cats = [set(s.split("|")[:2]) for s in frame["top_categories"]]
    brand_hit = np.mean([bool(a & b) for a, b in zip(top_brands, brands, strict=True)])
    cat_hit = np.mean([bool(a & b) for a, b in zip(top_cats, cats, strict=True)])
    assert brand_hit > 0.75, brand_hit
    assert cat_hit > 0.8, cat_hit
    # Budget estimate follows the planted budget.
    ok = frame["price_mean"].notna().to_numpy()
    corr = np.corrcoef(np.log(truth["budget"].to_numpy()[ok]), np.log(frame["price_mean"][ok]))
    assert corr[0, 1] > 0.3
    assert "budget" not in frame.columns and "preferred_brands" not in frame.columns
