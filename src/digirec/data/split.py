"""Train / validation / test splits, returned as boolean masks over ``Dataset.interactions``.

Masks (not copies) keep one source of truth: ``dataset.subset(mask)`` gives a dataset with the
same id maps, so every model ranks the same, full item catalogue.

The masks index the Dataset's rows, which are grouped by user and sorted by time (and merged
per pair), **not** the caller's frame: ``df[split.test]`` would pick unrelated rows. Use
:meth:`SplitMasks.positions` for positions in the frame the Dataset was built from
(``df.iloc[split.positions(dataset)["test"]]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from digirec import columns as C
from digirec.data.dataset import Dataset


@dataclass(frozen=True)
class SplitMasks:
    """Boolean masks over the dataset's interaction rows; they partition the rows."""

    train: NDArray[np.bool_]
    valid: NDArray[np.bool_]
    test: NDArray[np.bool_]

    def __post_init__(self) -> None:
        total = self.train.astype(int) + self.valid.astype(int) + self.test.astype(int)
        if not np.all(total == 1):
            raise ValueError("split masks must partition the interactions")

    def positions(self, dataset: Dataset) -> dict[str, NDArray[np.int64]]:
        """Row positions, in the caller's frame (or the files' read order), of each part.

        ``{"train": ..., "valid": ..., "test": ...}``, each sorted. A row merged into another
        of the same (user, item) pair is represented by the row kept (its first occurrence
        for the ``first``, ``max`` and ``sum`` rules).
        """
        source = dataset.interactions[C.SOURCE_ROW].to_numpy(dtype=np.int64)
        if len(source) != len(self.train):
            raise ValueError("these masks belong to another dataset (row counts differ)")
        return {
            name: np.sort(source[mask])
            for name, mask in (("train", self.train), ("valid", self.valid), ("test", self.test))
        }


def position_in_user(dataset: Dataset) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For every interaction row: its 0-based chronological position and its user's count.

    Relies on ``Dataset`` keeping rows grouped by user in chronological order.
    """
    user_idx = dataset.user_idx
    n = len(user_idx)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    starts = np.flatnonzero(np.r_[True, user_idx[1:] != user_idx[:-1]])
    lengths = np.diff(np.r_[starts, n])
    position = np.arange(n, dtype=np.int64) - np.repeat(starts, lengths)
    count = np.repeat(lengths, lengths).astype(np.int64)
    return position, count


def leave_one_out(dataset: Dataset, min_interactions: int = 3) -> SplitMasks:
    """Per user: last interaction = test, second-to-last = validation, the rest = train.

    Users with fewer than ``min_interactions`` interactions stay entirely in train.
    """
    position, count = position_in_user(dataset)
    eligible = count >= min_interactions
    test = eligible & (position == count - 1)
    valid = eligible & (position == count - 2)
    return SplitMasks(train=~(test | valid), valid=valid, test=test)


def global_temporal(
    dataset: Dataset, valid_fraction: float = 0.1, test_fraction: float = 0.1
) -> SplitMasks:
    """Split by global time: the newest ``test_fraction`` of events is test, the next is validation.

    Rows without a timestamp are ordered by source row. Ties at the boundary follow that order.
    """
    ts = dataset.interactions[C.TIMESTAMP].to_numpy(dtype=np.float64)
    src = dataset.interactions[C.SOURCE_ROW].to_numpy(dtype=np.int64)
    order = np.lexsort((src, np.where(np.isnan(ts), np.inf, ts)))
    n = len(order)
    n_test = round(n * test_fraction)
    n_valid = round(n * valid_fraction)
    label = np.zeros(n, dtype=np.int8)
    label[order[n - n_test :]] = 2
    label[order[n - n_test - n_valid : n - n_test]] = 1
    return SplitMasks(train=label == 0, valid=label == 1, test=label == 2)


def per_user_temporal(
    dataset: Dataset,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.2,
    min_interactions: int = 3,
) -> SplitMasks:
    """Per user: newest ``test_fraction`` of events is test, next ``valid_fraction`` valid."""
    position, count = position_in_user(dataset)
    eligible = count >= min_interactions
    n_test = np.maximum(1, np.floor(count * test_fraction)).astype(np.int64)
    n_valid = np.maximum(1, np.floor(count * valid_fraction)).astype(np.int64)
    test = eligible & (position >= count - n_test)
    valid = eligible & ~test & (position >= count - n_test - n_valid)
    return SplitMasks(train=~(test | valid), valid=valid, test=test)


def random_split(
    dataset: Dataset,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
    random_state: int = 42,
) -> SplitMasks:
    """Random split of interaction rows (ignores time; for explicit-rating style evaluation)."""
    rng = np.random.default_rng(random_state)
    u = rng.random(dataset.n_interactions)
    test = u < test_fraction
    valid = (u >= test_fraction) & (u < test_fraction + valid_fraction)
    return SplitMasks(train=~(test | valid), valid=valid, test=test)


@dataclass(frozen=True)
class ColdSplit:
    """Entities (items or users) held out of training, and the interaction rows they own.

    Attributes
    ----------
    held_out:
        Sorted internal indices (``item_idx`` or ``user_idx``) of the held-out entities.
    mask:
        Boolean mask over ``Dataset.interactions``: every row of a held-out entity (within the
        rows that were eligible), so none of them can reach training.
    """

    held_out: NDArray[np.int64]
    mask: NDArray[np.bool_]


def cold_items(
    dataset: Dataset,
    fraction: float = 0.1,
    random_state: int = 42,
    *,
    within: NDArray[np.bool_] | None = None,
) -> ColdSplit:
    """Hold out a random ``fraction`` of the items together with all their interactions.

    Parameters
    ----------
    dataset:
        The data set; its item index space is kept, so held-out items keep their catalogue rows.
    fraction:
        Share of the candidate items to hold out, in ``(0, 1)``; the count is
        ``round(fraction * n_candidates)`` (halves round up), at least 1, and at least one
        candidate always stays warm.
    random_state:
        Seed of the draw (the same seed gives the same items).
    within:
        Rows to draw from (e.g. the warm rows when building a validation split inside a
        training part). Candidates are the items with at least one such row; the returned mask
        only marks rows inside ``within``. ``None``: all rows.
    """
    return _cold_split(dataset.item_idx, dataset, fraction, random_state, within, "items")


def cold_users(
    dataset: Dataset,
    fraction: float = 0.1,
    random_state: int = 42,
    *,
    within: NDArray[np.bool_] | None = None,
) -> ColdSplit:
    """Hold out a random ``fraction`` of the users together with all their interactions.

    The same rules as :func:`cold_items`, drawn over users: the held-out users stay in the user
    map (with their attributes) but have no training row.
    """
    return _cold_split(dataset.user_idx, dataset, fraction, random_state, within, "users")


def _cold_split(
    entity_of_row: NDArray[np.int64],
    dataset: Dataset,
    fraction: float,
    random_state: int,
    within: NDArray[np.bool_] | None,
    kind: str,
) -> ColdSplit:
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the cold {kind} fraction must be in (0, 1), got {fraction}")
    rows = (
        np.ones(dataset.n_interactions, dtype=bool)
        if within is None
        else np.asarray(within, dtype=bool)
    )
    if rows.shape != (dataset.n_interactions,):
        raise ValueError(f"within must have shape ({dataset.n_interactions},), got {rows.shape}")
    # Candidates are entities that own at least one eligible row: holding out an entity without
    # interactions would remove nothing and evaluate nothing.
    candidates = np.unique(entity_of_row[rows])
    # Round half up (Python's round() rounds 2.5 to 2), and never hold out nothing.
    n_held = max(1, int(np.floor(fraction * len(candidates) + 0.5)))
    if n_held >= len(candidates):
        raise ValueError(
            f"cannot hold out {n_held} of {len(candidates)} {kind}: "
            f"no {kind} would stay in training"
        )
    rng = np.random.default_rng(random_state)
    held_out = np.sort(rng.choice(candidates, size=n_held, replace=False)).astype(np.int64)
    mask = rows & np.isin(entity_of_row, held_out)
    return ColdSplit(held_out=held_out, mask=mask)
