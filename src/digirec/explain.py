"""A reason for every recommendation, chosen from real evidence, in English and Chinese.

:func:`explain_items` looks at why the service produced each item (the request's ``source``)
and at the evidence the model, the user's profile and the shop's counts hold, and writes one
short reason per item. Every reason is a claim that can be checked against the store:

===============  =================================================  ==========================
kind             when                                               evidence
===============  =================================================  ==========================
history          personalised: the history item ``j`` contributing  ids ``[j]``
                 most to the item's score has a positive
                 contribution ("Because you viewed / bought
                 <title j>", the verb from the user's latest event
                 of ``j``)
brand_budget     personalised, no history evidence: the item's      ids ``[]``
                 brand is among the profile's top brands and its
                 price fits the profile's price bands / budget
bought_together  ``similar_items`` / ``session``: an anchor /       ids ``[j]``,
                 session item ``j`` (never the item itself) with    ``evidence.count``
                 at least ``co_purchase_min_count`` distinct users
                 who purchased both ("Often bought with <title
                 j>"; the largest count wins, ties to the most
                 recent item)
similar          ``similar_items`` without such a count: the        ids ``[anchor]``
                 anchor item most similar to it ("Similar to
                 <title>"; a new item's own neighbour is "Closest
                 match in the catalogue", never similar to itself)
together         ``session`` without such a count: the session     ids ``[j]``
                 item ``j`` contributing most ("Because you viewed
                 <title j>": a session is what the shopper viewed)
trending         ``trending``: distinct users with an event of the  ids ``[]``,
                 item in the window ("Trending in <category> this   ``evidence.count``,
                 week" for a 7-day window, "... in the last N       ``window_days``,
                 days" otherwise)                                   ``window_start/end``
popular          ``popular_in_category`` / ``popular`` (and the     ids ``[]``
                 fallback of popularity models): "Popular in
                 <category>" (all-time counts: no time claim)
personalised     personalised without any of the above (a model     ids ``[]``
                 score without item-level evidence, e.g. a cold
                 history)
===============  =================================================  ==========================

The contribution of history item ``j`` to item ``i`` is ``sim(j, i)`` read from the model's own
item-to-item scores (:meth:`Recommender.score_similar`): rows of the EASE weights or ItemKNN
similarities, the cosine of item factors for factor models, the one-item-session scores for
sequence models. It is one ``(len(history), len(items))`` call (``score_similar``'s ``columns``)
for all explained items at once, so explaining a page of 10 items costs well under a millisecond
for item-item models. Co-purchase counts come from :class:`digirec.evidence.CoPurchaseCounts`
(distinct purchasers of both items) and trending counts from
:class:`digirec.evidence.TrendingCounts`; both are given by the caller (the service builds them
from its store), and without them no "bought with" or "trending" claim is ever made. Everything
is deterministic: ties go to the most recent history item."""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from digirec import columns as C
from digirec.data.schema import coerce_prices
from digirec.evidence import CoPurchaseCounts, TrendingCounts
from digirec.exceptions import DigirecError
from digirec.models.base import Recommender
from digirec.retrieval.filtered import single_thread_blas

__all__ = ["Explanation", "ExplanationContext", "explain_items", "trending_reason"]

# Catalogue columns beyond digirec.columns (written by the synthetic shop and the stores).
TITLE_ZH = "title_zh"
BRAND_ZH = "brand_zh"
CATEGORY_ZH = "category_zh"

#: Request sources understood (the service's ``source`` values).
SOURCES = (
    "personalised",
    "session",
    "similar_items",
    "popular_in_category",
    "popular",
    "trending",
)

#: Default least number of distinct users who purchased both items for "Often bought with".
CO_PURCHASE_MIN_COUNT = 2

#: Models whose item-to-item scores are popularity, not evidence about a history item.
_POPULARITY_MODELS = frozenset({"pop", "catpop"})

#: History items looked at: the whole history the model scored (distinct items) up to this
#: bound, which only caps pathological histories (the service keeps far fewer in real time).
MAX_HISTORY = 5000
#: History rows of item-to-item scores computed at once (bounds memory on big catalogues).
_HISTORY_CHUNK = 32

#: Titles are cut to this many characters in the reason text.
MAX_TITLE_CHARS = 60

# A price is "in budget" up to this factor above the user's reference price.
_BUDGET_SLACK = 1.25
# A price band counts as the user's when it holds at least this share of their attention.
_MIN_BAND_SHARE = 0.15

_VERBS = {
    "purchase": ("bought", "购买过"),
    "cart": ("added to your cart", "加入购物车的"),
    "click": ("viewed", "浏览过"),
    "view": ("viewed", "浏览过"),
}


@dataclass
class ExplanationContext:
    """What the explainer may use for one request.

    Attributes
    ----------
    model:
        The fitted model that produced the recommendations.
    items:
        Catalogue aligned with the model's item index (row ``i`` = ``item_idx == i``, as in
        ``Dataset.items`` and model bundles) or any catalogue with an ``item_id`` column (it is
        re-aligned by id once and cached). Optional columns: ``title``, ``title_zh``,
        ``brand``, ``brand_zh``, ``category``, ``category_zh``, ``price``. ``None``: reasons
        use item ids.
    history_idx:
        The user's items in chronological order (internal indices): the recent history for
        ``personalised``, the session for ``session``, the anchor item(s) for ``similar_items``.
    profile:
        A profile dict as written by :meth:`digirec.features.profile.UserProfiles.profile`
        (``top_brands``, ``price_bands``, ``budget`` ...), or ``None``. A ``price_band``
        ``(low, high)`` pair or a numeric ``budget`` are also understood.
    source:
        How the items were produced: one of :data:`SOURCES`.
    history_events:
        Optional event type per history item (``"view"``, ``"purchase"`` ...), used for the
        verb ("Because you bought ...").
    profile_loader:
        Called for the profile when ``profile`` is ``None`` and an item has no history
        evidence (building a profile costs far more than the rest of an explanation).
    co_purchases:
        Co-purchase counts by external item id (``similar_items`` and ``session`` reasons
        "Often bought with ..."); ``None``: no such claim.
    co_purchase_min_count:
        Least count of distinct users who purchased both items for that claim.
    trending:
        Windowed counts of the ``trending`` source (required for it).
    """

    model: Recommender
    items: pd.DataFrame | None
    history_idx: NDArray[np.int64]
    profile: dict[str, Any] | None
    source: str
    history_events: list[str | None] | None = field(default=None)
    profile_loader: Callable[[], dict[str, Any] | None] | None = field(default=None)
    co_purchases: CoPurchaseCounts | None = field(default=None)
    co_purchase_min_count: int = field(default=CO_PURCHASE_MIN_COUNT)
    trending: TrendingCounts | None = field(default=None)


@dataclass
class Explanation:
    """One reason.

    Attributes
    ----------
    text, text_zh:
        The reason in English and Chinese.
    kind:
        ``history``, ``brand_budget``, ``bought_together``, ``similar``, ``together``,
        ``trending``, ``popular`` or ``personalised`` (see the module docstring).
    evidence_item_ids:
        External ids of the items the reason cites (empty when it cites none).
    evidence:
        The counts behind the claim: ``{"count": n}`` for ``bought_together`` (distinct
        users who purchased both), ``count``, ``window_days``, ``window_start`` and
        ``window_end`` for ``trending``; empty for the other kinds.
    """

    text: str
    text_zh: str
    kind: str
    evidence_item_ids: list[str]
    evidence: dict[str, Any] = field(default_factory=dict)


def explain_items(context: ExplanationContext, item_idx: ArrayLike) -> list[Explanation]:
    """One :class:`Explanation` per recommended item, in the order given.

    Parameters
    ----------
    context:
        Model, catalogue, history, profile and source of the request.
    item_idx:
        Recommended items (internal indices), e.g. one row of ``recommend_idx`` output;
        ``-1`` padding is not allowed.

    Returns
    -------
    list[Explanation]
        ``len(item_idx)`` reasons.
    """
    items = np.asarray(item_idx, dtype=np.int64).ravel()
    model = context.model
    n_items = model.n_items
    if items.size and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(f"item_idx must be in [0, {n_items})")
    view = _catalogue(model, context.items)
    history, events = _recent_history(context, n_items)
    source = context.source

    if source in ("popular_in_category", "popular"):
        return [_popular(view, int(i)) for i in items]
    if source == "trending":
        trending = context.trending
        if trending is None:
            raise ValueError("source 'trending' needs context.trending (the windowed counts)")
        return [_trending(view, trending, int(i)) for i in items]

    best_j = np.full(items.size, -1, dtype=np.int64)
    if history.size and items.size and model.name not in _POPULARITY_MODELS:
        best_j = _best_history_item(model, history, items)

    out: list[Explanation] = []
    if source in ("similar_items", "session"):
        kind = "similar" if source == "similar_items" else "together"
        together_j, together_n = _best_co_purchase(context, view, history, items)
        for pos, i in enumerate(items):
            if together_j[pos] >= 0:
                out.append(_bought_together(view, int(history[together_j[pos]]), together_n[pos]))
                continue
            j = best_j[pos]
            if j < 0 and history.size:
                j = len(history) - 1  # no positive evidence: cite the anchor / latest item
            if j < 0 or int(history[j]) == int(i):
                # Never "similar to itself" (a new item's neighbour is its own anchor).
                out.append(
                    Explanation(
                        "Closest match in the catalogue", "目录中最接近的商品", "similar", []
                    )
                    if kind == "similar"
                    else _popular(view, int(i))
                )
                continue
            out.append(_anchor_reason(view, kind, int(history[j])))
        return out

    # personalised (and unknown sources): history evidence, then profile, then the model.
    matchers: tuple[set[str], Any] | None = None
    for pos, i in enumerate(items):
        j = best_j[pos]
        if j >= 0:
            out.append(_history_reason(view, int(history[j]), events[j]))
            continue
        if matchers is None:  # the profile only when an item lacks history evidence
            profile = context.profile
            if profile is None and context.profile_loader is not None:
                profile = context.profile_loader()
            matchers = _profile_matchers(profile)
        brands, price_ok = matchers
        if view.brand[i] is not None and view.brand[i] in brands and price_ok(view.price[i]):
            out.append(_brand_budget(view, int(i)))
        elif model.name in _POPULARITY_MODELS:
            out.append(_popular(view, int(i)))
        else:
            out.append(
                Explanation(
                    "Picked for you from your recent activity",
                    "根据您的近期浏览为您推荐",
                    "personalised",
                    [],
                )
            )
    return out


# ============================================================================ evidence
def _recent_history(
    context: ExplanationContext, n_items: int
) -> tuple[NDArray[np.int64], list[str | None]]:
    """Distinct history items (last occurrence kept, chronological), at most MAX_HISTORY."""
    hist = np.asarray(context.history_idx, dtype=np.int64).ravel()
    events: list[str | None] = (
        [None] * hist.size
        if context.history_events is None
        else [None if e is None else str(e) for e in context.history_events]
    )
    if len(events) != hist.size:
        raise ValueError("history_events must have one entry per history item")
    keep = (hist >= 0) & (hist < n_items)
    hist = hist[keep]
    events = [e for e, k in zip(events, keep, strict=True) if k]
    # Last occurrence of each item: reverse, unique (first = latest), restore order.
    rev = hist[::-1]
    _, first = np.unique(rev, return_index=True)
    latest = np.sort(hist.size - 1 - first)[-MAX_HISTORY:]
    return hist[latest], [events[p] for p in latest]


def _best_history_item(
    model: Recommender, history: NDArray[np.int64], items: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Per item, the position in ``history`` with the largest positive contribution, or -1."""
    try:
        # Only the explained columns are computed (score_similar's ``columns``), chunk by chunk:
        # the whole history costs len(history) x len(items), in bounded memory.
        parts = []
        with single_thread_blas():
            for start in range(0, len(history), _HISTORY_CHUNK):
                block = model.score_similar(history[start : start + _HISTORY_CHUNK], items)
                parts.append(np.asarray(block, dtype=np.float64))
    except DigirecError:  # the model has no item-item scores
        return np.full(items.size, -1, dtype=np.int64)
    contrib = np.concatenate(parts) if parts else np.empty((0, items.size))
    contrib[history[:, None] == items[None, :]] = -np.inf  # an item never explains itself
    contrib[~np.isfinite(contrib)] = -np.inf
    # Ties go to the most recent item: search the reversed history, map back.
    rev = contrib[::-1]
    best = len(history) - 1 - np.argmax(rev, axis=0)
    best_val = contrib[best, np.arange(items.size)]
    if len(history) > 1:
        # Every history item contributing the same to every explained item is a history-blind
        # score (popularity in disguise), not evidence about any one of them. A tie for one
        # item alone is genuine and keeps the most recent item.
        finite = np.isfinite(contrib)
        hi = np.where(finite, contrib, -np.inf).max(axis=0)
        lo = np.where(finite, contrib, np.inf).min(axis=0)
        if items.size > 1 and np.all(hi == lo):
            return np.full(items.size, -1, dtype=np.int64)
    return np.where(best_val > 0, best, -1).astype(np.int64)


def _best_co_purchase(
    context: ExplanationContext,
    view: _Catalogue,
    history: NDArray[np.int64],
    items: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Per item, the history position with the most co-purchasers (at least the minimum;
    ties to the most recent; never the item itself) and that count; ``-1`` / 0 where none."""
    best = np.full(items.size, -1, dtype=np.int64)
    count = np.zeros(items.size, dtype=np.int64)
    counts_of = context.co_purchases
    if counts_of is None or not history.size or not items.size:
        return best, count
    minimum = max(1, int(context.co_purchase_min_count))
    counts = counts_of.counts(
        [str(x) for x in view.item_id[history]], [str(x) for x in view.item_id[items]]
    )
    counts[history[:, None] == items[None, :]] = 0  # an item is never bought with itself
    rev = counts[::-1]
    pos = len(history) - 1 - np.argmax(rev, axis=0)
    value = counts[pos, np.arange(items.size)]
    ok = value >= minimum
    best[ok] = pos[ok]
    count[ok] = value[ok]
    return best, count


def _profile_matchers(profile: dict[str, Any] | None) -> tuple[set[str], Any]:
    """The profile's top brands and a predicate "price fits the user's bands / budget"."""
    if not profile:
        return set(), lambda price: False
    brands = {str(b) for b in (profile.get("top_brands") or [])}
    if not brands and isinstance(profile.get("brands"), dict):
        ranked = sorted(profile["brands"].items(), key=lambda kv: (-float(kv[1]), str(kv[0])))
        brands = {str(b) for b, _ in ranked[:3] if not str(b).startswith("<")}
    intervals: list[tuple[float, float]] = []
    band = profile.get("price_band")
    if isinstance(band, list | tuple) and len(band) == 2:
        intervals.append((float(band[0]), float(band[1])))
    for label, share in (profile.get("price_bands") or {}).items():
        parsed = _parse_band(str(label))
        if parsed is not None and float(share) >= _MIN_BAND_SHARE:
            intervals.append(parsed)
    budget = profile.get("budget")
    ceiling = math.nan
    if isinstance(budget, int | float):
        ceiling = float(budget)
    elif isinstance(budget, dict):
        values = [float(v) for v in budget.values() if isinstance(v, int | float)]
        values = [v for v in values if math.isfinite(v)]
        if values:
            ceiling = max(values) * _BUDGET_SLACK

    def price_ok(price: float) -> bool:
        if not math.isfinite(price):
            return False
        if any(lo <= price < hi for lo, hi in intervals):
            return True
        return math.isfinite(ceiling) and price <= ceiling

    return brands, price_ok


_BAND_RE = re.compile(
    r"^(?:<(?P<lt>[\d.e+]+)|>=(?P<ge>[\d.e+]+)|(?P<lo>[\d.e+]+)-(?P<hi>[\d.e+]+))$"
)


def _parse_band(label: str) -> tuple[float, float] | None:
    """``"<71.99"``, ``"71.99-139.99"``, ``">=2000"`` (profile price-band labels) -> interval."""
    match = _BAND_RE.match(label.strip())
    if match is None:
        return None
    try:
        if match["lt"] is not None:
            return 0.0, float(match["lt"])
        if match["ge"] is not None:
            return float(match["ge"]), math.inf
        return float(match["lo"]), float(match["hi"])
    except ValueError:
        return None


# ============================================================================ text
def _history_reason(view: _Catalogue, j: int, event: str | None) -> Explanation:
    verb, verb_zh = _VERBS.get((event or "view").lower(), _VERBS["view"])
    return Explanation(
        f"Because you {verb} {view.title[j]}",
        f"因为您{verb_zh}{view.title_zh[j]}",
        "history",
        [view.item_id[j]],
    )


def _anchor_reason(view: _Catalogue, kind: str, j: int) -> Explanation:
    if kind == "similar":
        return Explanation(
            f"Similar to {view.title[j]}", f"与{view.title_zh[j]}相似", kind, [view.item_id[j]]
        )
    # A session is what the shopper viewed: say so (no co-purchase claim).
    return Explanation(
        f"Because you viewed {view.title[j]}",
        f"因为您浏览过{view.title_zh[j]}",
        kind,
        [view.item_id[j]],
    )


def _bought_together(view: _Catalogue, j: int, count: int) -> Explanation:
    return Explanation(
        f"Often bought with {view.title[j]}",
        f"经常与{view.title_zh[j]}一起购买",
        "bought_together",
        [view.item_id[j]],
        {"count": int(count)},
    )


def _trending(view: _Catalogue, trending: TrendingCounts, i: int) -> Explanation:
    return trending_reason(trending, str(view.item_id[i]), view.category[i], view.category_zh[i])


def trending_reason(
    trending: TrendingCounts, item_id: str, category: str | None, category_zh: str | None = None
) -> Explanation:
    """The reason of an item of the trending source: its count in the window, in the words of
    the window's length ("this week" for 7 days, "in the last N days" otherwise); an item
    without an event in the window gets a plain, claim-free reason.

    Parameters
    ----------
    trending:
        The windowed counts the list was ranked by.
    item_id:
        The item (external id).
    category, category_zh:
        Its category in English and Chinese (``None``: not named).
    """
    evidence: dict[str, Any] = dict(trending.evidence(item_id))
    if evidence["count"] <= 0:
        # Not in the window: no trending claim (the service lists only items that are).
        return Explanation("From the catalogue", "来自商品目录", "catalogue", [], evidence)
    days = float(trending.window_days)
    if days == 7:
        when, when_zh = "this week", "本周"
    elif days == 1:
        when, when_zh = "in the last 24 hours", "近24小时"
    else:
        when, when_zh = f"in the last {days:g} days", f"近{days:g}天"
    if category is None:
        return Explanation(
            f"Trending with shoppers {when}", f"{when_zh}热门商品", "trending", [], evidence
        )
    return Explanation(
        f"Trending in {category} {when}",
        f"{when_zh}{category_zh or category}热门",
        "trending",
        [],
        evidence,
    )


def _brand_budget(view: _Catalogue, i: int) -> Explanation:
    return Explanation(
        f"Matches your usual brand ({view.brand[i]}) and budget",
        f"符合您常买的品牌（{view.brand_zh[i]}）和预算",
        "brand_budget",
        [],
    )


def _popular(view: _Catalogue, i: int) -> Explanation:
    category = view.category[i]
    if category is None:
        return Explanation("Popular with shoppers", "热门商品", "popular", [])
    # All-time training counts: no time window is claimed.
    return Explanation(f"Popular in {category}", f"{view.category_zh[i]}热门", "popular", [])


# ============================================================================ catalogue view
@dataclass
class _Catalogue:
    """Display columns as plain arrays by item index (pandas lookups cost ~50 µs each)."""

    item_id: NDArray[np.object_]
    title: NDArray[np.object_]
    title_zh: NDArray[np.object_]
    brand: NDArray[np.object_]
    brand_zh: NDArray[np.object_]
    category: NDArray[np.object_]
    category_zh: NDArray[np.object_]
    price: NDArray[np.float64]


# Built views by (id(model), id(items)); weak references drop an entry when either goes away.
_VIEWS: dict[tuple[int, int], tuple[Any, Any, _Catalogue]] = {}


def _catalogue(model: Recommender, items: pd.DataFrame | None) -> _Catalogue:
    key = (id(model), id(items))
    cached = _VIEWS.get(key)
    if cached is not None and cached[0]() is model and (items is None or cached[1]() is items):
        return cached[2]
    view = _build_view(model, items)
    model_ref = weakref.ref(model)
    items_ref = (lambda: None) if items is None else weakref.ref(items)
    if len(_VIEWS) > 64:  # a service holds one or two catalogues; never grow unbounded
        _VIEWS.clear()
    _VIEWS[key] = (model_ref, items_ref, view)
    return view


def _build_view(model: Recommender, items: pd.DataFrame | None) -> _Catalogue:
    ids = np.asarray(model.item_map_.to_list(), dtype=object)
    n = ids.size
    frame = None
    if items is not None:
        if C.ITEM_ID in items.columns:
            frame = items.set_index(items[C.ITEM_ID].astype(str)).reindex(ids)
        elif len(items) == n:
            frame = items.reset_index(drop=True)

    def column(name: str) -> NDArray[np.object_]:
        if frame is None or name not in frame.columns:
            return np.full(n, None, dtype=object)
        values = frame[name].to_numpy(dtype=object)
        return np.array([_clean(v) for v in values], dtype=object)

    title = column(C.TITLE)
    title = np.where(title == None, ids, title)  # noqa: E711 (element-wise)
    title = np.array([_shorten(str(t)) for t in title], dtype=object)
    title_zh = column(TITLE_ZH)
    title_zh = np.where(title_zh == None, title, title_zh)  # noqa: E711
    title_zh = np.array([_shorten(str(t)) for t in title_zh], dtype=object)
    brand = column(C.BRAND)
    brand_zh = column(BRAND_ZH)
    brand_zh = np.where(brand_zh == None, brand, brand_zh)  # noqa: E711
    category = column(C.CATEGORY)
    category_zh = column(CATEGORY_ZH)
    category_zh = np.where(category_zh == None, category, category_zh)  # noqa: E711
    if frame is not None and C.PRICE in frame.columns:
        price = coerce_prices(frame[C.PRICE])
    else:
        price = np.full(n, np.nan)
    return _Catalogue(ids, title, title_zh, brand, brand_zh, category, category_zh, price)


def _clean(value: object) -> str | None:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip()
    return text or None


def _shorten(title: str) -> str:
    if len(title) <= MAX_TITLE_CHARS:
        return title
    cut = title[:MAX_TITLE_CHARS]
    if " " in cut[MAX_TITLE_CHARS // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-") + "…"
