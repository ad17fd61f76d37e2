"""Image features: precomputed vectors, synthetic product pictures, the small CNN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from digirec import columns as C
from digirec.data.idmap import IdMap
from digirec.exceptions import SchemaError
from digirec.features.image import (
    SHAPES,
    SmallImageCNN,
    images_to_tensor,
    load_image_vectors,
    product_shape,
    render_product_image,
    render_product_images,
)

ITEM_MAP = IdMap(["a", "b", "c", "d"], kind="item")


# ---------------------------------------------------------------------------- vectors
def test_npy_with_ids_file_aligns_rows_and_reports_unknown(tmp_path: Path) -> None:
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "img.npy", vectors)
    (tmp_path / "img.ids.txt").write_text("c\nzz\na\nc\n", encoding="utf-8")
    out = load_image_vectors(tmp_path / "img.npy", ITEM_MAP)
    assert out.vectors.shape == (4, 3) and out.vectors.dtype == np.float32
    assert out.mask.tolist() == [True, False, True, False]
    np.testing.assert_array_equal(out.vectors[0], vectors[2])
    np.testing.assert_array_equal(out.vectors[2], vectors[0])  # first of the repeated "c"
    assert not out.vectors[1].any() and not out.vectors[3].any()
    assert out.unknown_ids == ["zz"] and out.n_duplicates == 1
    assert out.coverage == 0.5


def test_parquet_list_column_and_numeric_columns(tmp_path: Path) -> None:
    pd.DataFrame({C.ITEM_ID: ["d", "b"], "embedding": [[1.0, 2.0], [3.0, 4.0]]}).to_parquet(
        tmp_path / "list.parquet"
    )
    out = load_image_vectors(tmp_path / "list.parquet", ITEM_MAP)
    assert out.vectors[3].tolist() == [1.0, 2.0] and out.vectors[1].tolist() == [3.0, 4.0]
    assert out.mask.tolist() == [False, True, False, True]
    pd.DataFrame({C.ITEM_ID: ["a"], "v0": [0.5], "v1": [1.5], "v2": [2.5]}).to_parquet(
        tmp_path / "wide.parquet"
    )
    wide = load_image_vectors(tmp_path / "wide.parquet", ITEM_MAP)
    assert wide.vectors.shape == (4, 3) and wide.vectors[0].tolist() == [0.5, 1.5, 2.5]


def test_npz_and_errors(tmp_path: Path) -> None:
    np.savez(tmp_path / "v.npz", item_id=np.array(["b"]), vectors=np.ones((1, 2)))
    assert load_image_vectors(tmp_path / "v.npz", ITEM_MAP).mask.tolist() == [
        False,
        True,
        False,
        False,
    ]
    np.save(tmp_path / "lonely.npy", np.ones((2, 2)))
    with pytest.raises(SchemaError, match="ids file"):
        load_image_vectors(tmp_path / "lonely.npy", ITEM_MAP)
    (tmp_path / "ids.txt").write_text("a\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="one id per row"):
        load_image_vectors(tmp_path / "lonely.npy", ITEM_MAP)
    with pytest.raises(SchemaError, match="unsupported"):
        (tmp_path / "x.csv").write_text("a", encoding="utf-8")
        load_image_vectors(tmp_path / "x.csv", ITEM_MAP)


# ---------------------------------------------------------------------------- rendering
CATEGORIES = [
    "Phones",
    "Laptops",
    "Headphones",
    "Cameras",
    "Smartwatches",
    "TVs",
    "Games",
    "Tablets",
    "Monitors",
    "Speakers",
    "Software",
    "Accessories",
]


def test_category_keywords_pick_distinct_shapes() -> None:
    shapes = [product_shape(c) for c in CATEGORIES]
    assert len(set(shapes)) == len(CATEGORIES)
    assert product_shape("Wireless Earbuds") == "headphones"  # not "phone"
    assert product_shape("手机") == "phone"
    assert product_shape(None) == "other" and product_shape("Pens") == "other"
    assert {s for s, _ in SHAPES} >= set(shapes)


def test_render_shape_colour_and_determinism() -> None:
    row = {C.CATEGORY: "Phones", C.BRAND: "Apple", "image_color": "#ff0000"}
    img = render_product_image(row, size=32)
    assert img.shape == (3, 32, 32) and img.dtype == np.uint8
    np.testing.assert_array_equal(img, render_product_image(pd.Series(row), size=32))
    red = (img[0] == 255) & (img[1] == 0) & (img[2] == 0)
    ys, xs = np.nonzero(red)
    assert red.sum() > 50
    assert np.ptp(ys) > 1.5 * np.ptp(xs)  # a phone is tall
    laptop = render_product_image({**row, C.CATEGORY: "Laptops"}, size=32)
    red = (laptop[0] == 255) & (laptop[1] == 0) & (laptop[2] == 0)
    ys, xs = np.nonzero(red)
    assert np.ptp(xs) > np.ptp(ys)  # a laptop is wide
    # Without an image colour the brand decides the colour.
    sony = render_product_image({C.CATEGORY: "Cameras", C.BRAND: "Sony"})
    canon = render_product_image({C.CATEGORY: "Cameras", C.BRAND: "Canon"})
    assert (sony != canon).any()
    assert render_product_image(row, size=48).shape == (3, 48, 48)


def test_render_many_items() -> None:
    items = pd.DataFrame({C.CATEGORY: CATEGORIES, C.BRAND: ["B"] * len(CATEGORIES)})
    imgs = render_product_images(items, size=24)
    assert imgs.shape == (len(CATEGORIES), 3, 24, 24)
    flat = imgs.reshape(len(CATEGORIES), -1)
    assert len({row.tobytes() for row in flat}) == len(CATEGORIES)


# ---------------------------------------------------------------------------- CNN
def test_cnn_shapes_and_uint8_input() -> None:
    net = SmallImageCNN(dim=8, width=4)
    imgs = np.zeros((5, 3, 32, 32), dtype=np.uint8)
    out = net(torch.as_tensor(imgs))
    assert out.shape == (5, 8)
    x = images_to_tensor(imgs)
    assert x.dtype == torch.float32 and float(x.min()) == -0.5
    torch.testing.assert_close(net(x), out)


@pytest.fixture
def one_torch_thread():  # type: ignore[no-untyped-def]
    # Tiny convolutions: one thread is fastest and avoids oversubscribing a shared machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("one_torch_thread")
def test_cnn_overfits_category_classification() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    rows = []
    for c in CATEGORIES:
        for brand in ("Alpha", "Beta"):
            colour = "#" + "".join(f"{int(v):02x}" for v in rng.integers(40, 220, 3))
            rows.append({C.CATEGORY: c, C.BRAND: brand, "image_color": colour})
    images = images_to_tensor(render_product_images(pd.DataFrame(rows), size=32))
    labels = torch.as_tensor(np.repeat(np.arange(len(CATEGORIES)), 2))
    net = SmallImageCNN(dim=16, width=8)
    model = torch.nn.Sequential(net, torch.nn.ReLU(), torch.nn.Linear(16, len(CATEGORIES)))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    accuracy = 0.0
    for _step in range(60):
        opt.zero_grad()
        logits = model(images)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        loss.backward()
        opt.step()
        accuracy = float((logits.argmax(1) == labels).float().mean())
        if accuracy == 1.0:
            break
    with torch.no_grad():
        accuracy = float((model(images).argmax(1) == labels).float().mean())
    assert accuracy == 1.0
