"""Unit checks behind the web pages: the served model's held-out score, product pictures,
money and admin tickets, the report's best-model choice and path scrubbing, synthetic titles."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from digirec.data.dataset import Dataset
from digirec.data.split import leave_one_out
from digirec.data.synth import SynthConfig, generate_shop
from digirec.evaluation.evaluate import evaluate_model
from digirec.evaluation.report import ResultFile, _scrub_paths, best_models
from digirec.evaluation.served import evaluate_for_bundle, holdout_evaluation, read_evaluation
from digirec.models.registry import create_model
from digirec.serving.web.helpers import AdminTickets, format_money
from digirec.serving.web.images import body_colour, local_image, product_shape, product_svg


@pytest.fixture(scope="module")
def small_shop() -> Dataset:
    raw = generate_shop(SynthConfig(n_users=120, n_items=80, random_state=3))
    return Dataset.from_raw(raw)


# ---------------------------------------------------------------------- held-out score
def test_holdout_score_matches_a_second_computation(small_shop: Dataset, tmp_path: Path) -> None:
    model = create_model("itemknn").fit(small_shop)
    evaluation = evaluate_for_bundle(model, small_shop, tmp_path)
    assert evaluation is not None and read_evaluation(tmp_path) == evaluation
    # Second computation: the same split by hand, a fresh model, the evaluation module's mean.
    masks = leave_one_out(small_shop)
    train = small_shop.subset(~masks.test)
    reference = create_model("itemknn").fit(train)
    expected = evaluate_model(reference, small_shop.subset(masks.test), ks=(10,))
    assert evaluation["metrics"]["ndcg@10"] == pytest.approx(expected["ndcg@10"], abs=1e-9)
    assert evaluation["metrics"]["recall@10"] == pytest.approx(expected["recall@10"], abs=1e-9)
    assert evaluation["n_users_evaluated"] == int(masks.test.sum())
    lo, hi = evaluation["ci95"]["ndcg@10"]
    assert lo < evaluation["metrics"]["ndcg@10"] < hi
    # The served model itself is not touched by the held-out fit.
    again = create_model("itemknn").fit(small_shop)
    users = np.arange(5)
    assert np.array_equal(model.recommend_idx(users, 5)[0], again.recommend_idx(users, 5)[0])


def test_holdout_needs_three_interactions(tmp_path: Path) -> None:
    raw = generate_shop(SynthConfig(n_users=30, n_items=40, random_state=5))
    first_two = raw.interactions.groupby("user_id").head(2)
    dataset = Dataset.from_interactions(first_two)
    model = create_model("pop").fit(dataset)
    assert holdout_evaluation(model, dataset) is None
    assert evaluate_for_bundle(model, dataset, tmp_path) is None
    assert read_evaluation(tmp_path) is None and read_evaluation(None) is None


# ---------------------------------------------------------------------- pictures
@pytest.mark.parametrize(
    ("record", "shape"),
    [
        ({"subcategory": "True Wireless Earbuds", "category": "Headphones"}, "earbuds"),
        ({"subcategory": "Over-Ear Headphones", "category": "Headphones"}, "headphones"),
        ({"subcategory": "Gaming Headsets", "category": "Headphones"}, "headset"),
        ({"subcategory": "Camera Lenses", "category": "Accessories"}, "lens"),
        ({"subcategory": "Mirrorless Cameras", "category": "Cameras"}, "camera"),
        ({"subcategory": "Phone Cases", "category": "Accessories"}, "phone_case"),
        ({"subcategory": "Gaming Monitors", "category": "Monitors"}, "monitor"),
        ({"subcategory": "Monitor Arms", "category": "Accessories"}, "monitor_arm"),
        ({"category": "Laptops"}, "laptop"),
        ({"category": "Something new"}, "box"),
    ],
)
def test_picture_shape_follows_the_sub_type(record: dict[str, str], shape: str) -> None:
    assert product_shape(record) == shape
    assert f'data-shape="{shape}"' in product_svg(record)


def test_picture_colour_follows_the_title() -> None:
    white = {"title": "Huawei MateView GT Monitor, White", "image_color": "#2a9d8f"}
    assert body_colour(white) == "#f4f4f2"  # the title wins over a teal image_color
    assert body_colour({"title": "Galaxy Tab, Space Gray"}) == "#5f6368"  # longest name first
    assert body_colour({"color": "Blue", "title": "x, Red"}) == "#2f6fd6"  # the column first
    assert body_colour({"title": "No colour here", "image_color": "#123456"}) == "#123456"
    hashed = body_colour({"brand": "Acme"})
    assert re.fullmatch(r"#[0-9a-f]{6}", hashed) and hashed == body_colour({"brand": "Acme"})
    # A white body gets a grey outline so it stays visible on the light background.
    assert 'stroke="#6e7781"' in product_svg(white)


def test_local_image_stays_inside_its_folder(tmp_path: Path) -> None:
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.png").write_bytes(b"\x89PNG")
    (tmp_path / "secret.png").write_bytes(b"\x89PNG")
    folder = tmp_path / "pics"
    found = local_image({"image_url": "a.png"}, folder)
    assert found is not None and found[1] == "image/png"
    assert local_image({"image_url": "../secret.png"}, folder) is None
    assert local_image({"image_path": str(tmp_path / "secret.png")}, folder) is None
    assert local_image({"image_url": "https://example.com/a.png"}, folder) is None
    assert local_image({"image_url": "a.png"}, None) is None


# ---------------------------------------------------------------------- money, tickets
def test_money_names_the_currency() -> None:
    assert format_money(1059.99, "USD", "en") == "$1,059.99"
    assert format_money(1059.99, "USD", "zh") == "US$1,059.99"  # never read as yuan
    assert format_money(88, "CNY", "zh") == "¥88.00"
    assert format_money(5, "SEK", "en") == "5.00 SEK"
    assert format_money(453.99, "USD", "en", whole=True) == "$454"
    assert format_money(None, "USD") == "–"


def test_admin_tickets_expire_and_stay_bounded() -> None:
    tickets = AdminTickets(max_tickets=2)
    first = tickets.issue({"retrained": {"model_version": 2}}, now=0.0)
    assert tickets.get(first, now=10.0) == {"retrained": {"model_version": 2}}
    assert tickets.get(first, now=10_000.0) is None  # expired
    a, _b, c = (tickets.issue({"n": i}, now=0.0) for i in range(3))
    assert tickets.get(a, now=1.0) is None and tickets.get(c, now=1.0) == {"n": 2}
    assert tickets.get("forged", now=1.0) is None and tickets.get(None) is None


# ---------------------------------------------------------------------- report helpers
def test_best_model_is_chosen_on_validation_not_test() -> None:
    doc = {
        "dataset": {"name": "d", "path": "/home/op/data"},
        "protocol": "leave-one-out",
        "tuning_metric": "ndcg@10",
        "results": [
            # "lucky" is best on test but worse on validation: it must not be chosen.
            {"model": "lucky", "valid": {"ndcg@10": 0.10}, "test": {"ndcg@10": 0.30}},
            {
                "model": "steady",
                "valid": {"ndcg@10": 0.20},
                "test": {"ndcg@10": 0.25},
                "test_ci95": {"ndcg@10": [0.22, 0.28]},
                "vs_best_baseline": {
                    "baseline": "pop",
                    "ndcg@10": {"diff": 0.1, "ci95": [0.05, 0.15]},
                },
            },
        ],
    }
    (best,) = best_models([ResultFile("d", doc)])
    assert best["model"] == "steady" and best["value"] == 0.25
    assert best["ci95"] == (0.22, 0.28) and best["diff_ci95"] == (0.05, 0.15)
    assert best["title"] == "d · leave-one-out"


def test_paths_are_scrubbed() -> None:
    doc = {"a": "/work/shared/datasets/ml", "b": ["C:\\\\data\\\\x.csv", "relative/ok"], "c": 3}
    assert _scrub_paths(doc) == {"a": "ml", "b": ["x.csv", "relative/ok"], "c": 3}


# ---------------------------------------------------------------------- synthetic titles
def test_synthetic_titles_do_not_repeat_words_after_the_model() -> None:
    items = generate_shop(SynthConfig(n_users=20, n_items=1500, random_state=1)).items
    for title in items["title"]:
        head = title.split(",")[0].lower().split()
        assert all(a != b for a, b in itertools.pairwise(head)), title
    assert not items["title"].str.contains(r"\b5G 5G\b|Wireless Wireless|GPS GPS").any()


def test_remote_pictures_are_https_only() -> None:
    from digirec.serving.web.images import remote_image

    assert (
        remote_image({"image_url": "https://cdn.example/p/1.jpg"}) == "https://cdn.example/p/1.jpg"
    )
    for bad in ("http://cdn.example/1.jpg", "javascript:alert(1)", 'https://x/"onerror=1', None):
        assert remote_image({"image_url": bad}) is None
