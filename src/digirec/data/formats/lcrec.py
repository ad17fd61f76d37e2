"""LC-Rec preprocessed Amazon data (``X.inter.json`` + ``X.item2id`` / ``X.user2id``).

Files, for a prefix ``X`` (e.g. ``Instruments``):

* ``X.inter.json``: ``{"<user_idx>": [item_idx, ...]}``, each list oldest first;
* ``X.item2id`` / ``X.user2id`` (optional): tab-separated ``original_id<TAB>idx`` lines; when
  present the original ids (ASINs, reviewerIDs) become the external ids, else the indices do;
* ``X.item.json`` (optional): ``{"<item_idx>": {"title", "description", "brand",
  "categories"}}`` becomes the catalogue.

There are no timestamps: ``timestamp`` is NaN and ``source_row`` keeps the sequence order (users
in file order, each user's items oldest first). A "row" of ``X.inter.json`` or ``X.item.json``
in messages is the 1-based position of the entry in the JSON object, and the field is the
entry's key; rows of the map files are their line numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from digirec.columns import (
    BRAND,
    CATEGORY,
    DESCRIPTION,
    ITEM_ID,
    TITLE,
    USER_ID,
)
from digirec.data.formats._common import (
    LoadRequest,
    iter_json_entries,
    read_delimited,
    read_json_object,
    read_optional,
    reject_option,
)
from digirec.data.schema import (
    BadRows,
    OnBadRows,
    concat_interactions,
    text_from_listlike,
    validate_table,
)
from digirec.data.tables import LoadReport, RawData, SkippedRow
from digirec.exceptions import SchemaError

INTER_SUFFIX = ".inter.json"
CATEGORY_PATH = "category_path"


def find_prefix(path: Path) -> tuple[Path, str]:
    """The directory and file prefix ``X`` of an LC-Rec data set given its folder or a file."""
    if path.is_file():
        if not path.name.endswith(INTER_SUFFIX):
            raise SchemaError(f"expected a *{INTER_SUFFIX} file", file=str(path))
        return path.parent, path.name[: -len(INTER_SUFFIX)]
    found = sorted(path.glob(f"*{INTER_SUFFIX}"))
    if not found:
        raise SchemaError(f"no *{INTER_SUFFIX} file in the directory", file=str(path))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise SchemaError(f"several *{INTER_SUFFIX} files ({names}); pass one", file=str(path))
    return path, found[0].name[: -len(INTER_SUFFIX)]


def sniff(path: Path) -> bool:
    """Whether ``path`` is an LC-Rec ``*.inter.json`` file or a folder holding one."""
    if path.is_file():
        return path.name.endswith(INTER_SUFFIX)
    return path.is_dir() and any(path.glob(f"*{INTER_SUFFIX}"))


def _is_index(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and value.strip().isdigit()


def read_id_map(path: Path, on_bad_rows: OnBadRows, report: LoadReport) -> dict[str, str]:
    """Read an ``original_id<TAB>idx`` map into ``{idx: original_id}``.

    Bad lines (missing id, non-integer index, an index or original id given twice) are bad rows:
    a map that is not one-to-one would silently merge or split items.
    """
    file = str(path)
    frame, rows, malformed = read_delimited(
        path, report, sep="\t", header=False, names=["original_id", "idx"]
    )
    bad = BadRows(file, len(frame), on_bad_rows, report, rows)
    bad.add(malformed)
    original = frame["original_id"].fillna("").astype(str).str.strip()
    idx = frame["idx"].fillna("").astype(str).str.strip()
    bad.flag((original == "").to_numpy(), "original_id", "missing or empty value")
    bad.flag(
        ~idx.str.fullmatch(r"\d+").to_numpy(dtype=bool),
        "idx",
        lambda v: f"cannot parse {v!r} as an integer index",
        idx,
    )
    idx = idx.str.lstrip("0").replace("", "0")
    bad.flag(idx.duplicated().to_numpy(), "idx", lambda v: f"index {v} is mapped twice", idx)
    bad.flag(
        original.duplicated().to_numpy(),
        "original_id",
        lambda v: f"{v!r} is mapped to two indices",
        original,
    )
    keep = bad.resolve()
    return dict(zip(idx[keep], original[keep], strict=True))


def _lookup(
    key: str, mapping: Mapping[str, str] | None, map_name: str, what: str
) -> tuple[str | None, str]:
    """External id for an index, or ``(None, reason)`` when the map lacks it."""
    canonical = key.strip().lstrip("0") or "0"
    if mapping is None:
        return canonical, ""
    found = mapping.get(canonical)
    if found is None:
        return None, f"{what} index {canonical} is not in {map_name}"
    return found, ""


def read_interactions(
    path: Path,
    on_bad_rows: OnBadRows,
    report: LoadReport,
    user_map: Mapping[str, str] | None,
    item_map: Mapping[str, str] | None,
    map_names: tuple[str, str],
) -> pd.DataFrame:
    """Read ``X.inter.json`` into validated interactions (one row per list element)."""
    file = str(path)
    data = read_json_object(path, report, "index")
    users: list[str] = []
    items: list[str] = []
    rows: list[int] = []
    bad: list[SkippedRow] = []
    for entry, (key, sequence) in enumerate(data.items(), start=1):
        if not isinstance(sequence, list):
            report.n_rows_read += 1
            bad.append(SkippedRow(file, entry, key, "expected a list of item indices"))
            continue
        report.n_rows_read += len(sequence)
        user, why = (
            _lookup(key, user_map, map_names[0], "user")
            if _is_index(key)
            else (None, f"cannot parse user key {key!r} as an integer index")
        )
        for position, element in enumerate(sequence, start=1):
            item, item_why = (
                _lookup(str(element), item_map, map_names[1], "item")
                if _is_index(element)
                else (None, f"cannot parse {element!r} as an integer index")
            )
            if user is None or item is None:
                reason = why if user is None else item_why
                bad.append(SkippedRow(file, entry, key, f"{reason} (list position {position})"))
                continue
            users.append(user)
            items.append(item)
            rows.append(entry)
    frame = pd.DataFrame({USER_ID: users, ITEM_ID: items}, dtype=str)
    return validate_table(
        "interactions",
        frame,
        file,
        on_bad_rows,
        report,
        row_numbers=np.asarray(rows),
        extra_bad=bad,
    )


def _categories(value: object) -> tuple[str | None, str | None]:
    """(most specific category, full path text) from a list or a comma-separated string."""
    if isinstance(value, list):
        parts = [str(p).strip() for p in value if str(p).strip()]
    elif isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
    else:
        parts = []
    if not parts:
        return None, None
    return parts[-1], " > ".join(parts)


def read_items(
    path: Path,
    on_bad_rows: OnBadRows,
    report: LoadReport,
    item_map: Mapping[str, str] | None,
    map_name: str,
) -> pd.DataFrame:
    """Read ``X.item.json`` into a validated catalogue keyed by the external item id."""
    file = str(path)
    records: list[dict[str, object]] = []
    rows: list[int] = []
    bad: list[SkippedRow] = []
    for entry, key, info in iter_json_entries(path, report, "index", bad):
        item, why = (
            _lookup(key, item_map, map_name, "item")
            if _is_index(key)
            else (None, f"cannot parse item key {key!r} as an integer index")
        )
        if item is None:
            bad.append(SkippedRow(file, entry, key, why))
            continue
        category, category_path = _categories(info.get("categories"))
        records.append(
            {
                ITEM_ID: item,
                TITLE: info.get("title"),
                BRAND: info.get("brand"),
                DESCRIPTION: text_from_listlike(info.get("description")),
                CATEGORY: category,
                CATEGORY_PATH: category_path,
            }
        )
        rows.append(entry)
    columns = [ITEM_ID, TITLE, BRAND, DESCRIPTION, CATEGORY, CATEGORY_PATH]
    frame = pd.DataFrame.from_records(records, columns=columns)
    return validate_table(
        "items", frame, file, on_bad_rows, report, row_numbers=np.asarray(rows), extra_bad=bad
    )


def load_lcrec(request: LoadRequest) -> RawData:
    """Load an LC-Rec data set (see the module docstring).

    ``items=`` may name an ``X.item.json`` file to use as the catalogue.
    """
    reject_option("lcrec", "users", request.users)
    directory, prefix = find_prefix(request.path)
    on_bad_rows = request.on_bad_rows
    report = LoadReport()
    user_map_path = directory / f"{prefix}.user2id"
    item_map_path = directory / f"{prefix}.item2id"
    user_map = read_id_map(user_map_path, on_bad_rows, report) if user_map_path.is_file() else None
    item_map = read_id_map(item_map_path, on_bad_rows, report) if item_map_path.is_file() else None
    if user_map is None or item_map is None:
        report.notes.append("no id map file for users and/or items: indices are the ids")
    interactions = read_interactions(
        directory / f"{prefix}{INTER_SUFFIX}",
        on_bad_rows,
        report,
        user_map,
        item_map,
        (user_map_path.name, item_map_path.name),
    )
    catalogue = read_optional(
        request.items,
        directory / f"{prefix}.item.json",
        lambda p: read_items(p, on_bad_rows, report, item_map, item_map_path.name),
    )
    return RawData(
        name=request.name or prefix,
        interactions=concat_interactions([interactions]),
        items=catalogue,
        report=report,
    )
