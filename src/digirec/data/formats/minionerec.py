"""MiniOneRec / D3 preprocessed Amazon data (``X.item.json`` + ``X.{train,valid,test}.csv``).

* ``X.item.json``: ``{"<item_id>": {"title", "description", "brand", "categories"}}``;
  ``description`` is Python-list text (parsed and joined with spaces; plain text is kept);
  empty strings become missing values.
* ``X.train.csv`` (optional), ``X.valid.csv``, ``X.test.csv``: comma-separated rows
  ``user_id, history_item_title, item_title, history_item_id, item_id, history_item_sid,
  item_sid``, one next-item example each: ``history_item_id`` is Python-list text, oldest
  first, at most 10 items; ``item_id`` is the next item.

Each user's sequence is rebuilt in time order from the files in the order train, valid, test
and each user's rows in file order: the first row's history followed by every row's target. A
later row whose history is not the tail of the sequence built so far (e.g. because earlier
rows are missing) still only adds its target; the report notes how many such rows there were.
Interactions have ``timestamp`` NaN and ``source_row`` giving that order (users in order of
first appearance). The raw rows go to ``extras["rows"]``: a frame with ``split``, ``user_id``,
``history`` (list of str) and ``item_id``, for next-item evaluation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from digirec.columns import BRAND, CATEGORY, DESCRIPTION, ITEM_ID, TITLE, USER_ID
from digirec.data.formats._common import (
    LoadRequest,
    iter_json_entries,
    read_delimited,
    read_optional,
    reject_option,
)
from digirec.data.schema import (
    BadRows,
    OnBadRows,
    clean_ids,
    concat_interactions,
    parse_list_text,
    text_from_listlike,
    validate_table,
)
from digirec.data.tables import LoadReport, RawData, SkippedRow
from digirec.exceptions import SchemaError

SPLITS = ("train", "valid", "test")
ITEM_SUFFIX = ".item.json"
HISTORY_ITEM_ID = "history_item_id"
SPLIT = "split"
HISTORY = "history"


def find_prefix(path: Path) -> tuple[Path, str]:
    """Folder and prefix ``X`` of a MiniOneRec data set, given the folder or one of its files."""
    directory = path.parent if path.is_file() else path
    if path.is_file():
        for suffix in (ITEM_SUFFIX, *(f".{s}.csv" for s in SPLITS)):
            if path.name.endswith(suffix):
                return directory, path.name[: -len(suffix)]
        raise SchemaError("not a MiniOneRec file (X.item.json or X.<split>.csv)", file=str(path))
    found = sorted(directory.glob(f"*{ITEM_SUFFIX}"))
    if len(found) != 1:
        what = "no" if not found else "several"
        raise SchemaError(f"{what} *{ITEM_SUFFIX} file(s) in the directory", file=str(path))
    return directory, found[0].name[: -len(ITEM_SUFFIX)]


def sniff(path: Path) -> bool:
    """Whether ``path`` holds a ``*.item.json`` and a CSV whose header has ``history_item_id``."""
    directory = path.parent if path.is_file() else path
    if not directory.is_dir() or not any(directory.glob(f"*{ITEM_SUFFIX}")):
        return False
    csvs = [path] if path.is_file() and path.suffix == ".csv" else sorted(directory.glob("*.csv"))
    for csv in csvs:
        with open(csv, encoding="utf-8-sig", errors="replace") as handle:
            if HISTORY_ITEM_ID in handle.readline():
                return True
    return False


def read_items(path: Path, on_bad_rows: OnBadRows, report: LoadReport) -> pd.DataFrame:
    """Read ``X.item.json`` into a validated catalogue (row = position of the entry)."""
    file = str(path)
    records: list[dict[str, object]] = []
    rows: list[int] = []
    bad: list[SkippedRow] = []
    for entry, key, info in iter_json_entries(path, report, "item id", bad):
        categories = info.get("categories")
        records.append(
            {
                ITEM_ID: key,
                TITLE: info.get("title"),
                BRAND: info.get("brand"),
                DESCRIPTION: text_from_listlike(info.get("description")),
                CATEGORY: text_from_listlike(categories, sep=" > "),
            }
        )
        rows.append(entry)
    frame = pd.DataFrame.from_records(
        records, columns=[ITEM_ID, TITLE, BRAND, DESCRIPTION, CATEGORY]
    )
    return validate_table(
        "items", frame, file, on_bad_rows, report, row_numbers=np.asarray(rows), extra_bad=bad
    )


def read_rows(path: Path, split: str, on_bad_rows: OnBadRows, report: LoadReport) -> pd.DataFrame:
    """Read one split CSV into checked ``(split, user_id, history, item_id)`` rows."""
    file = str(path)
    frame, rows, malformed = read_delimited(path, report)
    for column in (USER_ID, HISTORY_ITEM_ID, ITEM_ID):
        if column not in frame.columns:
            raise SchemaError("missing required column", file=file, field=column)
    checks = BadRows(file, len(frame), on_bad_rows, report, rows)
    checks.add(malformed)
    histories: list[list[str] | None] = []
    wrong = np.zeros(len(frame), dtype=bool)
    for pos, value in enumerate(frame[HISTORY_ITEM_ID]):
        try:
            history = parse_list_text(value)
        except ValueError:
            history = None
        if history is None or any(not h for h in history):
            wrong[pos] = True
        histories.append(history)
    # Ids first so that an empty user_id is reported before a bad history on the same row.
    _, empty_users = clean_ids(frame[USER_ID])
    checks.flag(empty_users, USER_ID, "missing or empty value")
    checks.flag(
        wrong,
        HISTORY_ITEM_ID,
        lambda v: f"cannot parse {str(v)[:60]!r} as a list of item ids",
        frame[HISTORY_ITEM_ID],
    )
    checked = validate_table(
        "interactions", frame[[USER_ID, ITEM_ID]], file, on_bad_rows, report, checks=checks
    )
    keep = ~checks.bad
    return pd.DataFrame(
        {
            SPLIT: split,
            USER_ID: checked[USER_ID],
            HISTORY: pd.Series([h for h, k in zip(histories, keep, strict=True) if k]),
            ITEM_ID: checked[ITEM_ID],
        }
    )


def rebuild_sequences(rows: pd.DataFrame, report: LoadReport) -> pd.DataFrame:
    """Per-user sequences from history->next rows (see the module docstring)."""
    sequences: dict[str, list[str]] = {}
    n_gaps = 0
    for user, history, target in zip(rows[USER_ID], rows[HISTORY], rows[ITEM_ID], strict=True):
        sequence = sequences.get(user)
        if sequence is None:
            sequences[user] = [*history, target]
            continue
        if history and sequence[-len(history) :] != history:
            n_gaps += 1
        sequence.append(target)
    if n_gaps:
        report.notes.append(
            f"{n_gaps} row(s) have a history that does not continue the user's sequence so far; "
            "only their targets were appended"
        )
    users = [u for u, seq in sequences.items() for _ in seq]
    items = [i for seq in sequences.values() for i in seq]
    return pd.DataFrame({USER_ID: users, ITEM_ID: items}, dtype=str)


def load_minionerec(request: LoadRequest) -> RawData:
    """Load a MiniOneRec folder (see the module docstring).

    ``items=`` may name another ``X.item.json``-style catalogue.
    """
    reject_option("minionerec", "users", request.users)
    directory, prefix = find_prefix(request.path)
    on_bad_rows = request.on_bad_rows
    report = LoadReport()
    split_files = [(s, directory / f"{prefix}.{s}.csv") for s in SPLITS]
    present = [(s, p) for s, p in split_files if p.is_file()]
    if not present:
        wanted = ", ".join(p.name for _, p in split_files)
        raise SchemaError(f"no split file found (expected one of {wanted})", file=str(directory))
    rows = pd.concat([read_rows(p, s, on_bad_rows, report) for s, p in present], ignore_index=True)
    interactions = concat_interactions([rebuild_sequences(rows, report)])
    catalogue = read_optional(
        request.items,
        directory / f"{prefix}{ITEM_SUFFIX}",
        lambda p: read_items(p, on_bad_rows, report),
    )
    return RawData(
        name=request.name or prefix,
        interactions=interactions,
        items=catalogue,
        report=report,
        extras={"rows": rows},
    )
