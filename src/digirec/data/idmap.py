"""IdMap: a frozen, two-way mapping between external ids and internal indices.

External ids are strings (``user_id``, ``item_id``); internal indices are contiguous ints
``0..n-1`` (``user_idx``, ``item_idx``). The two never mix: models work on indices, the public API
speaks external ids, and this class is the only place that converts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from digirec.exceptions import UnknownIdError


class IdMap:
    """Frozen mapping ``external id <-> internal index``.

    Parameters
    ----------
    external_ids:
        Unique external ids; their position is their internal index.
    kind:
        ``"user"`` or ``"item"``; used in error messages.
    """

    def __init__(self, external_ids: Iterable[object], kind: str = "id") -> None:
        ids = np.asarray([str(x) for x in external_ids], dtype=object)
        index = pd.Index(ids)
        if not index.is_unique:
            dup = index[index.duplicated()].unique()[:10].tolist()
            raise ValueError(f"IdMap for {kind} ids has duplicates: {dup}")
        self.kind = kind
        self._external = ids
        self._external.setflags(write=False)
        self._index = index

    @classmethod
    def from_values(cls, values: Iterable[object], kind: str = "id") -> IdMap:
        """Build a map from (possibly repeated) values, in order of first appearance."""
        as_text = pd.Series(list(values), dtype=object).astype(str)
        return cls(pd.unique(as_text), kind)

    def __len__(self) -> int:
        return len(self._external)

    def __contains__(self, external_id: object) -> bool:
        return str(external_id) in self._index

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, IdMap)
            and self.kind == other.kind
            and np.array_equal(self._external, other._external)
        )

    def __hash__(self) -> int:  # pragma: no cover - maps are not meant to be dict keys
        return hash((self.kind, len(self)))

    def __repr__(self) -> str:
        return f"IdMap(kind={self.kind!r}, n={len(self)})"

    @property
    def external_ids(self) -> NDArray[np.object_]:
        """External ids ordered by internal index (read-only)."""
        return self._external

    def to_internal(
        self, ids: Sequence[object] | NDArray[np.object_] | pd.Series
    ) -> NDArray[np.int64]:
        """Convert external ids to internal indices; :class:`UnknownIdError` on any unknown."""
        idx, known = self.to_internal_masked(ids)
        if not known.all():
            values = np.asarray([str(x) for x in ids], dtype=object)
            raise UnknownIdError(self.kind, pd.unique(values[~known]).tolist())
        return idx

    def to_internal_masked(
        self, ids: Sequence[object] | NDArray[np.object_] | pd.Series
    ) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        """Convert external ids to indices; unknown ids get ``-1`` and ``False`` in the mask."""
        values = np.asarray([str(x) for x in ids], dtype=object)
        idx = self._index.get_indexer(values).astype(np.int64)
        return idx, idx >= 0

    def to_external(self, idx: Sequence[int] | NDArray[np.integer]) -> NDArray[np.object_]:
        """Convert internal indices to external ids (IndexError when out of range)."""
        arr = np.asarray(idx, dtype=np.int64)
        if arr.size and (arr.min() < 0 or arr.max() >= len(self)):
            raise IndexError(f"{self.kind} index out of range 0..{len(self) - 1}")
        return self._external[arr]

    def extend(self, new_ids: Iterable[object]) -> IdMap:
        """Return a new map with unseen ids appended (existing indices are unchanged)."""
        extra = [str(x) for x in new_ids]
        extra = [x for x in pd.unique(pd.Series(extra, dtype=object)) if x not in self._index]
        return IdMap(np.concatenate([self._external, np.asarray(extra, dtype=object)]), self.kind)

    def to_list(self) -> list[str]:
        return [str(x) for x in self._external]
