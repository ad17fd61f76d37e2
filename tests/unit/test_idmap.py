"""IdMap: two-way conversion, unknown ids, extension."""

from __future__ import annotations

import numpy as np
import pytest

from digirec.data.idmap import IdMap
from digirec.exceptions import UnknownIdError


def test_round_trip_and_first_appearance_order() -> None:
    m = IdMap.from_values(["b", "a", "b", "c", "a"], kind="item")
    assert m.to_list() == ["b", "a", "c"]
    assert m.to_internal(["c", "b"]).tolist() == [2, 0]
    assert m.to_external([1, 2]).tolist() == ["a", "c"]


def test_ids_are_strings_so_numeric_ids_keep_their_text() -> None:
    m = IdMap(["007", "7"], kind="user")
    assert len(m) == 2
    assert m.to_internal(["007"]).tolist() == [0]
    assert m.to_internal([7]).tolist() == [1]


def test_unknown_ids_raise_with_the_ids_named() -> None:
    m = IdMap(["a", "b"], kind="user")
    with pytest.raises(UnknownIdError, match=r"unknown user id.*'zz'"):
        m.to_internal(["a", "zz"])


def test_masked_conversion_marks_unknown() -> None:
    m = IdMap(["a", "b"], kind="user")
    idx, known = m.to_internal_masked(["b", "x"])
    assert idx.tolist() == [1, -1]
    assert known.tolist() == [True, False]


def test_duplicates_rejected_and_extend_keeps_indices() -> None:
    with pytest.raises(ValueError, match="duplicates"):
        IdMap(["a", "a"])
    m = IdMap(["a", "b"], kind="item")
    m2 = m.extend(["c", "a", "d", "c"])
    assert m2.to_list() == ["a", "b", "c", "d"]
    assert m.to_list() == ["a", "b"]  # the original is frozen
    with pytest.raises(IndexError):
        m.to_external(np.array([2]))
