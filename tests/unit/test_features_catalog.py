"""Catalogue features: vocabularies with an <other> bucket, price bands, specs, cold items."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.exceptions import ConfigError, NotFittedError
from digirec.features.catalog import (
    OTHER,
    PRICE_BAND,
    CatalogConfig,
    CatalogFeaturizer,
    ItemFeatures,
    build_item_features,
)


def catalogue() -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.ITEM_ID: ["a", "b", "c", "d", "e", "f"],
            C.BRAND: ["Sony", "Sony", "Apple", "Apple", "Bose", None],
            C.CATEGORY: ["Headphones", "TVs", "Phones", "Phones", "Headphones", "Phones"],
            "features": ["ANC|Bluetooth", "4K", "5G|OLED", "5G", "ANC", None],
            C.PRICE: [10.0, 20.0, 30.0, 40.0, 50.0, np.nan],
            "storage_gb": [np.nan, np.nan, 128.0, 256.0, np.nan, 512.0],
            C.IN_STOCK: [True, True, False, True, True, True],
        }
    )


CONFIG = CatalogConfig(min_count=2, n_price_bands=2)


def test_one_hot_vocab_with_min_count_and_other_bucket() -> None:
    feats = build_item_features(catalogue(), CONFIG)
    # Bose (1 item) and the missing brand fall below min_count: both go to <other>.
    assert feats.vocabulary(C.BRAND) == [OTHER, "Apple", "Sony"]
    assert feats.item_codes(C.BRAND).tolist() == [2, 2, 1, 1, 0, 0]
    brand = feats.field_matrix(C.BRAND).toarray()
    assert brand.sum(axis=1).tolist() == [1.0] * 6
    assert brand[4].tolist() == [1.0, 0.0, 0.0]
    # Categories ordered by frequency, then name.
    assert feats.vocabulary(C.CATEGORY) == [OTHER, "Phones", "Headphones"]


def test_multi_valued_field_is_multi_hot() -> None:
    feats = build_item_features(catalogue(), CONFIG)
    vocab = feats.vocabulary("features")
    assert vocab == [OTHER, "5G", "ANC"]  # Bluetooth, 4K, OLED appear once
    m = feats.field_matrix("features").toarray()
    assert m[2].tolist() == [1.0, 1.0, 0.0]  # 5G + OLED(-> other)
    assert m[0].tolist() == [1.0, 0.0, 1.0]  # ANC + Bluetooth(-> other)
    assert m[5].tolist() == [1.0, 0.0, 0.0]  # missing -> other
    with pytest.raises(ValueError, match="multi-valued"):
        feats.featurizer.codes(catalogue(), "features")


def test_price_bands_quantiles_and_missing_band() -> None:
    feats = build_item_features(catalogue(), CONFIG)
    # Median of 10..50 is 30: two bands, then the missing band.
    assert feats.vocabulary(PRICE_BAND) == ["<30", ">=30", "missing"]
    assert feats.item_codes(PRICE_BAND).tolist() == [0, 0, 1, 1, 1, 2]
    z = feats.field_matrix("price").toarray().ravel()
    logp = np.log1p([10.0, 20.0, 30.0, 40.0, 50.0])
    np.testing.assert_allclose(z[:5], (logp - logp.mean()) / logp.std(), rtol=1e-5)
    assert z[5] == 0.0


def test_numeric_specs_standardised_with_missing_flag_and_bools_skipped() -> None:
    feats = build_item_features(catalogue(), CONFIG)
    assert feats.vocabulary("spec") == ["storage_gb", "storage_gb:missing"]
    spec = feats.field_matrix("spec").toarray()
    logs = np.log1p([128.0, 256.0, 512.0])
    np.testing.assert_allclose(spec[[2, 3, 5], 0], (logs - logs.mean()) / logs.std(), rtol=1e-5)
    assert spec[:, 1].tolist() == [1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    assert not any(n.startswith("spec=in_stock") for n in feats.names)


def test_layout_names_and_slices_agree() -> None:
    feats = build_item_features(catalogue(), CONFIG)
    assert feats.matrix.shape == (6, len(feats.names))
    assert feats.matrix.dtype == np.float32
    for field, sl in feats.fields.items():
        assert all(n.startswith(f"{field}=") for n in feats.names[sl])
    assert sl.stop == feats.n_features


def test_transform_cold_items_uses_the_same_vocabulary() -> None:
    feats = build_item_features(catalogue(), CONFIG)
    new = pd.DataFrame(
        {
            C.ITEM_ID: ["x", "y"],
            C.BRAND: ["Apple", "Nothing"],  # unseen brand -> <other>
            C.CATEGORY: ["Phones", "Drones"],
            C.PRICE: [35.0, None],
        }
    )
    cold = feats.transform(new)
    assert cold.names == feats.names
    assert cold.item_codes(C.BRAND).tolist() == [1, 0]
    assert cold.item_codes(C.CATEGORY).tolist() == [1, 0]
    assert cold.item_codes(PRICE_BAND).tolist() == [1, 2]
    # Transforming the training rows reproduces the fitted matrix.
    again = feats.transform(catalogue())
    assert (again.matrix != feats.matrix).nnz == 0


def test_state_round_trip_is_json_and_numpy(tmp_path) -> None:
    feats = build_item_features(catalogue(), CONFIG)
    state = feats.to_dict()
    json.dumps(state["meta"])  # JSON-able vocab and recipe
    assert all(isinstance(v, np.ndarray) for v in state["arrays"].values())
    restored = ItemFeatures.from_dict(state)
    assert restored.names == feats.names and restored.fields == feats.fields
    assert (restored.matrix != feats.matrix).nnz == 0
    assert restored.item_codes(C.BRAND).tolist() == feats.item_codes(C.BRAND).tolist()
    feats.save(tmp_path / "f")
    loaded = ItemFeatures.load(tmp_path / "f")
    new = catalogue().iloc[[3, 0]]
    assert (loaded.transform(new).matrix != feats.transform(new).matrix).nnz == 0


def test_dataset_items_are_aligned_with_item_idx() -> None:
    inter = pd.DataFrame({C.USER_ID: ["u", "u", "v"], C.ITEM_ID: ["c", "a", "e"]})
    ds = Dataset.from_interactions(inter, items=catalogue(), include_catalog_items=True)
    feats = build_item_features(ds, CONFIG)
    assert feats.n_items == ds.n_items
    c = ds.item_map.to_internal(["c"])[0]
    assert feats.vocabulary(C.BRAND)[feats.item_codes(C.BRAND)[c]] == "Apple"


def test_movielens_genres_multi_hot() -> None:
    items = pd.DataFrame(
        {
            C.ITEM_ID: ["1", "2", "3"],
            C.CATEGORY: ["Animation", "Action", "Action"],
            "genres": ["Animation|Children's|Comedy", "Action|Adventure", "Action|Comedy"],
        }
    )
    feats = build_item_features(items, CatalogConfig(min_count=1))
    assert feats.field_matrix("genres").sum() == 7
    assert PRICE_BAND not in feats.fields and "spec" not in feats.fields


def test_errors() -> None:
    with pytest.raises(NotFittedError):
        CatalogFeaturizer().transform(catalogue())
    with pytest.raises(ConfigError):
        build_item_features(Dataset.from_interactions(catalogue()[[C.ITEM_ID]].assign(user_id="u")))
    with pytest.raises(KeyError):
        build_item_features(catalogue(), CONFIG).item_codes("colour")
