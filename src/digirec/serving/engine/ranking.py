"""The one ranking path: filters, exclusions, new items, exact / category-block / ANN selection
and re-ranking (no FastAPI: see :mod:`digirec.serving.engine`).

:class:`RankingEngine` ranks on a :class:`~digirec.serving.engine.snapshot.Current` and holds no
store or request state. The service ranks through it, and so does
:meth:`digirec.artifacts.Bundle.recommend` (the CLI and the demo), so the service and the CLI
give the same list for the same user and filters.

Large catalogues
----------------
Factor models (ALS, BPR, MF, SASRec: a score is a query vector times an item vector) whose
catalogue has more than ``ann_threshold`` items serve personalised and session lists through a
FAISS index on the item vectors (:class:`AnnScorer`): the query is the user's vector (or the
vector folded in from their history), the business filters are the index's ``allowed`` mask and
the seen items its per-row exclusions, so a filtered or seen item is never returned and ``k`` is
met whenever enough items qualify. New catalogue items are scored exactly through their
neighbour and merged in. Popular lists and similar items stay exact.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from digirec import columns as C
from digirec.artifacts import ItemFilter
from digirec.exceptions import DigirecError
from digirec.models.base import FactorModel, FactorQuery, Recommender, factor_model
from digirec.retrieval.filtered import ExactIndex, ItemIndex, make_index
from digirec.retrieval.topk import topk
from digirec.serving.engine.catalogue import VIA_MODEL, Catalogue, FilterMask
from digirec.serving.errors import ServingError

if TYPE_CHECKING:
    from digirec.evidence import TrendingCounts
    from digirec.serving.engine.realtime import RealtimeEvent
    from digirec.serving.engine.snapshot import Current

log = logging.getLogger("digirec.serving")

PERSONALISED = "personalised"
SESSION = "session"
SIMILAR_ITEMS = "similar_items"
POPULAR_IN_CATEGORY = "popular_in_category"
POPULAR = "popular"
TRENDING = "trending"
#: Every ``source`` a response can carry.
SOURCES = (PERSONALISED, SESSION, SIMILAR_ITEMS, POPULAR_IN_CATEGORY, POPULAR, TRENDING)

#: User vectors sampled to calibrate the ANN index's recall on the real query distribution.
_ANN_CALIBRATION_USERS = 512
#: A category filter whose categories hold at most this share of the items is scored exactly
#: on those categories' contiguous vector blocks instead of probing the FAISS index.
_BLOCK_SHARE = 0.35


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

    def history_query(self, item_idx: Sequence[int], weights: Sequence[float] | None) -> Query:
        return self.model.factor_history_query(item_idx, weights)

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
    #: Positions (sorted) of the block's items the catalogue's availability rule leaves out
    #: (out of stock or hidden) in the catalogue version the block was built from.
    unavailable: NDArray[np.int64]

    def unavailable_in(self, lo: int, hi: int) -> NDArray[np.int64]:
        """Positions in ``[lo, hi)`` of unavailable items, relative to ``lo``."""
        first, last = np.searchsorted(self.unavailable, (lo, hi))
        return self.unavailable[first:last] - lo

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
    #: The windowed counts a ``trending`` list was ranked by (``None`` for other sources).
    trending: TrendingCounts | None = None
    #: The history items a reason may cite (``None``: ``history_rows``); a session's new
    #: items are scored through their neighbours, which the shopper did not view.
    citable_rows: list[int] | None = None

    @property
    def model_version(self) -> int:
        return self.current.snapshot.version


# ---------------------------------------------------------------------- the engine
class RankingEngine:
    """The one ranking path: filters, exclusions, new items, exact / category-block / ANN
    selection and re-ranking, on a :class:`Current` (no store, no request state).

    :class:`~digirec.serving.engine.state.ServingState` ranks through it, and so does
    :meth:`digirec.artifacts.Bundle.recommend` (the CLI and the demo) via
    :meth:`recommend_known`, so the service and the CLI give the same list for the same user
    and filters.
    """

    # ------------------------------------------------------------------ ranking core
    def extend(self, current: Current, model_scores: NDArray[np.float32]) -> NDArray[np.float32]:
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

    def select(
        self,
        current: Current,
        scores: NDArray[np.float32],
        k: int,
        candidates: NDArray[np.bool_] | None,
        exclude: NDArray[np.bool_] | None,
        rerank: Rerank,
    ) -> tuple[NDArray[np.int64], NDArray[np.float32], bool]:
        """Exact top-``k`` catalogue rows of ``scores`` passing ``candidates`` and not in
        ``exclude`` (ties by the model's tie ranks, new rows after model items), re-ranked when
        ``rerank`` asks; returns ``(rows, scores, reranked)``."""
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

    def personal(
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
        weights: Sequence[float] | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float32], bool]:
        """The model's list for a user row or a history: exact, or through the ANN index.

        ``exclude`` and ``excluded`` are the same exclusions as a mask over catalogue rows and
        as row indices (the ANN path reads the indices, the exact path the mask). ``weights``
        are the history's item weights (the model's fold-in reads them, see
        :meth:`~digirec.models.base.Recommender.score_histories`).
        """
        snap = current.snapshot
        if snap.ann is not None:
            if history is not None:
                query = snap.ann.history_query(history, weights)
            else:
                assert user_row is not None
                query = snap.ann.user_query(user_row)
            return self._select_ann(
                current, snap.ann, query, k, candidates, exclude, excluded, rerank
            )
        if history is not None:
            scores = snap.score_history(history, weights)
        else:
            assert user_row is not None
            scores = snap.score_user(user_row)
        return self.select(
            current, self.extend(current, scores), k, candidates.get(), exclude, rerank
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
        """:meth:`select` through the index: the same filters, exclusions, ties and new items.

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
        if item_filter.brands is not None or item_filter.in_stock is not None:
            mask = candidates.get()
            if mask is not None:
                scores[~mask[rows]] = -np.inf
        elif not item_filter.include_unavailable:
            # Only the availability rule is left (Catalogue.mask's rule for a filter without
            # stock or brand): the block knows its few unavailable positions, so neither the
            # catalogue-wide mask nor a gather over the scored rows is needed.
            offset_in_scores = 0
            for block, lo, hi in parts:
                scores[block.unavailable_in(lo, hi) + offset_in_scores] = -np.inf
                offset_in_scores += hi - lo
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

    def rows_of(self, current: Current, item_ids: Sequence[str]) -> NDArray[np.int64]:
        """Catalogue rows of the known ``item_ids`` (unknown ids are skipped)."""
        positions = current.catalogue.positions
        return np.asarray([positions[i] for i in item_ids if i in positions], dtype=np.int64)

    def weighted_history(
        self, current: Current, user_row: int | None, recent: Sequence[RealtimeEvent]
    ) -> tuple[list[int], list[float]]:
        """A user's model items, oldest first, with their weights: the training row as the
        model trained on it (:meth:`~digirec.models.base.Recommender.user_history`), then the
        real-time events' items (new items through their neighbour) with the bundle's event
        weights. The model folds them in with the same weighting as its training rows."""
        snap = current.snapshot
        items: list[int] = []
        weights: list[float] = []
        if user_row is not None:
            trained, trained_weights = snap.model.user_history(user_row)
            items, weights = trained.tolist(), trained_weights.tolist()
        positions, proxies = current.catalogue.positions, current.catalogue.proxies
        rule = snap.event_weights
        for event in recent:
            row = positions.get(event.item_id)
            proxy = int(proxies[row]) if row is not None else -1
            if proxy >= 0:
                items.append(proxy)
                weights.append(rule.event_weight(event.event))
        return items, weights

    def model_idx(self, current: Current, rows: NDArray[np.int64]) -> list[int]:
        """Catalogue rows as model item indices (new items through their neighbour)."""
        proxies = current.catalogue.proxies[rows] if len(rows) else rows
        return [int(p) for p in proxies if p >= 0]

    def popular(
        self,
        current: Current,
        k: int,
        item_filter: ItemFilter,
        candidates: NDArray[np.bool_] | None,
        exclude: NDArray[np.bool_] | None,
        rerank: Rerank,
        history_rows: list[int] | None = None,
    ) -> Ranked:
        """The popularity list (``popular_in_category`` under a category filter)."""
        scores = self.extend(current, current.snapshot.popularity)
        rows, vals, applied = self.select(current, scores, k, candidates, exclude, rerank)
        source = POPULAR_IN_CATEGORY if item_filter.categories else POPULAR
        return Ranked(source, current, rows, vals, history_rows or [], reranked=applied)

    def trending(
        self, current: Current, k: int, item_filter: ItemFilter, counts: TrendingCounts
    ) -> Ranked:
        """Catalogue rows by their count in the trending window, only rows with a count
        (so the list may be shorter than ``k``); the filters and availability as everywhere."""
        from digirec.serving.engine.evidence import trending_scores

        cat = current.catalogue
        scores = trending_scores(cat.positions, cat.n_rows, counts)
        candidates = FilterMask(cat, item_filter).get()
        rows, vals, _ = self.select(current, scores, k, candidates, scores <= 0, NO_RERANK)
        return Ranked(TRENDING, current, rows, vals, trending=counts)

    def mask(self, cat: Catalogue, item_filter: ItemFilter) -> NDArray[np.bool_] | None:
        """:meth:`Catalogue.mask`, a filter on a column the catalogue lacks as a 422."""
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
        rows, vals, _ = self.personal(
            current, k, candidates, exclude, excluded, NO_RERANK, user_row=user_row
        )
        return rows, vals


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
