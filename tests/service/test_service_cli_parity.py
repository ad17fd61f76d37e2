"""One ranking path (issue 12): ``digirec recommend`` and the service give the same list for
the same user and filters, and the bundle's filter mask is the service's."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_helpers import Shop, known_user, seen_items
from typer.testing import CliRunner

from digirec.artifacts import ItemFilter, load_bundle
from digirec.cli.app import app

FILTERS = [
    {},
    {"category": ["Phones"]},
    {"category": ["Laptops", "Tablets"], "max_price": 900.0},
    {"brand": ["Xiaomi", "Apple"], "min_price": 100.0},
    {"in_stock": True},
]


def _cli_args(filters: dict) -> list[str]:
    out: list[str] = []
    for category in filters.get("category", []):
        out += ["--category", category]
    for brand in filters.get("brand", []):
        out += ["--brand", brand]
    for flag in ("min_price", "max_price"):
        if flag in filters:
            out += [f"--{flag.replace('_', '-')}", str(filters[flag])]
    if filters.get("in_stock"):
        out.append("--in-stock")
    return out


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "+".join(f) or "none")
def test_cli_and_service_give_the_same_list(client: TestClient, shop: Shop, filters: dict) -> None:
    categories = set(shop.items["category"])
    brands = set(shop.items["brand"])
    filters = {
        **filters,
        **(
            {"category": [c for c in filters["category"] if c in categories]}
            if "category" in filters
            else {}
        ),
        **({"brand": [b for b in filters["brand"] if b in brands]} if "brand" in filters else {}),
    }
    assert all(filters[key] for key in ("category", "brand") if key in filters)
    for user in (known_user(shop, 0), known_user(shop, 7)):
        result = CliRunner().invoke(
            app,
            [
                *("recommend", "--bundle", str(shop.bundle), "--users", user),
                *("--k", "10", "--json", *_cli_args(filters)),
            ],
        )
        assert result.exit_code == 0, result.output
        cli = json.loads(result.output)
        params = {"k": 10, "explain": "false", **filters}
        body = client.get(f"/v1/users/{user}/recommendations", params=params).json()
        assert body["source"] == "personalised"
        assert [r["item_id"] for r in cli] == [i["item_id"] for i in body["items"]]
        np.testing.assert_allclose(
            [r["score"] for r in cli], [i["score"] for i in body["items"]], rtol=1e-6
        )
        # An independent check of the filters and the seen rule on the list itself.
        items = shop.items.set_index("item_id")
        for row in cli:
            item = items.loc[row["item_id"]]
            assert row["item_id"] not in seen_items(shop, user)
            if "category" in filters:
                assert item["category"] in filters["category"]
            if "brand" in filters:
                assert item["brand"] in filters["brand"]
            if "min_price" in filters:
                assert item["price"] >= filters["min_price"]
            if "max_price" in filters:
                assert item["price"] <= filters["max_price"]
            if filters.get("in_stock"):
                assert bool(item["in_stock"])


def test_bundle_mask_is_the_catalogue_rule(shop: Shop) -> None:
    bundle = load_bundle(shop.bundle)
    item_filter = ItemFilter(categories=["Phones"], min_price=200.0, in_stock=True)
    mask = bundle.candidate_mask(item_filter)
    assert mask is not None
    items = shop.items.set_index("item_id").loc[bundle.model.item_map_.to_list()]
    # A slow reference: the rule written out row by row.
    expected = [
        row.category == "Phones"
        and row.price == row.price
        and row.price >= 200.0
        and bool(row.in_stock)
        for row in items.itertuples()
    ]
    assert mask.tolist() == expected
