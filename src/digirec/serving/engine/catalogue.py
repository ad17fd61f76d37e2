"""The served catalogue and the one filter rule (no FastAPI: see :mod:`digirec.serving.engine`).

:class:`Catalogue` aligns the store's catalogue (the source of truth) with the model's item
index: model items first (row ``i`` = ``item_idx i``), new items after, each new item scored
through its *attribute neighbour* (the model item of the same category closest in brand and
price, most popular on ties) until a retrain gives it a model index of its own. An item with
no category match takes the lowest score, so it still fills a list when nothing else
qualifies. :meth:`Catalogue.mask` is the business-filter rule the service, the CLI and the
demo share (:meth:`digirec.artifacts.Bundle.candidate_mask` calls it); :class:`FilterMask`
is one request's mask, computed on first use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from digirec import columns as C
from digirec.artifacts import ItemFilter
from digirec.data.schema import coerce_prices
from digirec.exceptions import ConfigError, DigirecError
from digirec.models.base import Recommender
from digirec.serving.errors import ServingError
from digirec.store.base import json_safe

#: How a catalogue row is recommendable (``PUT /v1/items`` reports it).
VIA_MODEL = "model"
VIA_ATTRIBUTES = "attribute_neighbour"
VIA_FLOOR = "lowest_rank"

#: Filter masks kept per catalogue (a shop's traffic repeats a few category / price filters).
_MASK_CACHE_SIZE = 512


def _fix_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    if C.PRICE in frame.columns:
        frame[C.PRICE] = coerce_prices(frame[C.PRICE])
    if C.IN_STOCK in frame.columns:
        frame[C.IN_STOCK] = frame[C.IN_STOCK].astype("boolean")
    frame[C.ITEM_ID] = frame[C.ITEM_ID].astype(object)
    return frame


def _records(frame: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    if frame is None or not len(frame):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for rec in frame.to_dict(orient="records"):
        out[str(rec[C.ITEM_ID])] = {str(k): json_safe(v) for k, v in rec.items()}
    return out


@dataclass(frozen=True)
class Catalogue:
    """The served catalogue: model items first (row ``i`` = ``item_idx i``), new items after.

    Attributes
    ----------
    frame:
        ``item_id`` + attributes, one row per catalogue row.
    n_model_items:
        Rows ``0..n_model_items-1`` are the model's items in index order.
    positions:
        ``item_id`` -> row.
    proxies:
        Per row, the model item that scores it: itself for model items, the attribute neighbour
        for new items, ``-1`` when there is none.
    """

    frame: pd.DataFrame
    n_model_items: int
    positions: dict[str, int]
    proxies: NDArray[np.int64]

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    @classmethod
    def build(
        cls,
        model: Recommender,
        bundle_items: pd.DataFrame | None,
        store_items: pd.DataFrame | None,
        popularity: NDArray[np.float32],
    ) -> Catalogue:
        """Align the store's catalogue (the source of truth) with the model's item index.

        Model items take their store row when the store has one, else the bundle's; store items
        unknown to the model follow, each with its attribute neighbour. When the store holds a
        catalogue, a model item missing from it was deleted (``DELETE /v1/items``): it keeps
        the bundle's attributes and is hidden until a retrain drops it.
        """
        model_ids = [str(x) for x in model.item_map_.external_ids]
        from_bundle = _records(bundle_items)
        from_store = _records(store_items)

        def model_row(item_id: str) -> dict[str, Any]:
            stored = from_store.get(item_id)
            if stored is not None:
                return stored
            row = dict(from_bundle.get(item_id) or {C.ITEM_ID: item_id})
            if from_store:
                row[C.HIDDEN] = True
            return row

        rows = [model_row(i) for i in model_ids]
        known = set(model_ids)
        new_ids = [i for i in from_store if i not in known]
        rows.extend(from_store[i] for i in new_ids)
        frame = _fix_dtypes(pd.DataFrame(rows if rows else {C.ITEM_ID: []}))
        n_model = len(model_ids)
        proxies = np.arange(len(frame), dtype=np.int64)
        for row in range(n_model, len(frame)):
            proxies[row] = _attribute_neighbour(
                frame, n_model, from_store[new_ids[row - n_model]], popularity
            )
        positions = {str(item): r for r, item in enumerate(frame[C.ITEM_ID])}
        return cls(frame=frame, n_model_items=n_model, positions=positions, proxies=proxies)

    def with_item(
        self, record: dict[str, Any], popularity: NDArray[np.float32]
    ) -> tuple[Catalogue, bool, str, int]:
        """A copy with one item created or updated (copy-on-write: readers keep the old one).

        Returns
        -------
        catalogue, created, via, proxy_row
        """
        record = {str(k): json_safe(v) for k, v in record.items()}
        item_id = str(record[C.ITEM_ID])
        row = self.positions.get(item_id)
        frame = self.frame.copy()
        positions = dict(self.positions)
        proxies = self.proxies.copy()
        created = row is None
        if row is None:
            frame = pd.concat([frame, pd.DataFrame([record])], ignore_index=True)
            row = len(frame) - 1
            positions[item_id] = row
            proxies = np.append(proxies, -1)
        else:
            # PUT replaces the item: attributes missing from the record are cleared, as in the
            # store, so the served row always equals the stored one.
            for key in [*record, *(c for c in frame.columns if c not in record)]:
                if key == C.ITEM_ID:
                    continue
                if key not in frame.columns:
                    frame[key] = pd.Series([None] * len(frame), dtype=object)
                _set_cell(frame, row, key, record.get(key))
        frame = _fix_dtypes(frame)
        if row >= self.n_model_items:
            proxies[row] = _attribute_neighbour(frame, self.n_model_items, record, popularity)
        catalogue = Catalogue(frame, self.n_model_items, positions, proxies)
        return catalogue, created, catalogue.via(row), int(proxies[row])

    def via(self, row: int) -> str:
        """How row ``row`` is recommendable (:data:`VIA_MODEL`, :data:`VIA_ATTRIBUTES` ...)."""
        if row < self.n_model_items:
            return VIA_MODEL
        return VIA_ATTRIBUTES if self.proxies[row] >= 0 else VIA_FLOOR

    def mask(self, item_filter: ItemFilter) -> NDArray[np.bool_] | None:
        """Rows passing the business filters (``None``: no filter). Same rules as bundles
        (:meth:`digirec.artifacts.Bundle.candidate_mask`), computed on numpy columns cached per
        catalogue; a mask is cached per filter and read-only (callers never write to it)."""
        if item_filter.is_empty():
            # Only the availability rule: out-of-stock and hidden rows (None when none is).
            return None if item_filter.include_unavailable else self.available
        key = (
            None if item_filter.categories is None else tuple(item_filter.categories),
            None if item_filter.brands is None else tuple(item_filter.brands),
            item_filter.min_price,
            item_filter.max_price,
            item_filter.in_stock,
            item_filter.include_unavailable,
        )
        cache = self._masks
        hit = cache.get(key)
        if hit is not None:
            return hit
        # Category, brand and stock masks are few and cached on their own; a price range is
        # nearly unique per request (a budget) and costs two comparisons.
        parts: list[NDArray[np.bool_]] = []
        if item_filter.categories is not None:
            parts.append(self._part(C.CATEGORY, key[0]))
        if item_filter.brands is not None:
            parts.append(self._part(C.BRAND, key[1]))
        if item_filter.in_stock is not None:
            parts.append(self._part(C.IN_STOCK, item_filter.in_stock))
        if item_filter.min_price is not None or item_filter.max_price is not None:
            price = self.prices()
            lo = -np.inf if item_filter.min_price is None else item_filter.min_price
            hi = np.inf if item_filter.max_price is None else item_filter.max_price
            # Items with unknown price (NaN) never pass a price filter: a filter is a promise.
            in_range = price <= hi
            if item_filter.min_price is not None:
                in_range &= price >= lo
            parts.append(in_range)
        if not item_filter.include_unavailable:
            # A request that states its own stock condition keeps it; hidden rows never pass.
            rule = self.available if item_filter.in_stock is None else self.visible
            if rule is not None:
                parts.append(rule)
        mask = parts[0].copy()
        for part in parts[1:]:
            mask &= part
        mask.flags.writeable = False
        if len(cache) >= _MASK_CACHE_SIZE:
            cache.clear()
        cache[key] = mask
        return mask

    @cached_property
    def available(self) -> NDArray[np.bool_] | None:
        """Rows that may be recommended by default: not explicitly out of stock and not hidden
        (unknown stock counts as available); ``None`` when every row is."""
        ok = np.ones(self.n_rows, dtype=bool)
        if C.IN_STOCK in self.frame.columns:
            ok &= self.frame[C.IN_STOCK].astype("boolean").fillna(True).to_numpy(bool)
        visible = self.visible
        if visible is not None:
            ok &= visible
        if ok.all():
            return None
        ok.flags.writeable = False
        return ok

    @cached_property
    def visible(self) -> NDArray[np.bool_] | None:
        """Rows not hidden by the shop (``None`` when none is)."""
        if C.HIDDEN not in self.frame.columns:
            return None
        hidden = self.frame[C.HIDDEN].astype("boolean").fillna(False).to_numpy(bool)
        ok: NDArray[np.bool_] = ~hidden
        if ok.all():
            return None
        ok.flags.writeable = False
        return ok

    def _part(self, column: str, value: Any) -> NDArray[np.bool_]:
        """The mask of one categorical or stock condition, cached per catalogue."""
        cache = self._parts
        hit = cache.get((column, value))
        if hit is None:
            hit = self._stock() == value if column == C.IN_STOCK else self._isin(column, value)
            hit.flags.writeable = False
            if len(cache) >= _MASK_CACHE_SIZE:
                cache.clear()
            cache[(column, value)] = hit
        return hit

    @cached_property
    def _masks(self) -> dict[tuple[Any, ...], NDArray[np.bool_]]:
        return {}

    @cached_property
    def profile_featurizer(self) -> Any:
        """The catalogue featuriser of user profiles, fitted on this catalogue version (the
        recipe ``features.profile`` builds by default: every brand and category kept, genres
        when present, five price bands)."""
        from digirec.features.catalog import GENRES, CatalogConfig, CatalogFeaturizer

        config = CatalogConfig(
            categorical=(C.BRAND, C.CATEGORY),
            multi_valued={GENRES: "|"},
            numeric=(),
            min_count=1,
            n_price_bands=5,
        )
        return CatalogFeaturizer(config).fit(self.frame.reset_index(drop=True))

    @cached_property
    def _parts(self) -> dict[tuple[str, Any], NDArray[np.bool_]]:
        return {}

    @cached_property
    def _codes(self) -> dict[str, tuple[NDArray[np.int64], dict[Any, int]]]:
        return {}

    @cached_property
    def _columns(self) -> dict[Any, Any]:
        """Columns: ``name`` -> list of values as stored, ``(kind, name)`` -> typed arrays."""
        return {}

    def _require(self, column: str) -> None:
        if column not in self.frame.columns:
            raise ConfigError(f"the catalogue has no {column!r} column to filter on")

    def _coded(self, column: str) -> tuple[NDArray[np.int64], dict[Any, int]]:
        cache = self._codes
        hit = cache.get(column)
        if hit is None:
            codes, uniques = pd.factorize(self.frame[column].astype(object), use_na_sentinel=True)
            hit = (np.asarray(codes, dtype=np.int64), {v: i for i, v in enumerate(uniques)})
            cache[column] = hit
        return hit

    def _isin(self, column: str, values: Sequence[Any]) -> NDArray[np.bool_]:
        self._require(column)
        codes, lookup = self._coded(column)
        out = np.zeros(self.n_rows, dtype=bool)
        for value in values:
            code = lookup.get(value)
            if code is not None:
                out |= codes == code
        return out

    def prices(self) -> NDArray[np.float64]:
        """The price of every row (NaN: unknown; :func:`~digirec.data.schema.coerce_prices`),
        cached per catalogue and read-only."""
        self._require(C.PRICE)
        key = ("price", C.PRICE)
        cache = self._columns
        if key not in cache:
            values = coerce_prices(self.frame[C.PRICE])
            values.flags.writeable = False
            cache[key] = values
        prices: NDArray[np.float64] = cache[key]
        return prices

    def _stock(self) -> NDArray[np.bool_]:
        self._require(C.IN_STOCK)
        key = ("stock", C.IN_STOCK)
        cache = self._columns
        if key not in cache:
            column = self.frame[C.IN_STOCK].astype("boolean").fillna(False)
            cache[key] = column.to_numpy(bool)
        stock: NDArray[np.bool_] = cache[key]
        return stock

    def codes(self, column: str) -> NDArray[np.int64] | None:
        """Integer codes of a categorical column by row (-1 = missing), cached per catalogue."""
        if column not in self.frame.columns:
            return None
        return self._coded(column)[0]

    def card(
        self, row: int
    ) -> tuple[str, str | None, str | None, str | None, float | None, bool | None]:
        """``(item_id, title, brand, category, price, in_stock)`` of a row as a recommendation
        shows them, cached per row (a list names the same popular items again and again)."""
        cache = self._cards
        hit = cache.get(row)
        if hit is None:
            price = self.value(row, C.PRICE)
            stock = self.value(row, C.IN_STOCK)
            hit = (
                str(self.value(row, C.ITEM_ID)),
                _text_or_none(self.value(row, C.TITLE)),
                _text_or_none(self.value(row, C.BRAND)),
                _text_or_none(self.value(row, C.CATEGORY)),
                None if price is None else float(price),
                None if stock is None else bool(stock),
            )
            cache[row] = hit
        return hit

    @cached_property
    def _cards(self) -> dict[int, tuple[Any, ...]]:
        return {}

    def value(self, row: int, column: str) -> Any:
        """One cell as plain JSON (``None`` when the column is missing)."""
        cache = self._columns
        values = cache.get(column)
        if values is None:
            if column not in self.frame.columns:
                return None
            # The column as a Python list (once per catalogue version): a cell read is a list
            # index and json_safe's fast path, not a pandas lookup and a numpy scalar.
            values = cache[column] = self.frame[column].to_numpy().tolist()
        return json_safe(values[row])


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _set_cell(frame: pd.DataFrame, row: int, column: str, value: Any) -> None:
    """Set one cell; a value the column's dtype cannot hold turns the column to object."""
    try:
        frame.at[row, column] = value
    except (TypeError, ValueError):
        frame[column] = frame[column].astype(object)
        frame.at[row, column] = value


def _attribute_neighbour(
    frame: pd.DataFrame, n_model: int, record: dict[str, Any], popularity: NDArray[np.float32]
) -> int:
    """The model item most like ``record``: same category, then same brand, nearest log-price,
    then most popular; ``-1`` when no model item shares its category."""
    category = record.get(C.CATEGORY)
    if category is None or C.CATEGORY not in frame.columns or n_model == 0:
        return -1
    model_part = frame.iloc[:n_model]
    candidates = np.flatnonzero(model_part[C.CATEGORY].astype(object).to_numpy() == category)
    if not len(candidates):
        return -1
    brand = record.get(C.BRAND)
    brand_miss = np.ones(len(candidates))
    if brand is not None and C.BRAND in frame.columns:
        brand_miss = (model_part[C.BRAND].astype(object).to_numpy()[candidates] != brand).astype(
            float
        )
    price_gap = np.zeros(len(candidates))
    price = record.get(C.PRICE)
    if isinstance(price, int | float) and price > 0 and C.PRICE in frame.columns:
        prices = model_part[C.PRICE].to_numpy(dtype=float)[candidates]
        with np.errstate(divide="ignore", invalid="ignore"):
            price_gap = np.abs(np.log(prices) - math.log(price))
        price_gap = np.where(np.isfinite(price_gap), price_gap, np.inf)
    pop = popularity[candidates] if len(popularity) >= n_model else np.zeros(len(candidates))
    order = np.lexsort((candidates, -pop, price_gap, brand_miss))
    return int(candidates[order[0]])


class FilterMask:
    """A request's candidate mask, computed on first use.

    The ANN block path serves a category-and-budget filter from price-sorted category blocks
    without the catalogue-wide mask (two comparisons over every item); other paths ask for it.
    A filter on a column the catalogue lacks is refused at construction (HTTP 422).
    """

    __slots__ = ("_done", "_value", "catalogue", "item_filter")

    def __init__(self, catalogue: Catalogue, item_filter: ItemFilter) -> None:
        self.catalogue = catalogue
        self.item_filter = item_filter
        self._done = False
        self._value: NDArray[np.bool_] | None = None
        f = item_filter
        needed = [
            (f.categories is not None, C.CATEGORY),
            (f.brands is not None, C.BRAND),
            (f.min_price is not None or f.max_price is not None, C.PRICE),
            (f.in_stock is not None, C.IN_STOCK),
        ]
        try:
            for used, column in needed:
                if used:
                    catalogue._require(column)
        except DigirecError as exc:
            raise ServingError(422, "filter_unavailable", str(exc)) from None

    def get(self) -> NDArray[np.bool_] | None:
        """The mask over catalogue rows (``None``: no filter)."""
        if not self._done:
            self._value = self.catalogue.mask(self.item_filter)
            self._done = True
        return self._value
