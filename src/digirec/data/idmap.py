"""IdMap: a frozen, two-way mapping between external ids and internal indices.

External ids are kept as strings (``user_id``, ``item_id``); internal indices are contiguous
ints ``0..n-1`` (``user_idx``, ``item_idx``). The two never mix: models work on indices, the public
API speaks external ids, and this class is the only place that converts.

A map built from integer ids (a caller's DataFrame with an int column) remembers it:
``id_type == "int"`` and :meth:`IdMap.to_external` then returns ``int64`` ids, so results merge
with the caller's own frames. Lookups accept either spelling (``7`` and ``"7"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any, Literal

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
    id_type:
        ``"str"`` (default) or ``"int"``: the type :meth:`to_external` returns. ``"int"`` needs
        every id to be an integer written in decimal.
    """

    def __init__(
        self, external_ids: Iterable[object], kind: str = "id", id_type: IdType = "str"
    ) -> None:
        ids = np.asarray([str(x) for x in external_ids], dtype=object)
        index = pd.Index(ids)
        if not index.is_unique:
            dup = index[index.duplicated()].unique()[:10].tolist()
            raise ValueError(f"IdMap for {kind} ids has duplicates: {dup}")
        if id_type not in ("str", "int"):
            raise ValueError(f"id_type must be 'str' or 'int', got {id_type!r}")
        if id_type == "int" and not _all_int_text(ids):
            raise ValueError(f"IdMap for {kind} ids: id_type='int' needs integer ids")
        self.kind = kind
        self.id_type: IdType = id_type
        self._external = ids
        self._external.setflags(write=False)
        self._index = index

    @classmethod
    def from_values(
        cls, values: Iterable[object], kind: str = "id", id_type: IdType = "str"
    ) -> IdMap:
        """Build a map from (possibly repeated) values, in order of first appearance."""
        as_text = pd.Series(list(values), dtype=object).astype(str)
        return cls(pd.unique(as_text), kind, id_type)

    def __len__(self) -> int:
        return len(self._external)

    def __contains__(self, external_id: object) -> bool:
        return str(external_id) in self._index

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, IdMap)
            and self.kind == other.kind
            and self.id_type == other.id_type
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
            values = np.asarray([str(x) for x in _as_ids(ids)], dtype=object)
            raise UnknownIdError(self.kind, pd.unique(values[~known]).tolist())
        return idx

    def to_internal_masked(
        self, ids: Sequence[object] | NDArray[np.object_] | pd.Series
    ) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        """Convert external ids to indices; unknown ids get ``-1`` and ``False`` in the mask.

        A bare ``str`` is one id (never a sequence of one-character ids).
        """
        values = np.asarray([str(x) for x in _as_ids(ids)], dtype=object)
        idx = self._index.get_indexer(values).astype(np.int64)
        return idx, idx >= 0

    def to_external(self, idx: Sequence[int] | NDArray[np.integer]) -> NDArray[Any]:
        """Convert internal indices to external ids (IndexError when out of range).

        ``str`` ids as an object array, or ``int64`` ids when ``id_type == "int"``.
        """
        arr = np.asarray(idx, dtype=np.int64)
        if arr.size and (arr.min() < 0 or arr.max() >= len(self)):
            raise IndexError(f"{self.kind} index out of range 0..{len(self) - 1}")
        if self.id_type == "int":
            return self._as_int[arr]
        return self._external[arr]

    @cached_property
    def _as_int(self) -> NDArray[np.int64]:
        return np.asarray([int(x) for x in self._external], dtype=np.int64)

    def extend(self, new_ids: Iterable[object]) -> IdMap:
        """Return a new map with unseen ids appended (existing indices are unchanged)."""
        extra = [str(x) for x in new_ids]
        extra = [x for x in pd.unique(pd.Series(extra, dtype=object)) if x not in self._index]
        ids = np.concatenate([self._external, np.asarray(extra, dtype=object)])
        # Catalogue ids that are not integers turn an int map into a str map (never a crash).
        id_type: IdType = "int" if self.id_type == "int" and _all_int_text(ids) else "str"
        return IdMap(ids, self.kind, id_type)

    def to_list(self) -> list[str]:
        return [str(x) for x in self._external]


IdType = Literal["str", "int"]


def _as_ids(ids: object) -> Iterable[object]:
    """``ids`` as an iterable of ids; a bare string (or bytes) is one id."""
    if isinstance(ids, str | bytes):
        return [ids.decode() if isinstance(ids, bytes) else ids]
    return ids  # type: ignore[return-value]


def _all_int_text(ids: NDArray[np.object_]) -> bool:
    """Whether every id is a decimal integer written without padding (``"7"``, not ``"007"``)."""
    if len(ids) == 0:
        return True
    text = pd.Series(ids, dtype=object).astype(str)
    return bool(text.str.fullmatch(r"-?(0|[1-9][0-9]*)").all())
