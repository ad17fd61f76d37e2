"""Generic tables: CSV (or TSV), Parquet and JSON-lines.

``PATH`` is either an interactions file or a directory holding ``interactions.<ext>`` and,
optionally, ``items.<ext>`` and ``users.<ext>``; ``items=`` / ``users=`` name those files
explicitly (any of the three formats, by extension) and take precedence.

* interactions: ``user_id, item_id[, timestamp][, event][, rating][, weight]`` plus any other
  columns, which are kept.
* items: ``item_id[, title, brand, model, category, price, description, image_url, in_stock]``
  plus any attribute columns.
* users: ``user_id`` plus attribute columns.

CSV cells are read as text so ids keep leading zeros (``"007"``); attribute columns of CSV
catalogues are then typed (numbers where every value is a number without leading zeros).
Row numbers in messages are data rows (header not counted) for CSV and Parquet, and line
numbers for JSON-lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from digirec.columns import (
    BRAND,
    CATEGORY,
    DESCRIPTION,
    IMAGE_URL,
    INTERACTION_COLUMNS,
    ITEM_ID,
    MODEL,
    TITLE,
    USER_ID,
)
from digirec.data.formats._common import (
    LoadRequest,
    default_name,
    iter_json_lines,
    read_delimited,
    read_optional,
    require_file,
)
from digirec.data.formats.chunked import validate_interactions_in_chunks
from digirec.data.schema import (
    OnBadRows,
    Table,
    concat_interactions,
    validate_table,
)
from digirec.data.tables import LoadReport, RawData, SkippedRow
from digirec.exceptions import SchemaError

TableKind = Literal["csv", "parquet", "jsonl"]

#: File endings of each generic kind, most usual first (used to find files in a directory).
EXTENSIONS: dict[TableKind, tuple[str, ...]] = {
    "csv": (".csv", ".tsv", ".csv.gz", ".tsv.gz"),
    "parquet": (".parquet", ".pq"),
    "jsonl": (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz"),
}

_ID_COLUMN: dict[Table, str] = {"interactions": USER_ID, "items": ITEM_ID, "users": USER_ID}
_TEXT_COLUMNS: dict[Table, tuple[str, ...]] = {
    "interactions": INTERACTION_COLUMNS,
    "items": (ITEM_ID, TITLE, BRAND, MODEL, CATEGORY, DESCRIPTION, IMAGE_URL),
    "users": (USER_ID,),
}


def kind_of(path: Path) -> TableKind | None:
    """The generic kind of a file from its name, or ``None``."""
    name = path.name.lower()
    for kind, endings in EXTENSIONS.items():
        if name.endswith(endings):
            return kind
    return None


def find_table(directory: Path, stem: str, kind: TableKind | None = None) -> Path | None:
    """``directory/<stem>.<ext>`` for the first matching extension (of ``kind`` if given)."""
    kinds: tuple[TableKind, ...] = (kind,) if kind else ("csv", "parquet", "jsonl")
    for k in kinds:
        for ending in EXTENSIONS[k]:
            candidate = directory / f"{stem}{ending}"
            if candidate.is_file():
                return candidate
    return None


def read_table(
    path: Path,
    table: Table,
    report: LoadReport,
    kind: TableKind | None = None,
    *,
    sep: str | None = None,
    encoding: str | None = None,
) -> tuple[pd.DataFrame, np.ndarray | None, list[SkippedRow]]:
    """Read one generic file into a raw frame.

    ``kind`` forces the reader; by default the file extension decides. ``sep`` / ``encoding``
    apply to CSV (default: tab for ``.tsv``, else comma; UTF-8). Returns the frame, the
    1-based row numbers of its rows (``None``: ``1..n``), and rows that could not be parsed
    at all.
    """
    kind = kind or kind_of(path)
    if kind is None:
        raise SchemaError(
            "unknown table extension (expected .csv, .tsv, .parquet or .jsonl)", file=str(path)
        )
    require_file(path)
    if kind == "csv":
        if sep is None:
            sep = "\t" if ".tsv" in path.name.lower() else ","
        # Canonical columns stay text for the validators; other columns are typed.
        return read_delimited(
            path,
            report,
            sep=sep,
            encoding=encoding or "utf-8-sig",
            infer_others=True,
            text_columns=_TEXT_COLUMNS[table],
        )
    if kind == "parquet":
        report.files.append(str(path))
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several unrelated types for bad files
            raise SchemaError(f"cannot read Parquet file: {exc}", file=str(path)) from exc
        report.n_rows_read += len(frame)
        return frame.reset_index(drop=True), None, []
    bad_lines: list[SkippedRow] = []
    numbers: list[int] = []
    records: list[dict[str, object]] = []
    for number, obj in iter_json_lines(path, report, bad_lines):
        numbers.append(number)
        records.append(obj)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    return frame, np.asarray(numbers, dtype=np.int64), bad_lines


def _validate(
    path: Path,
    table: Table,
    on_bad_rows: OnBadRows,
    report: LoadReport,
    kind: TableKind | None = None,
    *,
    sep: str | None = None,
    encoding: str | None = None,
) -> pd.DataFrame:
    """Read one generic file (see :func:`read_table`) and validate it as ``table``."""
    if table == "interactions" and kind in ("csv", "parquet"):
        # Interactions files can be tens of millions of rows: read and validate in chunks.
        return validate_interactions_in_chunks(
            path, on_bad_rows, report, kind,
            sep=sep or ("\t" if ".tsv" in path.name.lower() else ","),
            encoding=encoding or "utf-8-sig",
        )  # fmt: skip
    frame, rows, bad_lines = read_table(path, table, report, kind, sep=sep, encoding=encoding)
    if frame.empty and not len(frame.columns) and not bad_lines:
        raise SchemaError("file has no columns", file=str(path), field=_ID_COLUMN[table])
    return validate_table(
        table, frame, str(path), on_bad_rows, report, row_numbers=rows, extra_bad=bad_lines
    )


def load_generic(request: LoadRequest, kind: TableKind) -> RawData:
    """Load a generic interactions file or directory of ``kind`` (see the module docstring)."""
    path = request.path
    items: Path | None = None
    users: Path | None = None
    if path.is_dir():
        interactions_path = find_table(path, "interactions", kind)
        if interactions_path is None:
            wanted = path / f"interactions{EXTENSIONS[kind][0]}"
            raise SchemaError("interactions file not found", file=str(wanted))
        items = find_table(path, "items", kind)
        users = find_table(path, "users", kind)
    else:
        interactions_path = require_file(path)
    report = LoadReport()
    on_bad_rows = request.on_bad_rows
    sep, encoding = request.sep, request.encoding
    interactions = concat_interactions(
        # The interactions file is read as the format asked for, whatever its extension;
        # catalogue and users files go by their own extension.
        [
            _validate(
                interactions_path,
                "interactions",
                on_bad_rows,
                report,
                kind,
                sep=sep,
                encoding=encoding,
            )
        ]
    )
    return RawData(
        name=request.name or default_name(path),
        interactions=interactions,
        items=read_optional(
            request.items,
            items,
            lambda p: _validate(p, "items", on_bad_rows, report, sep=sep, encoding=encoding),
        ),
        users=read_optional(
            request.users,
            users,
            lambda p: _validate(p, "users", on_bad_rows, report, sep=sep, encoding=encoding),
        ),
        report=report,
    )
