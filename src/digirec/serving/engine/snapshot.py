"""The loaded model: :class:`ModelSnapshot`, the :class:`Current` a request serves from, and
finding and reading bundles on disk (no FastAPI: see :mod:`digirec.serving.engine`).

A request reads ``state.current`` once and works on that object to the end, so a retrain that
swaps in a new snapshot never changes the model under a running request: the swap is one
reference assignment under a lock, and the old objects live on until their last request
finishes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from digirec import columns as C
from digirec.artifacts import Bundle, read_manifest
from digirec.data.events import EventWeights
from digirec.exceptions import ConfigError, MissingExtraError
from digirec.serving.engine.catalogue import Catalogue
from digirec.serving.engine.ranking import AnnScorer, CategoryBlock
from digirec.serving.errors import ServingError
from digirec.serving.settings import ServeSettings

log = logging.getLogger("digirec.serving")

#: Retrained bundles live in ``state_dir / BUNDLES_DIR / v00001 ...``.
BUNDLES_DIR = "bundles"


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

    def score_history(
        self, item_idx: Sequence[int], weights: Sequence[float] | None = None
    ) -> NDArray[np.float32]:
        rows = None if weights is None else [list(weights)]
        return np.asarray(self.model.score_histories([list(item_idx)], rows)[0], np.float32)

    @cached_property
    def event_weights(self) -> EventWeights:
        """The event weights the bundle was trained with (defaults for a bundle without a
        training spec): the weights of real-time events in a fold-in."""
        spec = self.bundle.spec.training
        if spec is not None and spec.event_weights is not None:
            return spec.event_weights
        return EventWeights()

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
            prices = cat.prices()[:n_model]
        else:
            prices = np.full(n_model, np.nan)
        # By category, then by price (unknown prices last: no price filter keeps them).
        order = np.lexsort((prices, codes))
        bounds = np.searchsorted(codes[order], np.arange(len(lookup) + 1))
        vectors = ann.item_vectors[order]
        sorted_prices = prices[order]
        ties = self.snapshot.model.tie_ranks_[order]
        # Global block positions of the items the availability rule leaves out (sorted).
        available = cat.available
        unavailable = (
            np.empty(0, dtype=np.int64)
            if available is None
            else np.flatnonzero(~available[:n_model][order]).astype(np.int64)
        )
        blocks: dict[Any, CategoryBlock] = {}
        for value, code in lookup.items():
            lo, hi = int(bounds[code]), int(bounds[code + 1])
            if hi > lo:
                first, last = np.searchsorted(unavailable, (lo, hi))
                blocks[value] = CategoryBlock(
                    order[lo:hi],
                    vectors[lo:hi],
                    sorted_prices[lo:hi],
                    ties[lo:hi],
                    lo,
                    unavailable[first:last] - lo,
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


# ---------------------------------------------------------------------- bundles on disk
def load_bundle_manifest(path: Path) -> dict[str, Any]:
    """A bundle's manifest without loading the model (validated by the one reader)."""
    return read_manifest(path).model_dump(mode="json", exclude_none=True)


def bundle_to_load(settings: ServeSettings, on_problem: Callable[[str], None]) -> tuple[Path, int]:
    """The bundle to serve and its version: the newest of ``settings.bundle_path`` and the
    retrained bundles in ``state_dir``; a corrupt one is skipped and reported to
    ``on_problem``. Raises a 503 :class:`ServingError` when there is none."""
    given = settings.bundle_path
    best: tuple[int, Path] | None = None
    if given is not None:
        manifest = load_bundle_manifest(Path(given))
        best = (int(manifest.get("model_version", 1)), Path(given))
    for candidate in sorted((settings.state_dir / BUNDLES_DIR).glob("v*")):
        try:
            manifest = load_bundle_manifest(candidate)
        except (OSError, ValueError, ConfigError) as exc:
            on_problem(f"skipped a corrupt bundle {candidate}: {exc}")
            continue
        version = int(manifest.get("model_version", 0))
        if best is None or version > best[0]:
            best = (version, candidate)
    if best is None:
        raise ServingError(503, "no_bundle", "no model bundle: set DIGIREC_BUNDLE_PATH or --bundle")
    return best[1], best[0]


def newest_version_on_disk(state_dir: Path) -> int:
    """The highest ``model_version`` among the retrained bundles in ``state_dir`` (0: none;
    corrupt ones are skipped here and reported by :func:`bundle_to_load`)."""
    newest = 0
    for candidate in (state_dir / BUNDLES_DIR).glob("v*"):
        try:
            newest = max(newest, int(load_bundle_manifest(candidate).get("model_version", 0)))
        except (OSError, ValueError, ConfigError):
            continue
    return newest
