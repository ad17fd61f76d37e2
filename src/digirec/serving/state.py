"""The serving model holder: the loaded bundle, hot swaps, and per-user real-time state.

:class:`ServingState` owns one immutable :class:`Current` (a :class:`ModelSnapshot` plus the
:class:`Catalogue` aligned with its items). A request reads ``state.current`` once and works on
that object to the end, so a retrain that swaps in a new snapshot never changes the model under a
running request: the swap is one reference assignment under a lock, and the old objects live on
until their last request finishes.

Real time
---------
Events committed after the served model was trained are kept per user in memory (appended only
after their transaction committed). A user with such events is scored from the union of their
training history and the new events through the model's history path (EASE, ItemKNN, ALS fold-in
... react at once) and every item they touched is filtered from their next list. A retrain prunes
exactly the events it was trained on; a restart replays the events newer than the served
bundle's watermark from the store.

New items
---------
An item put into the catalogue that the model has never seen is recommendable at once through
its *attribute neighbour*: the model item of the same category closest in brand and price
(most popular on ties). The new item takes its neighbour's score in every list -- one rank below
it, as ties go to model items -- until a retrain gives it a model index of its own. An item with
no category match takes the lowest score, so it still fills a list when nothing else qualifies
(filters are honoured and ``k`` is met whenever enough items qualify).

Large catalogues
----------------
Factor models (ALS, BPR, MF, SASRec: a score is a query vector times an item vector) whose
catalogue has more than ``ann_threshold`` items serve personalised and session lists through a
FAISS index on the item vectors (:class:`AnnScorer`): the query is the user's vector (or the
vector folded in from their history), the business filters are the index's ``allowed`` mask and
the seen items its per-row exclusions, so a filtered or seen item is never returned and ``k`` is
met whenever enough items qualify. New catalogue items are scored exactly through their
neighbour and merged in. Popular lists and similar items stay exact.

Privacy
-------
:meth:`ServingState.forget_user` removes a user from everything this process holds: real-time
events, the model's rows of that user (training row, weighted row, user factors -- zeroed, the
id stays in the frozen id map until the retrain) and their contribution to the popularity
fallback. The user is then served as unknown. :meth:`ServingState.retrain` rebuilds the model
from the store (where the user's events are gone) and marks the deletions it covers purged.
"""

from __future__ import annotations

import logging
import math
import shutil
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from digirec import columns as C
from digirec.artifacts import Bundle, ItemFilter, load_bundle, read_manifest, save_bundle
from digirec.data.dataset import Dataset
from digirec.data.events import TRAINING_DUPLICATES, DuplicatePolicy, EventWeights
from digirec.evaluation.served import evaluate_for_bundle
from digirec.exceptions import ConfigError, DigirecError, MissingExtraError
from digirec.models.base import FactorModel, FactorQuery, Recommender, factor_model
from digirec.retrieval.filtered import ExactIndex, ItemIndex, make_index
from digirec.retrieval.topk import topk
from digirec.serving.errors import ServingError as ServingError  # re-exported (old import path)
from digirec.serving.settings import ServeSettings
from digirec.store.base import EVENT_ID, Store, StoredEvent, json_safe

log = logging.getLogger("digirec.serving")

PERSONALISED = "personalised"
SESSION = "session"
SIMILAR_ITEMS = "similar_items"
POPULAR_IN_CATEGORY = "popular_in_category"
POPULAR = "popular"
#: Every ``source`` a response can carry.
SOURCES = (PERSONALISED, SESSION, SIMILAR_ITEMS, POPULAR_IN_CATEGORY, POPULAR)

#: How a catalogue row is recommendable (``PUT /v1/items`` reports it).
VIA_MODEL = "model"
VIA_ATTRIBUTES = "attribute_neighbour"
VIA_FLOOR = "lowest_rank"

BUNDLES_DIR = "bundles"
_PROFILE_CACHE_SIZE = 10_000
_WATERMARK_KEY = "bundle_watermark:"
#: Filter masks kept per catalogue (a shop's traffic repeats a few category / price filters).
_MASK_CACHE_SIZE = 512
#: User vectors sampled to calibrate the ANN index's recall on the real query distribution.
_ANN_CALIBRATION_USERS = 512
#: A category filter whose categories hold at most this share of the items is scored exactly
#: on those categories' contiguous vector blocks instead of probing the FAISS index.
_BLOCK_SHARE = 0.35


# ---------------------------------------------------------------------- training
def build_training_dataset(
    interactions: pd.DataFrame,
    *,
    items: pd.DataFrame | None,
    users: pd.DataFrame | None,
    include_catalog_items: bool = True,
    event_weights: EventWeights | None = None,
    duplicates: DuplicatePolicy = TRAINING_DUPLICATES,
    name: str = "store",
) -> Dataset:
    """The dataset a service retrain trains on (the one rule, shared with tests and tools).

    Events are taken in store order (``source_row``); the events of a user-item pair combine
    by the training rule (``Dataset.from_interactions``' default ``"max"``: the pair's
    strongest event, so a purchase after a view counts as a purchase); ``include_catalog_items``
    also indexes catalogue items and users without events.
    """
    frame = interactions.drop(columns=[EVENT_ID], errors="ignore")
    return Dataset.from_interactions(
        frame,
        items=items,
        users=users,
        name=name,
        event_weights=event_weights,
        duplicates=duplicates,
        include_catalog_items=include_catalog_items,
    )


# ---------------------------------------------------------------------- catalogue
def _fix_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    if C.PRICE in frame.columns:
        frame[C.PRICE] = pd.to_numeric(frame[C.PRICE], errors="coerce").astype(float)
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
            price = self._numeric(C.PRICE)
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

    def _numeric(self, column: str) -> NDArray[np.float64]:
        self._require(column)
        key = ("numeric", column)
        cache = self._columns
        if key not in cache:
            cache[key] = pd.to_numeric(self.frame[column], errors="coerce").to_numpy(float)
        values: NDArray[np.float64] = cache[key]
        return values

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


# ---------------------------------------------------------------------- ANN scoring
#: A query of the ANN path: the vector and a constant added to every score of that query.
Query = FactorQuery


class AnnScorer:
    """Approximate top-k of a factor model over its items (FAISS, see the module doc).

    The queries come from the model's own :class:`~digirec.models.base.FactorModel` methods
    (its fold-in, its sequence encoder), so this path and ``score_histories`` never differ.

    Parameters
    ----------
    model:
        A factor model.
    item_vectors:
        ``model.factor_item_vectors()`` (read once per snapshot).
    index:
        An index over ``item_vectors`` (inner product).
    """

    def __init__(
        self, model: FactorModel, item_vectors: NDArray[np.float32], index: ItemIndex
    ) -> None:
        self.model = model
        self.item_vectors = item_vectors
        self.index = index

    @classmethod
    def build(cls, model: Recommender, threshold: int) -> AnnScorer | None:
        """The scorer of a factor model with more than ``threshold`` items, else ``None``.

        The index's search setting is calibrated to recall@10 >= 0.95 on the vectors of up to
        512 of the model's users (the traffic it will serve), not on synthetic queries.
        """
        factors = factor_model(model)
        if model.n_items <= threshold or factors is None:
            return None
        item_vectors = factors.factor_item_vectors()
        started = time.perf_counter()
        calibration: NDArray[np.float32] | None = None
        seen = model.seen_
        active = np.flatnonzero(np.diff(seen.indptr) > 0)
        if len(active):
            rng = np.random.default_rng(model.config.random_state)
            sample = np.sort(rng.choice(active, min(len(active), _ANN_CALIBRATION_USERS), False))
            queries, _ = factors.factor_user_queries(sample)
            queries = queries[np.isfinite(queries).all(axis=1) & (np.abs(queries).sum(axis=1) > 0)]
            calibration = queries if len(queries) else None
        index = make_index(
            item_vectors,
            metric="ip",
            # make_index keeps an exact index below its threshold; here: above ours.
            exact_threshold=threshold + 1,
            random_state=model.config.random_state,
            calibration_queries=calibration,
        )
        if isinstance(index, ExactIndex):  # faiss-cpu missing (make_index warned)
            log.warning("faiss-cpu is not installed: %d items are scored exactly", model.n_items)
            return None
        log.info(
            "ANN index %r over %d items built in %.1f s (calibrated recall@10 %s)",
            index,
            model.n_items,
            time.perf_counter() - started,
            getattr(index, "calibrated_recall_", None),
        )
        return cls(factors, item_vectors, index)

    def user_query(self, user_row: int) -> Query:
        vectors, offsets = self.model.factor_user_queries(np.asarray([user_row], dtype=np.int64))
        return vectors[0], float(offsets[0])

    def history_query(self, item_idx: Sequence[int]) -> Query:
        return self.model.factor_history_query(item_idx)

    def search(
        self,
        query: Query,
        n: int,
        allowed: NDArray[np.bool_] | None,
        excluded: NDArray[np.int64] | None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Up to ``n`` model items, best first, with their scores (offset included)."""
        vector, offset = query
        idx, vals = self.index.search(vector, n, allowed=allowed, exclude_per_row=[excluded])
        found = idx[0] >= 0
        return idx[0][found], (vals[0][found] + np.float32(offset)).astype(np.float32)

    def score_items(self, query: Query, item_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        """Exact scores of a few model items (new items' neighbours)."""
        vector, offset = query
        scores = self.item_vectors[item_idx] @ vector + np.float32(offset)
        return np.asarray(scores, dtype=np.float32)


# ---------------------------------------------------------------------- model snapshot
class ModelSnapshot:
    """One loaded bundle with its version and the state derived from it.

    Only :meth:`forget` changes it, and only by swapping whole arrays (copy-on-write), so a
    request reading a user row never sees a half-written array.
    """

    def __init__(
        self, bundle: Bundle, version: int, path: str | None, *, ann_threshold: int | None = None
    ) -> None:
        self.bundle = bundle
        self.model = bundle.model
        self.version = version
        self.path = path
        self.manifest = bundle.manifest
        seen = self.model.seen_.tocsr()
        self.popularity: NDArray[np.float32] = np.asarray(
            seen.sum(axis=0), dtype=np.float32
        ).ravel()
        self.forgotten: frozenset[str] = frozenset()
        #: FAISS top-k of a factor model over a large catalogue (``None``: exact scoring).
        self.ann: AnnScorer | None = None
        if ann_threshold is not None:
            try:
                self.ann = AnnScorer.build(self.model, ann_threshold)
            except (ImportError, MissingExtraError) as exc:
                log.warning("no ANN index (%s): scoring every item exactly", exc)

    @property
    def trained_at(self) -> str | None:
        return self.manifest.get("trained_at") or self.manifest.get("created_at")

    def user_row(self, user_id: str) -> int | None:
        """The model's index of a user, or ``None`` (unknown or forgotten)."""
        if user_id in self.forgotten:
            return None
        # One hash lookup (~4 us); IdMap.to_internal_masked builds an index from its input
        # first (~0.3 ms per call with a million users).
        try:
            row = self._user_index.get_loc(user_id)
        except KeyError:
            return None
        return row if isinstance(row, int) else None

    @cached_property
    def _user_index(self) -> pd.Index:
        return pd.Index(self.model.user_map_.external_ids, dtype=object)

    def training_items(self, user_row: int | None) -> NDArray[np.int64]:
        if user_row is None:
            return np.empty(0, dtype=np.int64)
        seen = self.model.seen_
        return np.asarray(seen.indices[seen.indptr[user_row] : seen.indptr[user_row + 1]], np.int64)

    @property
    def source(self) -> str | None:
        """The ``source`` of every list of a non-personalised model, ``None`` otherwise."""
        return None if self.model.personalised else self.model.non_personal_source

    def score_user(self, user_row: int) -> NDArray[np.float32]:
        return np.asarray(self.model.score_users([user_row])[0], dtype=np.float32)

    def score_history(self, item_idx: Sequence[int]) -> NDArray[np.float32]:
        return np.asarray(self.model.score_histories([list(item_idx)])[0], dtype=np.float32)

    def score_similar(self, item_row: int) -> NDArray[np.float32]:
        return np.asarray(self.model.score_similar([item_row])[0], dtype=np.float32)

    def forget(self, user_id: str) -> bool:
        """Drop everything the model holds about one user; ``True`` if it knew them.

        The model erases its own per-user state (:meth:`Recommender.forget_users`); the
        snapshot takes the user out of the popularity fallback.
        """
        idx, known = self.model.user_map_.to_internal_masked([user_id])
        self.forgotten = self.forgotten | {user_id}
        if not known[0]:
            return False
        row = int(idx[0])
        seen = self.model.seen_.tocsr()
        items = seen.indices[seen.indptr[row] : seen.indptr[row + 1]]
        popularity = self.popularity.copy()
        np.subtract.at(popularity, items, 1.0)
        self.popularity = np.maximum(popularity, 0.0)
        self.model.forget_users([row])
        return True


@dataclass(frozen=True)
class Current:
    """What one request serves from: a snapshot and the catalogue aligned with it."""

    snapshot: ModelSnapshot
    catalogue: Catalogue

    def popularity(self) -> NDArray[np.float32]:
        """Training popularity per catalogue row (new items: 0, they have no history yet)."""
        extra = self.catalogue.n_rows - self.catalogue.n_model_items
        return np.concatenate([self.snapshot.popularity, np.zeros(extra, dtype=np.float32)])

    @cached_property
    def category_blocks(self) -> dict[Any, CategoryBlock]:
        """Per catalogue category, its model items sorted by price and their vectors in one
        contiguous block (ANN path only; built on first use per catalogue version: one sort
        and one gather of the vectors, ~30 ms at 100,000 items)."""
        ann = self.snapshot.ann
        cat = self.catalogue
        if ann is None or C.CATEGORY not in cat.frame.columns:
            return {}
        n_model = cat.n_model_items
        codes, lookup = cat._coded(C.CATEGORY)
        codes = codes[:n_model]
        if C.PRICE in cat.frame.columns:
            prices = cat._numeric(C.PRICE)[:n_model]
        else:
            prices = np.full(n_model, np.nan)
        # By category, then by price (unknown prices last: no price filter keeps them).
        order = np.lexsort((prices, codes))
        bounds = np.searchsorted(codes[order], np.arange(len(lookup) + 1))
        vectors = ann.item_vectors[order]
        sorted_prices = prices[order]
        ties = self.snapshot.model.tie_ranks_[order]
        blocks: dict[Any, CategoryBlock] = {}
        for value, code in lookup.items():
            lo, hi = int(bounds[code]), int(bounds[code + 1])
            if hi > lo:
                blocks[value] = CategoryBlock(
                    order[lo:hi], vectors[lo:hi], sorted_prices[lo:hi], ties[lo:hi], lo
                )
        positions = np.empty(n_model, dtype=np.int64)
        positions[order] = np.arange(n_model, dtype=np.int64)
        # Set before returning: category_blocks is computed once, and block_positions with it.
        self.__dict__["block_positions"] = positions
        return blocks

    @property
    def block_positions(self) -> NDArray[np.int64]:
        """Per model item, its position in the concatenated category blocks."""
        if "block_positions" not in self.__dict__:
            _ = self.category_blocks
        positions: NDArray[np.int64] = self.__dict__["block_positions"]
        return positions


@dataclass(frozen=True)
class CategoryBlock:
    """The model items of one category sorted by price, with their item vectors, contiguous.

    A price range is a contiguous slice of the block (:meth:`span`), so a budget filter
    shortens the product instead of masking its result.
    """

    rows: NDArray[np.int64]
    vectors: NDArray[np.float32]
    prices: NDArray[np.float64]
    #: The model's tie-break ranks of ``rows``.
    ties: NDArray[np.int64]
    #: Position of the block's first item in the concatenation of all blocks.
    start: int

    def span(self, item_filter: ItemFilter) -> tuple[int, int]:
        """Positions ``[lo, hi)`` whose price passes the filter's price bounds."""
        lo, hi = 0, len(self.rows)
        if item_filter.max_price is not None:
            hi = int(np.searchsorted(self.prices, item_filter.max_price, side="right"))
        elif item_filter.min_price is not None:
            # Unknown (NaN) prices sort last and never pass a price filter.
            hi = int(np.count_nonzero(~np.isnan(self.prices)))
        if item_filter.min_price is not None:
            lo = int(np.searchsorted(self.prices, item_filter.min_price, side="left"))
        return lo, max(lo, hi)


@dataclass(frozen=True)
class Rerank:
    """Re-ranking asked for by a request (digirec.serving.rerank)."""

    diversity: float = 0.0
    exposure: float = 0.0

    @property
    def active(self) -> bool:
        return self.diversity > 0 or self.exposure > 0


NO_RERANK = Rerank()


@dataclass(frozen=True)
class RealtimeEvent:
    """An event committed after the served model was trained."""

    event_id: int
    item_id: str
    event: str
    timestamp: float


@dataclass
class Ranked:
    """A ranked list with everything needed to render it."""

    source: str
    current: Current
    rows: NDArray[np.int64]
    scores: NDArray[np.float32]
    history_rows: list[int] = field(default_factory=list)
    user_id: str | None = None
    strategy: str = VIA_MODEL
    reranked: bool = False
    ignored_item_ids: list[str] = field(default_factory=list)

    @property
    def model_version(self) -> int:
        return self.current.snapshot.version


@dataclass(frozen=True)
class RetrainResult:
    """Outcome of :meth:`ServingState.retrain`."""

    model_version: int
    model: str
    path: str
    n_users: int
    n_items: int
    n_interactions: int
    fit_seconds: float
    purged_deletions: int


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


# ---------------------------------------------------------------------- the state
class RankingEngine:
    """The one ranking path: filters, exclusions, new items, exact / category-block / ANN
    selection and re-ranking, on a :class:`Current` (no store, no request state).

    :class:`ServingState` ranks through it, and so do :meth:`digirec.artifacts.Bundle.recommend`
    (the CLI and the demo) via :func:`recommend_known_users`, so the service and the CLI give
    the same list for the same user and filters.
    """

    # ------------------------------------------------------------------ ranking core
    def _extend(self, current: Current, model_scores: NDArray[np.float32]) -> NDArray[np.float32]:
        """Scores of every catalogue row: model items' own, new items' via their neighbour."""
        cat = current.catalogue
        out = np.empty(cat.n_rows, dtype=np.float32)
        n_model = cat.n_model_items
        out[:n_model] = model_scores
        if cat.n_rows > n_model:
            proxies = cat.proxies[n_model:]
            has = proxies >= 0
            finite = model_scores[np.isfinite(model_scores)]
            floor = float(finite.min()) - 1.0 if finite.size else 0.0
            extra = np.full(len(proxies), floor, dtype=np.float32)
            extra[has] = model_scores[proxies[has]]
            out[n_model:] = extra
        return out

    def _select(
        self,
        current: Current,
        scores: NDArray[np.float32],
        k: int,
        candidates: NDArray[np.bool_] | None,
        exclude: NDArray[np.bool_] | None,
        rerank: Rerank,
    ) -> tuple[NDArray[np.int64], NDArray[np.float32], bool]:
        cat = current.catalogue
        scores = np.array(scores, dtype=np.float32, copy=True)
        scores[~np.isfinite(scores)] = np.float32(np.finfo(np.float32).min)
        if candidates is not None:
            scores[~candidates] = -np.inf
        if exclude is not None:
            scores[exclude] = -np.inf
        model = current.snapshot.model
        ties = np.concatenate(
            [model.tie_ranks_, np.arange(len(model.tie_ranks_), cat.n_rows, dtype=np.int64)]
        )
        if rerank.active:
            # Re-rank a pool of the best candidates (all of them pass the filters).
            pool_k = min(cat.n_rows, max(5 * k, 50))
            pool, pool_scores = topk(scores[None, :], pool_k, ties)
            valid = pool[0] >= 0
            rows, vals, applied = _rerank(current, pool[0][valid], pool_scores[0][valid], k, rerank)
            if applied:
                return rows, vals, True
        items, vals = topk(scores[None, :], k, ties)
        valid = items[0] >= 0
        return items[0][valid], vals[0][valid], False

    def _personal(
        self,
        current: Current,
        k: int,
        candidates: FilterMask,
        exclude: NDArray[np.bool_],
        excluded: NDArray[np.int64],
        rerank: Rerank,
        *,
        user_row: int | None = None,
        history: Sequence[int] | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float32], bool]:
        """The model's list for a user row or a history: exact, or through the ANN index.

        ``exclude`` and ``excluded`` are the same exclusions as a mask over catalogue rows and
        as row indices (the ANN path reads the indices, the exact path the mask).
        """
        snap = current.snapshot
        if snap.ann is not None:
            if history is not None:
                query = snap.ann.history_query(history)
            else:
                assert user_row is not None
                query = snap.ann.user_query(user_row)
            return self._select_ann(
                current, snap.ann, query, k, candidates, exclude, excluded, rerank
            )
        if history is not None:
            scores = snap.score_history(history)
        else:
            assert user_row is not None
            scores = snap.score_user(user_row)
        return self._select(
            current, self._extend(current, scores), k, candidates.get(), exclude, rerank
        )

    def _select_ann(
        self,
        current: Current,
        ann: AnnScorer,
        query: Query,
        k: int,
        candidates: FilterMask,
        exclude: NDArray[np.bool_],
        excluded: NDArray[np.int64],
        rerank: Rerank,
    ) -> tuple[NDArray[np.int64], NDArray[np.float32], bool]:
        """:meth:`_select` through the index: the same filters, exclusions, ties and new items.

        The index returns the best model items passing ``candidates`` and not in ``exclude``.
        A category filter whose categories hold at most ``_BLOCK_SHARE`` of the items is
        scored exactly on those categories' vector blocks instead: the typical shop request
        (one category and a budget) costs one small matrix-vector product, less than probing
        the index, whose search widens as a filter narrows. New catalogue rows that qualify are
        scored exactly through their neighbour and merged in (ties go to model items, as in
        the exact path); rows without a neighbour rank below everything and only fill a list
        that is short.
        """
        cat = current.catalogue
        n_model = cat.n_model_items
        n = min(cat.n_rows, max(5 * k, 50)) if rerank.active else k
        item_filter = candidates.item_filter
        model_excluded = excluded[excluded < n_model]
        found: tuple[NDArray[np.int64], NDArray[np.float32]] | None = None
        if item_filter.categories:
            table = current.category_blocks
            blocks = [table[c] for c in dict.fromkeys(item_filter.categories) if c in table]
            if sum(len(b.rows) for b in blocks) <= _BLOCK_SHARE * n_model:
                found = self._block_search(
                    current, blocks, item_filter, query, n, candidates, model_excluded
                )
        if found is None:
            mask = candidates.get()
            allowed = None if mask is None else mask[:n_model]
            found = ann.search(query, n, allowed, model_excluded)
        rows, scores = found
        ties = current.snapshot.model.tie_ranks_[rows]
        if cat.n_rows > n_model:
            extra = np.arange(n_model, cat.n_rows, dtype=np.int64)
            keep = ~exclude[n_model:]
            mask = candidates.get()
            if mask is not None:
                keep &= mask[n_model:]
            extra = extra[keep]
            proxies = cat.proxies[extra]
            has = proxies >= 0
            near, low = extra[has], extra[~has]
            near_scores = ann.score_items(query, proxies[has])
            if len(near_scores) and len(rows):
                # A neighbour already found keeps one score for both rows (an exact tie, as
                # in the exact path), whatever rounding the index or block product gave it.
                known = dict(zip(rows.tolist(), scores.tolist(), strict=True))
                near_scores = np.asarray(
                    [
                        known.get(p, v)
                        for p, v in zip(proxies[has].tolist(), near_scores.tolist(), strict=True)
                    ],
                    dtype=np.float32,
                )
            pool = np.concatenate([scores, near_scores])
            floor = np.float32((float(pool.min()) if pool.size else query[1]) - 1.0)
            rows = np.concatenate([rows, near, low])
            scores = np.concatenate([scores, near_scores, np.full(len(low), floor, np.float32)])
            # New rows lose ties to model items (the exact path ranks them after tie_ranks_).
            ties = np.concatenate([ties, near, low])
        order = np.lexsort((ties, -scores))[:n]
        rows, scores = rows[order], scores[order]
        if rerank.active:
            out, vals, applied = _rerank(current, rows, scores, k, rerank)
            if applied:
                return out, vals, True
        return rows[:k], scores[:k], False

    @staticmethod
    def _block_search(
        current: Current,
        blocks: list[CategoryBlock],
        item_filter: ItemFilter,
        query: Query,
        n: int,
        candidates: FilterMask,
        excluded: NDArray[np.int64],
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Exact top-``n`` over a few category blocks: the filter's price range is a slice of
        each block; other conditions are applied as a mask, and the excluded model rows
        (``excluded``) are found in the slices through their block positions."""
        spans = [b.span(item_filter) for b in blocks]
        parts = [(b, lo, hi) for b, (lo, hi) in zip(blocks, spans, strict=True) if hi > lo]
        if not parts:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        vector, offset = query
        if len(parts) == 1:
            block, lo, hi = parts[0]
            rows, ties = block.rows[lo:hi], block.ties[lo:hi]
            scores = block.vectors[lo:hi] @ vector
        else:
            rows = np.concatenate([b.rows[lo:hi] for b, lo, hi in parts])
            ties = np.concatenate([b.ties[lo:hi] for b, lo, hi in parts])
            scores = np.concatenate([b.vectors[lo:hi] @ vector for b, lo, hi in parts])
        scores = np.asarray(scores, dtype=np.float32)
        if offset:
            scores += np.float32(offset)
        # Category and price hold by construction; any other condition is checked per row.
        if (
            item_filter.brands is not None
            or item_filter.in_stock is not None
            or (not item_filter.include_unavailable and current.catalogue.available is not None)
        ):
            mask = candidates.get()
            if mask is not None:
                scores[~mask[rows]] = -np.inf
        if len(excluded):
            # Global block positions of the excluded rows -> positions in the scored slices.
            where = current.block_positions[excluded]
            offset_in_scores = 0
            for block, lo, hi in parts:
                first = block.start + lo
                inside = where[(where >= first) & (where < block.start + hi)]
                scores[inside - first + offset_in_scores] = -np.inf
                offset_in_scores += hi - lo
        idx, vals = topk(scores[None, :], n, ties)
        keep = idx[0] >= 0
        return rows[idx[0][keep]], vals[0][keep]

    def _rows_of(self, current: Current, item_ids: Sequence[str]) -> NDArray[np.int64]:
        positions = current.catalogue.positions
        return np.asarray([positions[i] for i in item_ids if i in positions], dtype=np.int64)

    def _model_idx(self, current: Current, rows: NDArray[np.int64]) -> list[int]:
        """Catalogue rows as model item indices (new items through their neighbour)."""
        proxies = current.catalogue.proxies[rows] if len(rows) else rows
        return [int(p) for p in proxies if p >= 0]

    def _popular(
        self,
        current: Current,
        k: int,
        item_filter: ItemFilter,
        candidates: NDArray[np.bool_] | None,
        exclude: NDArray[np.bool_] | None,
        rerank: Rerank,
        history_rows: list[int] | None = None,
    ) -> Ranked:
        scores = self._extend(current, current.snapshot.popularity)
        rows, vals, applied = self._select(current, scores, k, candidates, exclude, rerank)
        source = POPULAR_IN_CATEGORY if item_filter.categories else POPULAR
        return Ranked(source, current, rows, vals, history_rows or [], reranked=applied)

    def _mask(self, cat: Catalogue, item_filter: ItemFilter) -> NDArray[np.bool_] | None:
        try:
            return cat.mask(item_filter)
        except DigirecError as exc:  # the catalogue lacks a filtered column
            raise ServingError(422, "filter_unavailable", str(exc)) from None

    def recommend_known(
        self,
        current: Current,
        user_row: int,
        k: int,
        item_filter: ItemFilter,
        *,
        filter_seen: bool = True,
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Top-``k`` catalogue rows and scores of a known user from the model alone (the
        training items excluded with ``filter_seen``): what the service answers for a user
        without real-time events."""
        cat = current.catalogue
        candidates = FilterMask(cat, item_filter)
        candidates.get()  # a missing filter column is a 422 / error now, not later
        excluded = (
            current.snapshot.training_items(user_row)
            if filter_seen
            else np.empty(0, dtype=np.int64)
        )
        exclude = np.zeros(cat.n_rows, dtype=bool)
        exclude[excluded] = True
        rows, vals, _ = self._personal(
            current, k, candidates, exclude, excluded, NO_RERANK, user_row=user_row
        )
        return rows, vals


class ServingState(RankingEngine):
    """Loaded model, catalogue, real-time histories and retraining of one service process.

    Parameters
    ----------
    settings:
        Service settings (bundle path, state folder, limits).
    store:
        The opened store.
    """

    def __init__(self, settings: ServeSettings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._lock = threading.RLock()
        self._retrain_lock = threading.Lock()
        self._current: Current | None = None
        self._realtime: dict[str, deque[RealtimeEvent]] = {}
        self._search_cache: tuple[Catalogue, Any] | None = None
        self._search_lock = threading.Lock()
        self._search_encoder: Any = None
        self._purge_threads: list[threading.Thread] = []
        #: Event batches refused since start because they named a deleted user.
        self.n_refused_batches = 0
        #: Operational problems since start (corrupt bundles, failed removals), newest last.
        self.problems: list[str] = []
        #: Called with the seconds of every finished retrain (the app's metrics).
        self.on_retrain: list[Callable[[float], None]] = []
        # Per-user profiles for explanations, keyed by (model version, last real-time event id).
        self._forget_generation = 0
        self._forgotten_through: dict[str, int] = {}
        self._profiles: OrderedDict[str, tuple[tuple[int, int], dict[str, Any] | None]] = (
            OrderedDict()
        )

    # ------------------------------------------------------------------ lifecycle
    @property
    def current(self) -> Current:
        current = self._current
        if current is None:
            raise ServingError(503, "not_ready", "no model is loaded yet")
        return current

    @property
    def is_loaded(self) -> bool:
        return self._current is not None

    def start(self) -> None:
        """Load the newest bundle, align the catalogue, replay real-time events, re-forget."""
        path, version = self._bundle_to_load()
        bundle = load_bundle(path)
        snapshot = ModelSnapshot(
            bundle, version, str(path), ann_threshold=self.settings.ann_threshold
        )
        watermark = self._watermark(bundle, path)
        with self._lock:
            catalogue = Catalogue.build(
                snapshot.model, bundle.items, self.store.items_frame(), snapshot.popularity
            )
            self._current = Current(snapshot, catalogue)
            self._realtime.clear()
        # Deletions the loaded bundle predates: forget those users again.
        covered = int(bundle.manifest.get("deletion_seq", 0))
        pending_immediate = False
        for record in self.store.deletions(after_seq=covered):
            snapshot.forget(record.user_id)
            pending_immediate |= record.status == "pending" and record.purge == "immediate"
        replay = self.store.interactions_frame(after_id=watermark)
        self.record_events(_stored_events(replay))
        log.info(
            "serving %s v%d from %s (%d real-time events replayed)",
            snapshot.model.name,
            version,
            path,
            len(replay),
        )
        if pending_immediate:  # a purge interrupted by a restart: finish it
            self.purge_in_background()
        self._warm_up()

    def _warm_up(self) -> None:
        """Serve one explained list before readiness: lazy imports, the explainer's catalogue
        view and the profile featuriser are built now, not in the first shopper's request
        (seconds on a loaded machine)."""
        started = time.perf_counter()
        try:
            snapshot = self.current.snapshot
            seen = snapshot.model.seen_.tocsr()
            if not seen.nnz:
                return
            row = int(np.argmax(np.diff(seen.indptr)))
            user_id = str(snapshot.model.user_map_.to_external(np.asarray([row]))[0])
            ranked = self.recommend_user(user_id, 10, ItemFilter())
            self.explain(ranked)
            self.cached_profile(user_id)
        except Exception:  # a warm-up failure must not stop the service; requests will tell
            log.exception("warm-up failed")
        log.info("warm-up in %.2f s", time.perf_counter() - started)

    def _bundle_to_load(self) -> tuple[Path, int]:
        given = self.settings.bundle_path
        best: tuple[int, Path] | None = None
        if given is not None:
            manifest = load_bundle_manifest(Path(given))
            best = (int(manifest.get("model_version", 1)), Path(given))
        for candidate in sorted((self.settings.state_dir / BUNDLES_DIR).glob("v*")):
            try:
                manifest = load_bundle_manifest(candidate)
            except (OSError, ValueError, ConfigError) as exc:
                self._problem(f"skipped a corrupt bundle {candidate}: {exc}")
                continue
            version = int(manifest.get("model_version", 0))
            if best is None or version > best[0]:
                best = (version, candidate)
        if best is None:
            raise ServingError(
                503, "no_bundle", "no model bundle: set DIGIREC_BUNDLE_PATH or --bundle"
            )
        return best[1], best[0]

    def _watermark(self, bundle: Bundle, path: Path) -> int:
        """Largest store event id the bundle was trained on (events after it are real-time).

        Retrained bundles record it; for a bundle trained elsewhere it is remembered the first
        time it is served (every event in the store then counts as its training data).
        """
        if "store_event_watermark" in bundle.manifest:
            return int(bundle.manifest["store_event_watermark"])
        key = _WATERMARK_KEY + _fingerprint(bundle, path)
        stored = self.store.get_meta(key)
        if stored is not None:
            return int(stored)
        value = self.store.max_event_id()
        self.store.set_meta(key, str(value))
        return value

    def _problem(self, message: str) -> None:
        """Log an operational problem and keep it for ``/v1/model`` (the latest 20)."""
        log.error("%s", message)
        with self._lock:
            self.problems = [*self.problems[-19:], message]

    def wait_for_purges(self, timeout: float = 60.0) -> None:
        """Join background purge threads (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        for thread in list(self._purge_threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------ real time
    def record_events(self, events: Sequence[StoredEvent]) -> None:
        """Append committed events to their users' real-time histories."""
        if not events:
            return
        limit = self.settings.history_limit
        with self._lock:
            for e in events:
                if e.event_id <= self._forgotten_through.get(e.user_id, 0):
                    continue
                queue = self._realtime.get(e.user_id)
                if queue is None:
                    queue = self._realtime[e.user_id] = deque(maxlen=limit)
                queue.append(RealtimeEvent(e.event_id, e.item_id, e.event, e.timestamp))

    @property
    def n_realtime_users(self) -> int:
        """Users with real-time events held in memory."""
        return len(self._realtime)

    def count_refused(self, n_users: int) -> None:
        """Count a batch refused because of deleted users (the store keeps the durable count
        of refused events per tombstone; this one feeds ``/metrics``)."""
        with self._lock:
            self.n_refused_batches += 1

    def realtime_events(self, user_id: str) -> list[RealtimeEvent]:
        """The user's events since the served model was trained, oldest first.

        Read without the state lock: the recommendation endpoint runs this on the event loop,
        which must not wait while a retrain holds the lock to swap models (seconds for a large
        catalogue). ``dict.get`` and ``deque.copy`` are single C calls under the GIL (writers
        replace or append under the lock), so the copy is one consistent state of the queue.
        """
        queue = self._realtime.get(user_id)
        if queue is None:
            return []
        try:
            return list(queue.copy())
        except RuntimeError:  # mutated mid-copy (a finaliser let a writer run): use the lock
            with self._lock:
                return list(self._realtime.get(user_id, ()))

    def knows_item(self, item_id: str) -> bool:
        return item_id in self.current.catalogue.positions

    # ------------------------------------------------------------------ public recommenders
    def recommend_user(
        self,
        user_id: str,
        k: int,
        item_filter: ItemFilter,
        *,
        exclude_seen: bool = True,
        exclude_purchased: bool = True,
        rerank: Rerank = NO_RERANK,
    ) -> Ranked:
        """Top-``k`` for a user: personalised when the model or real-time events know them,
        else popular (popular_in_category under a category filter)."""
        current = self.current
        snap, cat = current.snapshot, current.catalogue
        candidates = FilterMask(cat, item_filter)
        user_row = snap.user_row(user_id)
        trained = snap.training_items(user_row)
        recent = self.realtime_events(user_id)
        recent_rows = self._rows_of(current, [e.item_id for e in recent])
        exclude = np.zeros(cat.n_rows, dtype=bool)
        excluded = np.empty(0, dtype=np.int64)
        if exclude_seen:
            excluded = np.concatenate([trained, recent_rows])
        elif exclude_purchased:
            purchases = self.store.user_events(user_id)
            bought = purchases.loc[purchases[C.EVENT] == "purchase", C.ITEM_ID].astype(str)
            excluded = self._rows_of(current, bought.tolist())
        exclude[excluded] = True
        history = [*trained.tolist(), *self._model_idx(current, recent_rows)]
        model = snap.model
        fixed_source = snap.source
        if not history and (user_row is None or not len(trained)):
            return self._popular(current, k, item_filter, candidates.get(), exclude, rerank)
        if recent and model.supports_history:
            rows, vals, applied = self._personal(
                current, k, candidates, exclude, excluded, rerank, history=history
            )
        elif user_row is not None:
            rows, vals, applied = self._personal(
                current, k, candidates, exclude, excluded, rerank, user_row=user_row
            )
        else:  # only real-time events and a model that cannot fold them in
            return self._popular(current, k, item_filter, candidates.get(), exclude, rerank)
        source = fixed_source if fixed_source is not None else PERSONALISED
        return Ranked(source, current, rows, vals, history, user_id, reranked=applied)

    def recommend_session(
        self,
        item_ids: Sequence[str],
        k: int,
        item_filter: ItemFilter,
        *,
        exclude_seen: bool = True,
        rerank: Rerank = NO_RERANK,
    ) -> Ranked:
        """Top-``k`` for an anonymous session given as item ids (oldest first)."""
        current = self.current
        cat = current.catalogue
        candidates = FilterMask(cat, item_filter)
        rows = self._rows_of(current, item_ids)
        ignored = [i for i in item_ids if i not in cat.positions]
        exclude = np.zeros(cat.n_rows, dtype=bool)
        excluded = rows if exclude_seen else np.empty(0, dtype=np.int64)
        exclude[excluded] = True
        history = self._model_idx(current, rows)
        model = current.snapshot.model
        if not history or not model.supports_history:
            ranked = self._popular(
                current, k, item_filter, candidates.get(), exclude, rerank, history
            )
            ranked.ignored_item_ids = ignored
            return ranked
        source = current.snapshot.source or SESSION
        out, vals, applied = self._personal(
            current, k, candidates, exclude, excluded, rerank, history=history
        )
        return Ranked(
            source,
            current,
            out,
            vals,
            history,
            reranked=applied,
            ignored_item_ids=ignored,
        )

    def similar(self, item_id: str, k: int, item_filter: ItemFilter) -> Ranked:
        """Items similar to one item (new items: their attribute neighbour and its neighbours)."""
        current = self.current
        cat = current.catalogue
        row = cat.positions.get(item_id)
        if row is None:
            raise ServingError(404, "unknown_item", f"unknown item id {item_id!r}", "item_id")
        candidates = self._mask(cat, item_filter)
        exclude = np.zeros(cat.n_rows, dtype=bool)
        exclude[row] = True
        anchor = int(cat.proxies[row])
        if anchor < 0:
            category = cat.value(row, C.CATEGORY)
            scoped = (
                ItemFilter(**{**vars(item_filter), "categories": [category]})
                if category
                else item_filter
            )
            return self._popular(current, k, scoped, self._mask(cat, scoped), exclude, NO_RERANK)
        scores = current.snapshot.score_similar(anchor)
        strategy = VIA_MODEL
        if anchor != row:  # a new item: its neighbour is the closest match
            finite = scores[np.isfinite(scores)]
            scores[anchor] = (float(finite.max()) if finite.size else 0.0) + 1.0
            strategy = VIA_ATTRIBUTES
        source = current.snapshot.source or SIMILAR_ITEMS
        rows, vals, _ = self._select(
            current, self._extend(current, scores), k, candidates, exclude, NO_RERANK
        )
        return Ranked(source, current, rows, vals, [anchor], strategy=strategy)

    def user_scores(self, user_id: str) -> NDArray[np.float32] | None:
        """Unfiltered scores of every catalogue row for a user (``None`` if nothing is known)."""
        current = self.current
        snap = current.snapshot
        user_row = snap.user_row(user_id)
        recent = self.realtime_events(user_id)
        recent_rows = self._rows_of(current, [e.item_id for e in recent])
        history = [*snap.training_items(user_row).tolist(), *self._model_idx(current, recent_rows)]
        if recent and history and snap.model.supports_history:
            return self._extend(current, snap.score_history(history))
        if user_row is not None and len(snap.training_items(user_row)):
            return self._extend(current, snap.score_user(user_row))
        return None

    # ------------------------------------------------------------------ catalogue writes
    def upsert_item(self, record: dict[str, Any]) -> tuple[bool, str, str | None]:
        """Apply a committed catalogue write; returns ``(created, via, neighbour item id)``."""
        with self._lock:
            current = self.current
            catalogue, created, via, proxy = current.catalogue.with_item(
                record, current.snapshot.popularity
            )
            self._current = Current(current.snapshot, catalogue)
            self._search_cache = None
        neighbour = None
        if via == VIA_ATTRIBUTES:
            neighbour = str(catalogue.frame[C.ITEM_ID].iat[proxy])
        return created, via, neighbour

    def remove_item(self, item_id: str) -> bool:
        """Apply a committed catalogue deletion: a model item stays as a hidden row (the
        model still has it until the retrain), a new item is hidden too. ``False`` when the
        served catalogue does not have it."""
        with self._lock:
            current = self.current
            row = current.catalogue.positions.get(item_id)
            if row is None:
                return False
            record = {C.ITEM_ID: item_id, C.HIDDEN: True}
            catalogue, _, _, _ = current.catalogue.with_item(record, current.snapshot.popularity)
            self._current = Current(current.snapshot, catalogue)
            self._search_cache = None
        return True

    # ------------------------------------------------------------------ privacy
    def forget_user(self, user_id: str) -> None:
        """Remove a user from every in-memory structure at once (the store is done already)."""
        with self._lock:
            self._realtime.pop(user_id, None)
            self._profiles.pop(user_id, None)
            self._forget_generation += 1
            # An event committed before the deletion (and deleted with it) may still be on its
            # way to record_events: anything of this user up to here is dropped there.
            self._forgotten_through[user_id] = self.store.max_event_id()
            self.current.snapshot.forget(user_id)

    def purge_in_background(self) -> threading.Thread:
        """Retrain now in a background thread (``purge=immediate``)."""

        def run() -> None:
            try:
                self.retrain(reason="privacy purge")
            except Exception as exc:  # the deletion stays pending for the next retrain
                log.exception("background purge retrain failed")
                self._problem(f"privacy purge retrain failed ({type(exc).__name__}: {exc})")

        thread = threading.Thread(target=run, name="digirec-purge", daemon=True)
        self._purge_threads = [t for t in self._purge_threads if t.is_alive()] + [thread]
        thread.start()
        return thread

    # ------------------------------------------------------------------ retrain + swap
    def retrain(self, *, reason: str = "admin") -> RetrainResult:
        """Train on the store's data with the served model's config and swap atomically.

        Requests running during the fit keep serving the old snapshot; the swap is a single
        reference assignment. Deletions committed before the data snapshot are marked purged
        with the new model version; later ones are forgotten in the new snapshot.
        """
        from digirec.models.registry import create_model

        with self._retrain_lock:
            retrain_started = time.perf_counter()
            old = self.current.snapshot
            data = self.store.snapshot()
            if data.interactions.empty:
                raise ServingError(409, "no_data", "the store has no events to train on")
            name = self.settings.retrain_model or old.model.name
            params = self.settings.retrain_params
            if params is None:
                params = old.model.get_config() if name == old.model.name else {}
            # The served bundle's training spec: the same event weights, half-life and pair
            # rule as the bundle was trained with (defaults only for a bundle without one).
            spec = old.bundle.spec.training
            weights = (
                spec.event_weights
                if spec is not None and spec.event_weights is not None
                else EventWeights()
            )
            duplicates: DuplicatePolicy = (
                spec.duplicates
                if spec is not None and spec.duplicates is not None
                else TRAINING_DUPLICATES
            )
            dataset = build_training_dataset(
                data.interactions,
                items=data.items,
                users=data.users,
                include_catalog_items=self.settings.include_catalog_items,
                event_weights=weights,
                duplicates=duplicates,
            )
            started = time.perf_counter()
            model = create_model(name, dict(params)).fit(dataset)
            fit_seconds = time.perf_counter() - started
            version = max(old.version, self._newest_version_on_disk()) + 1
            trained_at = datetime.now(UTC).isoformat(timespec="seconds")
            extra = {
                "model_version": version,
                "trained_at": trained_at,
                "store_event_watermark": int(data.event_ids.max()) if len(data.event_ids) else 0,
                "deletion_seq": data.deletion_seq,
                "reason": reason,
                "fit_seconds": fit_seconds,
                "training": {
                    "include_catalog_items": self.settings.include_catalog_items,
                    "event_weights": weights.model_dump(mode="json"),
                    # The rule the Dataset actually applied (recorded, not assumed).
                    "duplicates": dataset.stats.duplicates if dataset.stats else duplicates,
                    "source": f"store:{self.store.backend}",
                },
            }
            out = self._write_bundle(model, dataset, version, extra)
            # The held-out score of the new version, for the dashboard (one more fit).
            evaluate_for_bundle(model, dataset, out)
            manifest = load_bundle_manifest(out)
            snapshot = ModelSnapshot(
                Bundle(model, dataset.items, manifest),
                version,
                str(out),
                ann_threshold=self.settings.ann_threshold,
            )
            with self._lock:
                # Deletions committed while training: the new model still has those users.
                for record in self.store.deletions(after_seq=data.deletion_seq):
                    snapshot.forget(record.user_id)
                catalogue = Catalogue.build(
                    model, dataset.items, self.store.items_frame(), snapshot.popularity
                )
                trained = data.event_ids
                for user_id, queue in list(self._realtime.items()):
                    kept = [e for e in queue if not _contains(trained, e.event_id)]
                    if kept:
                        self._realtime[user_id] = deque(kept, maxlen=queue.maxlen)
                    else:
                        del self._realtime[user_id]
                self._current = Current(snapshot, catalogue)
                self._search_cache = None
            purged = self.store.mark_purged(up_to_seq=data.deletion_seq, model_version=version)
            self._prune_bundles(keep=out)
            log.info("retrained %s -> v%d (%s), %d deletions purged", name, version, reason, purged)
            for callback in self.on_retrain:
                callback(time.perf_counter() - retrain_started)
            return RetrainResult(
                model_version=version,
                model=name,
                path=str(out),
                n_users=dataset.n_users,
                n_items=dataset.n_items,
                n_interactions=dataset.n_interactions,
                fit_seconds=fit_seconds,
                purged_deletions=purged,
            )

    def _prune_bundles(self, keep: Path) -> None:
        """Remove superseded retrained bundles: they may hold users deleted since (privacy).

        Only ``state_dir/bundles`` is touched; the bundle given with ``--bundle`` is the
        operator's file and stays (a restart serves the newest version, never an older one).
        """
        for candidate in (self.settings.state_dir / BUNDLES_DIR).glob("v*"):
            if candidate.resolve() != keep.resolve() and candidate.is_dir():
                try:
                    shutil.rmtree(candidate)
                except OSError as exc:
                    # A superseded bundle may still hold deleted users: never a silent failure.
                    self._problem(f"could not remove superseded bundle {candidate}: {exc}")

    def _newest_version_on_disk(self) -> int:
        newest = 0
        for candidate in (self.settings.state_dir / BUNDLES_DIR).glob("v*"):
            try:
                newest = max(newest, int(load_bundle_manifest(candidate).get("model_version", 0)))
            except (OSError, ValueError, ConfigError):
                continue  # reported by _bundle_to_load
        return newest

    def _write_bundle(
        self, model: Recommender, dataset: Dataset, version: int, extra: dict[str, Any]
    ) -> Path:
        root = self.settings.state_dir / BUNDLES_DIR
        root.mkdir(parents=True, exist_ok=True)
        final = root / f"v{version:05d}"
        partial = root / f".v{version:05d}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        save_bundle(model, dataset, partial, extra=extra)
        # A complete bundle appears under its final name in one rename (never half-written).
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        return final

    # ------------------------------------------------------------------ search / profile
    def search_engine(self) -> tuple[Current, Any]:
        """The product search over the current catalogue (built on first use per catalogue).

        The index is rebuilt lazily after a catalogue change; a neural encoder is loaded once
        and reused (its embedding cache makes unchanged items cheap), TF-IDF is refitted.
        """
        from digirec.features.text import TfidfEncoder
        from digirec.search import ProductSearch

        current = self.current
        cached = self._search_cache
        if cached is not None and cached[0] is current.catalogue:
            return current, cached[1]
        with self._search_lock:
            cached = self._search_cache
            if cached is not None and cached[0] is current.catalogue:
                return current, cached[1]
            encoder = self._search_encoder
            if encoder is None and self.settings.search_encoder == "tfidf":
                encoder = TfidfEncoder(dim=128)
            engine = ProductSearch(
                current.catalogue.frame,
                encoder=encoder,
                currency=self.settings.catalogue_currency,
                exchange_rates=self.settings.currency_rates,
            )
            if not isinstance(engine.encoder, TfidfEncoder):
                self._search_encoder = engine.encoder
            self._search_cache = (current.catalogue, engine)
        return current, engine

    def profile(self, user_id: str) -> dict[str, Any]:
        """The user's profile built from their events in the store (features/profile.py)."""
        from digirec.features.profile import build_profiles

        events = self.store.user_events(user_id)
        user = self.store.get_user(user_id)
        if events.empty and user is None:
            raise ServingError(404, "unknown_user", f"unknown user id {user_id!r}", "user_id")
        users = pd.DataFrame([user if user is not None else {C.USER_ID: user_id}])
        from digirec.features.catalog import ItemFeatures

        # Only the rows of the user's items, featurised by a featuriser fitted once per
        # catalogue version on the whole catalogue (the same vocabularies and price bands as
        # featurising everything, without reading and encoding 100,000 items per profile).
        catalogue = self.current.catalogue
        positions = catalogue.positions
        mine = [positions[i] for i in pd.unique(events[C.ITEM_ID].astype(str)) if i in positions]
        dataset = Dataset.from_interactions(
            events.drop(columns=[EVENT_ID]),
            items=catalogue.frame.iloc[mine],
            users=users,
            include_catalog_items=True,
            duplicates="keep",
        )
        features = None
        if dataset.items is not None:
            features = ItemFeatures.from_featurizer(
                catalogue.profile_featurizer, dataset.items.reset_index(drop=True)
            )
        profiles = build_profiles(dataset, EventWeights(), now=time.time(), item_features=features)
        return dict(profiles.profile(user_id))

    # ------------------------------------------------------------------ explanations
    def explain(self, ranked: Ranked) -> list[dict[str, Any]]:
        """One explanation per ranked row: from digirec.explain when available, else a plain
        statement of the source (so a reason is never missing and never invented)."""
        cat = ranked.current.catalogue
        n_model = cat.n_model_items
        out: list[dict[str, Any]] = [_basic_explanation(ranked, int(r)) for r in ranked.rows]
        model_pos = [i for i, r in enumerate(ranked.rows) if r < n_model]
        if not model_pos:
            return out
        from digirec.explain import ExplanationContext, explain_items

        history = list(ranked.history_rows)
        events: list[str | None] | None = None
        loader: Callable[[], dict[str, Any] | None] | None = None
        if ranked.user_id is not None and ranked.source == PERSONALISED:
            history, events = self._chronological_history(ranked)
            user_id = ranked.user_id

            def loader() -> dict[str, Any] | None:
                return self.cached_profile(user_id)

        try:
            context = ExplanationContext(
                model=ranked.current.snapshot.model,
                # The whole frame (stable per catalogue): the explainer aligns it by item_id
                # once and caches the view.
                items=cat.frame,
                history_idx=np.asarray(history, dtype=np.int64),
                profile=None,
                source=ranked.source,
                history_events=events,
                profile_loader=loader,
            )
            explained = explain_items(context, ranked.rows[model_pos])
        except Exception:  # an explanation failure must not fail the recommendation
            log.exception("explain_items failed; falling back to source statements")
            return out
        for pos, exp in zip(model_pos, explained, strict=False):
            out[pos] = {
                "text": exp.text,
                "text_zh": exp.text_zh,
                "kind": exp.kind,
                "evidence_item_ids": [str(i) for i in exp.evidence_item_ids],
            }
        return out

    def _chronological_history(self, ranked: Ranked) -> tuple[list[int], list[str | None] | None]:
        """The whole history the model scored (``ranked.history_rows``), oldest first, with
        the event type of each item's latest stored event: a reason cites what the score came
        from, not a recent window of it."""
        assert ranked.user_id is not None
        scored = set(ranked.history_rows)
        frame = self.store.user_events(ranked.user_id)
        proxies = ranked.current.catalogue.proxies
        positions = ranked.current.catalogue.positions
        idx: list[int] = []
        kinds: list[str | None] = []
        for item, kind in zip(
            frame[C.ITEM_ID].astype(str), frame[C.EVENT].astype(str), strict=True
        ):
            row = positions.get(item)
            if row is not None and proxies[row] >= 0 and int(proxies[row]) in scored:
                idx.append(int(proxies[row]))
                kinds.append(kind)
        # Items the model scored that the store has no event for (a bundle trained elsewhere)
        # count too, before the stored ones (they are older than the store's log).
        stored = set(idx)
        missing = [int(r) for r in dict.fromkeys(ranked.history_rows) if int(r) not in stored]
        if not idx:
            return list(ranked.history_rows), None
        return [*missing, *idx], [*([None] * len(missing)), *kinds]

    def cached_profile(self, user_id: str) -> dict[str, Any] | None:
        """The user's profile for explanations, cached until their next event (or ``None``)."""
        recent = self.realtime_events(user_id)
        key = (self.current.snapshot.version, recent[-1].event_id if recent else 0)
        with self._lock:
            generation = self._forget_generation
            hit = self._profiles.get(user_id)
            if hit is not None and hit[0] == key:
                self._profiles.move_to_end(user_id)
                return hit[1]
        try:
            profile: dict[str, Any] | None = self.profile(user_id)
        except (ServingError, DigirecError, ValueError, KeyError):
            profile = None
        with self._lock:
            if generation != self._forget_generation:  # a deletion ran meanwhile: don't cache
                return profile
            self._profiles[user_id] = (key, profile)
            while len(self._profiles) > _PROFILE_CACHE_SIZE:
                self._profiles.popitem(last=False)
        return profile


# ---------------------------------------------------------------------- helpers
def load_bundle_manifest(path: Path) -> dict[str, Any]:
    """A bundle's manifest without loading the model (validated by the one reader)."""
    return read_manifest(path).model_dump(mode="json", exclude_none=True)


def _fingerprint(bundle: Bundle, path: Path) -> str:
    manifest = bundle.manifest
    data = manifest.get("dataset", {})
    return "|".join(
        str(x)
        for x in (
            Path(path).resolve(),
            manifest.get("created_at"),
            manifest.get("model"),
            data.get("n_interactions"),
        )
    )


def _contains(sorted_ids: NDArray[np.int64], value: int) -> bool:
    pos = int(np.searchsorted(sorted_ids, value))
    return pos < len(sorted_ids) and int(sorted_ids[pos]) == value


def _stored_events(frame: pd.DataFrame) -> list[StoredEvent]:
    out = []
    for rec in frame.itertuples(index=False):
        out.append(
            StoredEvent(
                user_id=str(getattr(rec, C.USER_ID)),
                item_id=str(getattr(rec, C.ITEM_ID)),
                event=str(getattr(rec, C.EVENT)),
                timestamp=float(getattr(rec, C.TIMESTAMP)),
                event_id=int(getattr(rec, EVENT_ID)),
            )
        )
    return out


def _rerank(
    current: Current,
    rows: NDArray[np.int64],
    scores: NDArray[np.float32],
    k: int,
    options: Rerank,
) -> tuple[NDArray[np.int64], NDArray[np.float32], bool]:
    """Diversity / exposure re-ranking (digirec.serving.rerank)."""
    from digirec.serving.rerank import rerank

    cat = current.catalogue
    new_rows, new_scores = rerank(
        rows,
        scores,
        k,
        item_categories=cat.codes(C.CATEGORY),
        item_brands=cat.codes(C.BRAND),
        item_popularity=current.popularity(),
        diversity=options.diversity,
        exposure=options.exposure,
    )
    valid = np.asarray(new_rows) >= 0
    return (
        np.asarray(new_rows, dtype=np.int64)[valid],
        np.asarray(new_scores, dtype=np.float32)[valid],
        True,
    )


_BASIC_TEXT = {
    PERSONALISED: ("Recommended from your recent activity", "根据您最近的浏览和购买推荐"),
    SESSION: ("Goes with the items in this session", "根据本次浏览的商品推荐"),
    SIMILAR_ITEMS: ("Similar to the item you are viewing", "与您正在浏览的商品相似"),
    POPULAR_IN_CATEGORY: ("Popular in {category}", "{category}热门商品"),
    POPULAR: ("Popular with shoppers", "热门商品"),
}


def _basic_explanation(ranked: Ranked, row: int) -> dict[str, Any]:
    cat = ranked.current.catalogue
    if row >= cat.n_model_items:
        proxy = int(cat.proxies[row])
        if proxy >= 0:
            title = cat.value(proxy, C.TITLE) or cat.value(proxy, C.ITEM_ID)
            # The Chinese text names the neighbour by its Chinese title when it has one.
            title_zh = cat.value(proxy, "title_zh") or title
            return {
                "text": f"New arrival, similar to {title}",
                "text_zh": f"新品，与{title_zh}相似",
                "kind": "new_item",
                "evidence_item_ids": [str(cat.value(proxy, C.ITEM_ID))],
            }
        return {
            "text": "New arrival",
            "text_zh": "新品",
            "kind": "new_item",
            "evidence_item_ids": [],
        }
    en, zh = _BASIC_TEXT[ranked.source]
    category = cat.value(row, C.CATEGORY) or "this category"
    return {
        "text": en.format(category=category),
        "text_zh": zh.format(category=category),
        "kind": ranked.source,
        "evidence_item_ids": [],
    }
