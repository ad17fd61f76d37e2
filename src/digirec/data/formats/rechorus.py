"""ReChorus data sets: tab-separated ``train.csv`` / ``dev.csv`` / ``test.csv``, ``item_meta.csv``.

* ``train.csv``: ``user_id<TAB>item_id<TAB>time`` with a header; ``dev.csv`` and ``test.csv``
  (optional) add ``neg_items``, the sampled negatives of the ReChorus protocol, which are not
  interactions and are ignored. The three files are read in the order train, dev, test, so a
  user's sequence continues across them; ``time`` (unix seconds) becomes ``timestamp``.
* ``item_meta.csv`` (optional): ``item_id``, ``category`` (an integer id kept as text; ``0``
  means unknown and becomes missing), ``r_complement`` (``related.also_bought``) and
  ``r_substitute`` (``related.also_viewed``) as Python-list text, which become the list columns
  ``also_bought`` and ``also_viewed`` (lists of str ids). Other ``r_*`` relation columns are
  parsed to lists under their own name; other columns are kept as they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from digirec.columns import CATEGORY, ITEM_ID, TIMESTAMP, USER_ID
from digirec.data.formats._common import (
    LoadRequest,
    first_line,
    read_delimited,
    read_optional,
    reject_option,
)
from digirec.data.schema import (
    OnBadRows,
    concat_interactions,
    parse_list_text,
    validate_table,
)
from digirec.data.tables import LoadReport, RawData, SkippedRow
from digirec.exceptions import SchemaError

SPLITS = ("train", "dev", "test")
TIME = "time"
NEG_ITEMS = "neg_items"
META_FILE = "item_meta.csv"
ALSO_BOUGHT = "also_bought"
ALSO_VIEWED = "also_viewed"
#: ReChorus relation columns -> catalogue column names of the Amazon metadata they came from.
RELATIONS = {"r_complement": ALSO_BOUGHT, "r_substitute": ALSO_VIEWED}
UNKNOWN_CATEGORY = "0"


def sniff(path: Path) -> bool:
    """Whether ``path`` is a ReChorus folder (or its ``train.csv``): tab header with ``time``."""
    train = path / "train.csv" if path.is_dir() else path
    if train.name != "train.csv" or not train.is_file():
        return False
    header = first_line(train).rstrip("\r\n").split("\t")
    return [h.strip() for h in header[:3]] == [USER_ID, ITEM_ID, TIME]


def _read_split(path: Path, on_bad_rows: OnBadRows, report: LoadReport) -> pd.DataFrame:
    frame, rows, malformed = read_delimited(path, report, sep="\t")
    frame = frame.drop(columns=[NEG_ITEMS], errors="ignore").rename(columns={TIME: TIMESTAMP})
    return validate_table(
        "interactions",
        frame,
        str(path),
        on_bad_rows,
        report,
        row_numbers=rows,
        field_names={TIMESTAMP: TIME},
        extra_bad=malformed,
    )


def read_item_meta(path: Path, on_bad_rows: OnBadRows, report: LoadReport) -> pd.DataFrame:
    """Read ``item_meta.csv`` into a validated catalogue with list-valued relation columns."""
    file = str(path)
    frame, rows, malformed = read_delimited(path, report, sep="\t")
    if ITEM_ID not in frame.columns:
        raise SchemaError("missing required column", file=file, field=ITEM_ID)
    # A relation list that does not parse makes its row bad. Those rows leave the frame here
    # and go to the shared item checks as extra bad rows, so that one place decides whether
    # to raise (for the first bad row of the file) or to record them.
    bad_lines = list(malformed)
    wrong = np.zeros(len(frame), dtype=bool)
    for column in [c for c in frame.columns if c.startswith("r_")]:
        parsed: list[list[str] | None] = []
        for pos, value in enumerate(frame[column]):
            try:
                parsed.append(parse_list_text(value))
            except ValueError:
                parsed.append(None)
                if not wrong[pos]:
                    wrong[pos] = True
                    reason = f"cannot parse {str(value)[:60]!r} as a list of item ids"
                    bad_lines.append(SkippedRow(file, int(rows[pos]), column, reason))
        frame[column] = pd.Series(parsed, index=frame.index, dtype=object)
    frame = frame.loc[~wrong].reset_index(drop=True)
    frame = frame.rename(columns=RELATIONS)
    if CATEGORY in frame.columns:
        category = frame[CATEGORY].fillna("").astype(str).str.strip()
        frame[CATEGORY] = category.where(~category.isin(["", UNKNOWN_CATEGORY]))
    return validate_table(
        "items", frame, file, on_bad_rows, report, row_numbers=rows[~wrong], extra_bad=bad_lines
    )


def load_rechorus(request: LoadRequest) -> RawData:
    """Load a ReChorus folder (see the module docstring).

    ``items=`` may name an ``item_meta.csv``-style file to use instead of the folder's one.
    """
    reject_option("rechorus", "users", request.users)
    path, on_bad_rows = request.path, request.on_bad_rows
    directory = path.parent if path.is_file() else path
    train = directory / "train.csv"
    if not train.is_file():
        raise SchemaError("ReChorus train.csv not found", file=str(train))
    report = LoadReport()
    frames = [
        _read_split(directory / f"{split}.csv", on_bad_rows, report)
        for split in SPLITS
        if (directory / f"{split}.csv").is_file()
    ]
    catalogue = read_optional(
        request.items, directory / META_FILE, lambda p: read_item_meta(p, on_bad_rows, report)
    )
    return RawData(
        name=request.name or directory.name,
        interactions=concat_interactions(frames),
        items=catalogue,
        report=report,
    )
