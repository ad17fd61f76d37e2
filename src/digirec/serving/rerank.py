r"""Diversity and exposure re-ranking of a scored candidate list (MMR-style, greedy).

A model's top list often repeats one category or brand and favours the most popular items. The
service asks the model for more candidates than it shows (e.g. ``5 * k``) and :func:`rerank`
picks ``k`` of them greedily; at every step the next item maximises

.. math::

    v_i = (1 - \delta)\, r_i + \epsilon\, t_i - \delta\, \max_{j \in S} \mathrm{sim}(i, j)

with

* :math:`r_i` -- the model score min-max scaled to ``[0, 1]`` over the candidates (so the knobs
  mean the same for every model, whatever its score scale);
* :math:`\mathrm{sim}(i, j)` -- ``1`` for the same category and brand, ``0.5`` for one of the
  two (``1`` for the one attribute given, when only one is); unknown values never match;
* :math:`t_i \in [0, 1]` -- how long-tail the item is: one minus its log-popularity relative to
  the catalogue's most popular item, averaged with the same quantity for its brand's total
  popularity when brands are given (under-exposed brands are favoured, not only items);
* :math:`\delta` = ``diversity`` and :math:`\epsilon` = ``exposure``.

With ``diversity = exposure = 0`` the input order is returned unchanged (the identity).
This is maximal marginal relevance (Carbonell & Goldstein, SIGIR 1998) with a popularity term
in the spirit of calibrated / fairness-aware re-ranking (Abdollahpouri et al., 2019).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from digirec.exceptions import ConfigError

__all__ = ["long_tail_scores", "rerank"]


def rerank(
    item_idx: ArrayLike,
    scores: ArrayLike,
    k: int,
    *,
    item_categories: ArrayLike | None = None,
    item_brands: ArrayLike | None = None,
    item_popularity: ArrayLike | None = None,
    diversity: float = 0.0,
    exposure: float = 0.0,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Pick ``k`` of the candidates, trading relevance for diversity and long-tail exposure.

    Parameters
    ----------
    item_idx:
        Candidate item indices, best first: ``(n_candidates,)`` for one list or
        ``(n_rows, n_candidates)`` for many (each row re-ranked on its own). ``-1`` marks
        padding and is ignored.
    scores:
        Model scores, same shape as ``item_idx``.
    k:
        Length of the returned lists.
    item_categories, item_brands:
        Catalogue-wide arrays indexed by item index (strings or integer codes; ``None``/NaN or
        ``-1`` codes for unknown). Needed for ``diversity > 0``; brands also steer ``exposure``
        towards under-exposed brands. Integer codes are faster than strings on big catalogues.
    item_popularity:
        Catalogue-wide non-negative popularity (e.g. interaction counts). Needed for
        ``exposure > 0``.
    diversity:
        ``δ`` in ``[0, 1]``: 0 keeps relevance order, 1 ignores relevance except to break ties.
    exposure:
        ``ε >= 0``: weight of the long-tail bonus (comparable to the ``[0, 1]`` relevance; 0.3
        is a moderate push).

    Returns
    -------
    item_idx, scores:
        Chosen items in their new order and their **original** model scores (so a score is
        still comparable across lists; it is no longer sorted). Same number of dimensions as
        the input, last axis ``k``, padded with ``-1`` / NaN when fewer candidates exist.
    """
    items = np.asarray(item_idx)
    vals = np.asarray(scores, dtype=np.float32)
    if items.shape != vals.shape or items.ndim not in (1, 2):
        raise ConfigError(
            f"item_idx and scores must have the same 1-D or 2-D shape, got {items.shape} "
            f"and {vals.shape}"
        )
    if not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    if not 0.0 <= diversity <= 1.0:
        raise ConfigError(f"diversity must be in [0, 1], got {diversity}")
    if exposure < 0.0:
        raise ConfigError(f"exposure must be >= 0, got {exposure}")
    if diversity > 0 and item_categories is None and item_brands is None:
        raise ConfigError("diversity > 0 needs item_categories and/or item_brands")
    if exposure > 0 and item_popularity is None:
        raise ConfigError("exposure > 0 needs item_popularity")
    items = items.astype(np.int64, copy=False)
    single = items.ndim == 1
    rows_items = items[None, :] if single else items
    rows_scores = vals[None, :] if single else vals

    tail = None
    if exposure > 0:
        assert item_popularity is not None
        tail = long_tail_scores(item_popularity, item_brands)
    cats = None if item_categories is None else np.asarray(item_categories)
    brands = None if item_brands is None else np.asarray(item_brands)

    out_items = np.full((rows_items.shape[0], k), -1, dtype=np.int64)
    out_scores = np.full((rows_items.shape[0], k), np.nan, dtype=np.float32)
    for row in range(rows_items.shape[0]):
        valid = rows_items[row] >= 0
        cand, cand_scores = rows_items[row][valid], rows_scores[row][valid]
        if diversity == 0 and exposure == 0:
            chosen = np.arange(min(k, cand.size))  # the identity: nothing to trade
        else:
            chosen = _greedy(cand, cand_scores, k, cats, brands, tail, diversity, exposure)
        out_items[row, : chosen.size] = cand[chosen]
        out_scores[row, : chosen.size] = cand_scores[chosen]
    if single:
        return out_items[0], out_scores[0]
    return out_items, out_scores


def long_tail_scores(
    item_popularity: ArrayLike, item_brands: ArrayLike | None = None
) -> NDArray[np.float64]:
    """How long-tail each catalogue item is, in ``[0, 1]`` (1 = never interacted with).

    ``1 - log1p(pop_i) / log1p(max pop)``; with brands, averaged with the same quantity for
    the total popularity of the item's brand (an item of an unknown brand gets its own term).
    Compute it once and reuse it when re-ranking many lists over a large catalogue.
    """
    pop = np.asarray(item_popularity, dtype=np.float64)
    if pop.ndim != 1 or (pop.size and (pop.min() < 0 or not np.isfinite(pop).all())):
        raise ConfigError("item_popularity must be a 1-D array of finite values >= 0")
    item_term: NDArray[np.float64] = 1.0 - np.log1p(pop) / max(
        float(np.log1p(pop.max(initial=0.0))), 1e-12
    )
    if item_brands is None:
        return item_term
    codes = _codes(np.asarray(item_brands))
    if codes.shape != pop.shape:
        raise ConfigError("item_brands and item_popularity must have the same length")
    known = codes >= 0
    brand_pop = np.bincount(codes[known], weights=pop[known], minlength=1)
    brand_term = 1.0 - np.log1p(brand_pop) / max(np.log1p(brand_pop.max(initial=0.0)), 1e-12)
    term: NDArray[np.float64] = item_term.copy()
    term[known] = 0.5 * (item_term[known] + brand_term[codes[known]])
    return term


def _codes(values: NDArray[np.generic]) -> NDArray[np.int64]:
    """Integer codes, ``-1`` for unknown (integer input is taken as codes already)."""
    if values.dtype.kind in "iu":
        return values.astype(np.int64, copy=False)
    codes, _ = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64)


def _greedy(
    cand: NDArray[np.int64],
    cand_scores: NDArray[np.float32],
    k: int,
    cats: NDArray[np.generic] | None,
    brands: NDArray[np.generic] | None,
    tail: NDArray[np.float64] | None,
    diversity: float,
    exposure: float,
) -> NDArray[np.int64]:
    n = cand.size
    n_pick = min(k, n)
    scores = np.nan_to_num(cand_scores.astype(np.float64), nan=-np.inf)
    finite = np.isfinite(scores)
    lo = scores[finite].min(initial=0.0)
    hi = scores[finite].max(initial=0.0)
    rel = np.where(finite, (scores - lo) / (hi - lo) if hi > lo else 1.0, 0.0)
    base = (1.0 - diversity) * rel
    if tail is not None:
        base = base + exposure * tail[cand]
    # Attribute codes of the candidates only (a few hundred values, not the whole catalogue).
    attrs = [_codes(a[cand]) for a in (cats, brands) if a is not None]
    weight = 1.0 / max(1, len(attrs))
    redundancy = np.zeros(n)
    taken = np.zeros(n, dtype=bool)
    chosen = np.empty(n_pick, dtype=np.int64)
    for step in range(n_pick):
        value = base - diversity * redundancy
        value[taken] = -np.inf
        # argmax takes the first maximum: ties keep the model's order.
        best = int(np.argmax(value))
        chosen[step] = best
        taken[best] = True
        if diversity > 0:
            # max over selected j of sim(i, j): a candidate sharing an attribute with any
            # chosen item carries that attribute's weight from now on.
            shared = np.zeros(n)
            for codes in attrs:
                if codes[best] >= 0:
                    shared += weight * (codes == codes[best])
            redundancy = np.maximum(redundancy, shared)
    return chosen
