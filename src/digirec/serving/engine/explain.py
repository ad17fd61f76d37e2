"""The adapter between the ranking engine and :mod:`digirec.explain` (no FastAPI: see
:mod:`digirec.serving.engine`).

Every ranked row gets a reason: from :func:`digirec.explain.explain_items` for model items,
with the user's whole scored history in chronological order and their profile; a plain
statement of the list's ``source`` for what the explainer cannot cover (new items, an
explainer failure), so a reason is never missing and never invented.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from digirec import columns as C
from digirec.evidence import CoPurchaseCounts
from digirec.serving.engine.catalogue import VIA_MODEL
from digirec.serving.engine.ranking import (
    PERSONALISED,
    POPULAR,
    POPULAR_IN_CATEGORY,
    SESSION,
    SIMILAR_ITEMS,
    TRENDING,
    Ranked,
)
from digirec.store.base import Store

log = logging.getLogger("digirec.serving")


def explain_ranked(
    ranked: Ranked,
    store: Store,
    profile_of: Callable[[str], dict[str, Any] | None],
    *,
    co_purchases: CoPurchaseCounts | None = None,
    co_purchase_min_count: int = 2,
) -> list[dict[str, Any]]:
    """One explanation per ranked row (``text``, ``text_zh``, ``kind``, ``evidence_item_ids``,
    ``evidence``).

    Parameters
    ----------
    ranked:
        The list.
    store:
        Read for a personalised list's stored events (:func:`chronological_history`).
    profile_of:
        The (cached) profile of a user, loaded only when a reason needs it.
    co_purchases, co_purchase_min_count:
        The co-purchase counts behind "Often bought with" reasons of similar-items and
        session lists, and the least count such a reason needs. Not used for a new item's
        similar list: its anchor is its attribute neighbour, whose purchases are not the
        new item's.
    """
    cat = ranked.current.catalogue
    n_model = cat.n_model_items
    out: list[dict[str, Any]] = [basic_explanation(ranked, int(r)) for r in ranked.rows]
    if ranked.source == TRENDING:
        return out  # every row's reason is its windowed count (basic_explanation)
    model_pos = [i for i, r in enumerate(ranked.rows) if r < n_model]
    if not model_pos:
        return out
    from digirec.explain import ExplanationContext, explain_items

    history = list(ranked.history_rows if ranked.citable_rows is None else ranked.citable_rows)
    events: list[str | None] | None = None
    loader: Callable[[], dict[str, Any] | None] | None = None
    if ranked.user_id is not None and ranked.source == PERSONALISED:
        history, events = chronological_history(store, ranked)
        user_id = ranked.user_id

        def loader() -> dict[str, Any] | None:
            return profile_of(user_id)

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
            co_purchases=co_purchases if ranked.strategy == VIA_MODEL else None,
            co_purchase_min_count=co_purchase_min_count,
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
            "evidence": dict(exp.evidence),
        }
    return out


def chronological_history(
    store: Store, ranked: Ranked
) -> tuple[list[int], list[str | None] | None]:
    """The whole history the model scored (``ranked.history_rows``), oldest first, with
    the event type of each item's latest stored event: a reason cites what the score came
    from, not a recent window of it."""
    assert ranked.user_id is not None
    scored = set(ranked.history_rows)
    proxies = ranked.current.catalogue.proxies
    positions = ranked.current.catalogue.positions
    idx: list[int] = []
    kinds: list[str | None] = []
    for item, kind in store.user_item_events(ranked.user_id):
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


_BASIC_TEXT = {
    PERSONALISED: ("Recommended from your recent activity", "根据您最近的浏览和购买推荐"),
    SESSION: ("Goes with the items in this session", "根据本次浏览的商品推荐"),
    SIMILAR_ITEMS: ("Similar to the item you are viewing", "与您正在浏览的商品相似"),
    POPULAR_IN_CATEGORY: ("Popular in {category}", "{category}热门商品"),
    POPULAR: ("Popular with shoppers", "热门商品"),
}


def basic_explanation(ranked: Ranked, row: int) -> dict[str, Any]:
    """The plain statement of a row's source (a new item: its attribute neighbour; a trending
    row: its count in the window)."""
    cat = ranked.current.catalogue
    if ranked.source == TRENDING and ranked.trending is not None:
        from digirec.explain import trending_reason

        category = cat.value(row, C.CATEGORY)
        exp = trending_reason(
            ranked.trending,
            str(cat.value(row, C.ITEM_ID)),
            None if category is None else str(category),
            cat.value(row, "category_zh"),
        )
        return {
            "text": exp.text,
            "text_zh": exp.text_zh,
            "kind": exp.kind,
            "evidence_item_ids": [],
            "evidence": dict(exp.evidence),
        }
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
                "evidence": {},
            }
        return {
            "text": "New arrival",
            "text_zh": "新品",
            "kind": "new_item",
            "evidence_item_ids": [],
            "evidence": {},
        }
    en, zh = _BASIC_TEXT[ranked.source]
    category = cat.value(row, C.CATEGORY) or "this category"
    return {
        "text": en.format(category=category),
        "text_zh": zh.format(category=category),
        "kind": ranked.source,
        "evidence_item_ids": [],
        "evidence": {},
    }
