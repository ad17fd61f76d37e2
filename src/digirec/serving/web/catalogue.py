"""Display data derived from the catalogue (Chinese names, filter choices) and product cards."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from digirec import columns as C
from digirec.serving.web.images import remote_image

if TYPE_CHECKING:
    from digirec.serving.engine.catalogue import Catalogue


@dataclass(frozen=True)
class CatalogueView:
    """Display data derived from one catalogue (rebuilt when the catalogue object changes)."""

    categories: list[tuple[str, str]]  # (value, Chinese label)
    brands: list[tuple[str, str]]
    category_zh: dict[str, str]
    brand_zh: dict[str, str]


class Views:
    """The display data of the latest catalogue (one entry: catalogues are replaced whole)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: Any = None
        self._view: CatalogueView | None = None

    def get(self, catalogue: Catalogue) -> CatalogueView:
        with self._lock:
            if self._key is catalogue and self._view is not None:
                return self._view
        view = _build_view(catalogue)
        with self._lock:
            self._key, self._view = catalogue, view
        return view


def _zh_map(frame: Any, column: str, zh_column: str) -> dict[str, str]:
    if column not in frame.columns or zh_column not in frame.columns:
        return {}
    pairs = frame[[column, zh_column]].dropna().drop_duplicates(subset=[column])
    return {str(a): str(b) for a, b in zip(pairs[column], pairs[zh_column], strict=True)}


def _build_view(catalogue: Catalogue) -> CatalogueView:
    frame = catalogue.frame

    def values(column: str) -> list[str]:
        if column not in frame.columns:
            return []
        return sorted({str(v) for v in frame[column].dropna().unique()})

    category_zh = _zh_map(frame, C.CATEGORY, "category_zh")
    brand_zh = _zh_map(frame, C.BRAND, "brand_zh")
    return CatalogueView(
        categories=[(c, category_zh.get(c, c)) for c in values(C.CATEGORY)],
        brands=[(b, brand_zh.get(b, b)) for b in values(C.BRAND)],
        category_zh=category_zh,
        brand_zh=brand_zh,
    )


def item_card(
    catalogue: Catalogue, view: CatalogueView, item: Mapping[str, Any], lang: str
) -> dict[str, Any]:
    """What a product card shows: API fields, plus Chinese names from the catalogue."""
    item_id = str(item["item_id"])
    row = catalogue.positions.get(item_id)
    title = item.get("title") or (catalogue.value(row, C.TITLE) if row is not None else None)
    brand = item.get("brand") or (catalogue.value(row, C.BRAND) if row is not None else None)
    category = item.get("category") or (
        catalogue.value(row, C.CATEGORY) if row is not None else None
    )
    price = item.get("price")
    in_stock = item.get("in_stock")
    if row is not None:
        price = price if price is not None else catalogue.value(row, C.PRICE)
        in_stock = in_stock if in_stock is not None else catalogue.value(row, C.IN_STOCK)
    if lang == "zh" and row is not None:
        title = catalogue.value(row, "title_zh") or title
    explanation = item.get("explanation") or None
    reason = None
    if explanation:
        reason = explanation.get("text_zh") if lang == "zh" else explanation.get("text")
        reason = reason or explanation.get("text")
    remote = (
        remote_image({"image_url": catalogue.value(row, "image_url")}) if row is not None else None
    )
    return {
        "item_id": item_id,
        # A catalogue picture URL when there is one, else this service's drawn picture.
        "image": remote or f"/img/{item_id}.svg",
        "title": str(title or item_id),
        "brand": (view.brand_zh.get(str(brand), brand) if lang == "zh" else brand)
        if brand
        else None,
        "category": (view.category_zh.get(str(category), category) if lang == "zh" else category)
        if category
        else None,
        "category_value": category,
        "price": None if price is None else float(price),
        "in_stock": None if in_stock is None else bool(in_stock),
        "reason": reason,
        "reason_kind": explanation.get("kind") if explanation else None,
    }
