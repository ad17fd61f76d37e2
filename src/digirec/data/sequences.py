"""Per-user chronological item sequences, for sequential models and history-based scoring."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from digirec.data.dataset import Dataset


def user_sequences(dataset: Dataset) -> list[NDArray[np.int64]]:
    """Item indices of each user in chronological order; entry ``u`` is user_idx ``u``.

    Users without interactions get an empty array.
    """
    user_idx = dataset.user_idx
    item_idx = dataset.item_idx
    counts = np.bincount(user_idx, minlength=dataset.n_users)
    # Dataset keeps rows grouped by user in increasing user_idx, chronological inside a user.
    if len(user_idx) > 1 and np.any(np.diff(user_idx) < 0):
        order = np.argsort(user_idx, kind="stable")
        item_idx = item_idx[order]
    bounds = np.cumsum(counts)[:-1]
    return list(np.split(item_idx, bounds))
